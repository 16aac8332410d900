import { corruption } from '../base/index.js';
import { applyConfChangeTo, decodeConfChange, EntryType, SessionTable, type ConfState, type Entry, type Snapshot } from '../replication/index.js';

/** A command of the simulated replicated key-value store (writes and compare-and-set go through the log). */
export interface KvCommand {
  client: string;
  seq: number;
  op: 'write' | 'cas';
  key: string;
  value: string;
  /** cas: the expected value (absent: the key must not exist). */
  expected?: string;
}

export interface KvApplied {
  client: string;
  seq: number;
  /** write: always true; cas: whether the comparison held. */
  ok: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeKvCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

function decodeKvCommand(data: Uint8Array): KvCommand {
  return JSON.parse(dec.decode(data)) as KvCommand;
}

/**
 * The replicated state machine the simulation drives: a string map with
 * client sessions, so a command retried by its client applies exactly once.
 * It also tracks membership as of its applied index (for snapshots).
 */
export class KvStateMachine {
  map = new Map<string, string>();
  sessions = new SessionTable(100_000);
  applied = 0;
  conf: ConfState;
  /** Commands executed (not counting duplicates answered from the session table). */
  executed = 0;
  duplicates = 0;

  constructor(conf: ConfState = { voters: [], learners: [] }) {
    this.conf = conf;
  }

  /** Applies one committed entry; returns the command's outcome (for a waiting client), if any. */
  apply(e: Entry): KvApplied | undefined {
    if (e.index !== this.applied + 1) throw new Error(`apply gap: entry ${e.index} after ${this.applied}`);
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      this.conf = applyConfChangeTo(this.conf, decodeConfChange(e.data));
      return undefined;
    }
    if (e.data.length === 0) return undefined;
    const c = decodeKvCommand(e.data);
    const seen = this.sessions.check(c.client, c.seq);
    if (seen.kind === 'duplicate') {
      this.duplicates++;
      return { client: c.client, seq: c.seq, ok: seen.response[0] === 1 };
    }
    if (seen.kind === 'stale') return undefined;
    let ok = true;
    if (c.op === 'cas') ok = this.map.get(c.key) === c.expected;
    if (ok) this.map.set(c.key, c.value);
    this.executed++;
    this.sessions.record(c.client, c.seq, new Uint8Array([ok ? 1 : 0]));
    return { client: c.client, seq: c.seq, ok };
  }

  /** Serialized state: [u32 length][JSON of the map][session table]. */
  snapshotData(): Uint8Array {
    const json = enc.encode(JSON.stringify([...this.map]));
    const sessions = this.sessions.encode();
    const out = new Uint8Array(4 + json.length + sessions.length);
    new DataView(out.buffer).setUint32(0, json.length, true);
    out.set(json, 4);
    out.set(sessions, 4 + json.length);
    return out;
  }

  static restore(snap: Snapshot): KvStateMachine {
    const sm = new KvStateMachine({ voters: [...snap.meta.conf.voters], learners: [...snap.meta.conf.learners] });
    sm.applied = snap.meta.index;
    if (snap.data.length === 0) return sm;
    if (snap.data.length < 4) throw corruption('kv snapshot', 0, 'truncated');
    const len = new DataView(snap.data.buffer, snap.data.byteOffset, snap.data.byteLength).getUint32(0, true);
    if (4 + len > snap.data.length) throw corruption('kv snapshot', 0, 'map length beyond data');
    sm.map = new Map(JSON.parse(dec.decode(snap.data.subarray(4, 4 + len))) as [string, string][]);
    sm.sessions = SessionTable.decode(snap.data.subarray(4 + len), 100_000, 'kv snapshot sessions');
    return sm;
  }
}
