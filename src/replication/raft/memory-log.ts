import { assert } from '../../base/index.js';
import { emptyHardState, type RaftLogStore } from './storage.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/**
 * A `RaftLogStore` in memory, for tests and tools. `sync` makes nothing
 * more durable than it already is; crash behaviour is modelled by running
 * `DiskRaftLog` over a fault-injecting Fs instead.
 */
export class MemoryRaftLog implements RaftLogStore {
  private hs: HardState = emptyHardState();
  private snap: Snapshot = { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) };
  /** ents[0] is a dummy at the snapshot's index/term. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];

  constructor(conf?: ConfState) {
    if (conf) this.snap.meta.conf = { voters: [...conf.voters], learners: [...conf.learners] };
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hs }, confState: this.snap.meta.conf };
  }
  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }
  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }
  term(index: number): number | undefined {
    const off = this.ents[0]!.index;
    if (index < off || index > this.lastIndex()) return undefined;
    return this.ents[index - off]!.term;
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.ents[0]!.index;
    assert(lo > off && hi <= this.lastIndex() + 1 && lo <= hi, `entries [${lo}, ${hi}) outside (${off}, ${this.lastIndex()}]`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - off]!;
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }
  snapshot(): Snapshot {
    return this.snap;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const off = this.ents[0]!.index;
    const first = entries[0]!.index;
    assert(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    let skip = 0;
    // Entries at or before the snapshot are already covered by it.
    while (skip < entries.length && entries[skip]!.index <= off) skip++;
    if (skip === entries.length) return;
    const start = entries[skip]!.index;
    this.ents.length = start - off;
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i]!);
  }
  setHardState(hs: HardState): void {
    this.hs = { ...hs };
  }
  applySnapshot(snap: Snapshot): void {
    this.snap = snap;
    this.ents = [{ term: snap.meta.term, index: snap.meta.index, type: 0, data: new Uint8Array(0) }];
  }
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): void {
    const off = this.ents[0]!.index;
    assert(index > off && index <= this.lastIndex(), `snapshot index ${index} outside (${off}, ${this.lastIndex()}]`);
    const term = this.ents[index - off]!.term;
    this.snap = { meta: { index, term, conf: { voters: [...conf.voters], learners: [...conf.learners] } }, data };
    this.ents = [{ term, index, type: 0, data: new Uint8Array(0) }, ...this.ents.slice(index - off + 1)];
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {}
}
