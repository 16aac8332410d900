/**
 * A tiny synchronous cluster for rule-by-rule Raft tests: each node's Ready
 * is persisted into a MemoryRaftLog, its messages delivered (through a
 * filter that can drop them), its committed entries recorded.
 */
import {
  bootstrapLog,
  MemoryRaftLog,
  Raft,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
} from '../../src/replication/index.js';
import { SeededRandom } from '../../src/base/index.js';

export interface TestNode {
  id: NodeId;
  raft: Raft;
  log: MemoryRaftLog;
  applied: Entry[];
  readStates: ReadState[];
  /** Messages this node sent (in Ready order). */
  sent: Message[];
}

export type Filter = (m: Message) => boolean;

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Returns false to drop a message. */
  filter: Filter = () => true;
  /** Messages delivered so far (after the filter). */
  delivered: Message[] = [];

  constructor(
    ids: NodeId[],
    readonly config: Partial<RaftConfig> = {},
    seed = 1,
  ) {
    let s = seed;
    for (const id of ids) this.add(id, ids, s++);
  }

  /** Adds a node; with `bootstrap` empty it starts with an empty log (a joining node). */
  add(id: NodeId, bootstrap: NodeId[], seed: number, config: Partial<RaftConfig> = {}): TestNode {
    const log = new MemoryRaftLog();
    if (bootstrap.length > 0) bootstrapLog(log, bootstrap);
    const raft = new Raft({ id, storage: log, random: new SeededRandom(seed), electionTicks: 10, heartbeatTicks: 1, ...this.config, ...config });
    const node: TestNode = { id, raft, log, applied: [], readStates: [], sent: [] };
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    return this.nodes.get(id)!;
  }

  /** Restarts a node from its log (what a crash after every sync leaves). */
  restart(id: NodeId, seed = 99): TestNode {
    const old = this.node(id);
    const raft = new Raft({ id, storage: old.log, random: new SeededRandom(seed), electionTicks: 10, heartbeatTicks: 1, ...this.config, applied: 0 });
    const node: TestNode = { id, raft, log: old.log, applied: [], readStates: [], sent: [] };
    this.nodes.set(id, node);
    return node;
  }

  /** Processes every Ready and delivers messages until nothing moves (bounded). */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const out: Message[] = [];
      for (const n of this.nodes.values()) {
        while (n.raft.hasReady()) {
          const rd = n.raft.ready();
          if (rd.snapshot) n.log.applySnapshot(rd.snapshot);
          n.log.append(rd.entries);
          if (rd.hardState) n.log.setHardState(rd.hardState);
          for (const m of rd.messages) {
            n.sent.push(m);
            out.push(m);
          }
          n.applied.push(...rd.committedEntries);
          n.readStates.push(...rd.readStates);
          n.raft.advance(rd);
        }
      }
      if (out.length === 0) return;
      for (const m of out) this.deliver(m);
    }
    throw new Error('cluster did not settle');
  }

  deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    if (!to || !this.filter(m)) return;
    this.delivered.push(m);
    to.raft.step(m);
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).raft.tick();
      this.settle();
    }
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.raft.tick();
      this.settle();
    }
  }

  /** Makes `id` leader by campaigning (pre-vote and vote delivered). */
  elect(id: NodeId): void {
    this.node(id).raft.campaign();
    this.settle();
    if (this.node(id).raft.role !== 'leader') throw new Error(`${id} did not win (role ${this.node(id).raft.role})`);
  }

  leaders(): TestNode[] {
    return [...this.nodes.values()].filter((n) => n.raft.role === 'leader');
  }

  /** Drops every message to or from `id`. */
  isolate(...ids: NodeId[]): void {
    this.filter = (m) => !ids.includes(m.from) && !ids.includes(m.to);
  }

  heal(): void {
    this.filter = () => true;
  }

  /** The data of the normal, non-empty entries a node applied, as strings. */
  appliedData(id: NodeId): string[] {
    const dec = new TextDecoder();
    return this.node(id).applied.filter((e) => e.type === 0 && e.data.length > 0).map((e) => dec.decode(e.data));
  }
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
