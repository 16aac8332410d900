import { invalidArgument } from '../../base/index.js';
import type { RaftLogStore } from './storage.js';
import { ConfChangeType, EntryType, type ConfChange, type ConfState, type NodeId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A ConfChange entry's data: one type byte, then the node id in UTF-8. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const id = encoder.encode(cc.node);
  const out = new Uint8Array(1 + id.length);
  out[0] = cc.type;
  out.set(id, 1);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 2 || data[0]! > ConfChangeType.RemoveNode) throw invalidArgument('malformed membership change entry');
  return { type: data[0] as ConfChangeType, node: decoder.decode(data.subarray(1)) };
}

/** The membership after `cc` (a pure function; the input is not changed). */
export function applyConfChangeTo(conf: ConfState, cc: ConfChange): ConfState {
  const voters = conf.voters.filter((v) => v !== cc.node);
  const learners = conf.learners.filter((v) => v !== cc.node);
  if (cc.type === ConfChangeType.AddVoter) voters.push(cc.node);
  else if (cc.type === ConfChangeType.AddLearner) {
    // Demoting a voter to learner is not a single-server step the core allows.
    if (conf.voters.includes(cc.node)) voters.push(cc.node);
    else learners.push(cc.node);
  }
  voters.sort();
  learners.sort();
  return { voters, learners };
}

/**
 * Writes a brand-new cluster's first entries into an empty log: one AddVoter
 * per initial member, committed (as etcd bootstraps). Every initial member
 * bootstraps with the same list; a node joining later starts empty and
 * learns the membership from the leader. No-op when the log is not empty.
 */
export function bootstrapLog(store: RaftLogStore, voters: readonly NodeId[]): boolean {
  if (store.lastIndex() > 0 || store.initialState().hardState.term > 0) return false;
  const sorted = [...voters].sort();
  store.append(sorted.map((node, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.AddVoter, node }) })));
  store.setHardState({ term: 1, vote: '', commit: sorted.length });
  return true;
}
