/**
 * The failover half of `npm run bench:raft`: a small simulated-time driver
 * over real `Raft` cores (bench-only; src/sim's RaftSim has no way to crash
 * the leader on demand). Everything is a pure function of the seed.
 *
 * Model (faults off, as RaftSim with `faults: false`):
 * - ticks every `tickMs` (100) per node, each node with a random phase;
 *   election 10 ticks (randomized in [10, 20)), heartbeat 1 tick, PreVote and
 *   CheckQuorum on (the core's defaults);
 * - every Raft message takes 1–10 ms (uniform, so they may reorder);
 * - a Ready that must be durable waits 1–5 ms for its fsync (MemoryRaftLog
 *   underneath; one Ready in flight per node);
 * - one client keeps one 100-byte write outstanding; client↔server hops take
 *   1–5 ms. A leader answers once the write is applied; a follower answers
 *   "not leader, try L" (the client goes to L at once) or, knowing no leader,
 *   "unavailable" (the client retries after 25 ms, etcd clientv3's backoff);
 *   a dead node refuses the connection and a dying one resets it (the client
 *   moves to the next node at once); a request unanswered for 1 s times out.
 *
 * A seed runs until a leader is elected and the client has 20 acknowledged
 * writes, waits a further uniform 0–999 ms (so the crash falls at any phase
 * of the heartbeat and tick schedules), kills the leader (no more ticks,
 * syncs or messages; in-flight messages it sent still arrive), and measures
 * simulated time from the kill to (a) the Ready in which another node
 * becomes leader and (b) the client's next acknowledged write.
 */
import { SeededRandom } from '../../src/base/index.js';
import { bootstrapLog, EntryType, MemoryRaftLog, Raft, type Message, type Ready } from '../../src/replication/index.js';
import { EventQueue } from '../../src/sim/event-queue.js';

export interface FailoverParams {
  seed: number;
  nodes: number;
  tickMs: number;
  electionTicks: number;
  /** Simulated ms to wait for the new leader and the next write before the seed counts as failed. */
  limitMs: number;
}

export interface FailoverResult {
  seed: number;
  nodes: number;
  ok: boolean;
  error?: string;
  /** Simulated ms from the start to the kill. */
  crashAt: number;
  /** Simulated ms from the kill to the new leader, and to the client's next acknowledged write. */
  electionMs: number;
  writeMs: number;
  /** Terms the election went through (new leader's term - old term). */
  terms: number;
  /** Times a node's election timer fired (it became pre-candidate or candidate) between the kill and the new leader. */
  campaigns: number;
  /** Acknowledged writes before the kill. */
  writesBefore: number;
}

const PAYLOAD_BYTES = 100;
const CLIENT_BACKOFF_MS = 25;
const CLIENT_TIMEOUT_MS = 1000;
const WARMUP_WRITES = 20;

type Reply = { kind: 'ok' } | { kind: 'redirect'; to: number } | { kind: 'unavailable' } | { kind: 'refused' };

interface Req {
  id: number;
  node: number;
  live: boolean;
}

type Ev =
  | { k: 'tick'; node: number; inc: number }
  | { k: 'msg'; m: Message }
  | { k: 'sync'; node: number; inc: number; rd: Ready }
  | { k: 'req'; req: Req }
  | { k: 'resp'; req: Req; reply: Reply }
  | { k: 'timeout'; req: Req }
  | { k: 'send'; node: number }
  | { k: 'crash' };

interface SimNode {
  index: number;
  id: string;
  raft: Raft;
  log: MemoryRaftLog;
  alive: boolean;
  inc: number;
  busy: boolean;
  /** Client requests proposed here, by request id, waiting to be applied. */
  waiting: Map<number, Req>;
}

function payload(id: number): Uint8Array {
  const b = new Uint8Array(PAYLOAD_BYTES);
  new DataView(b.buffer).setUint32(0, id);
  return b;
}

function payloadId(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

export function runFailover(p: FailoverParams): FailoverResult {
  const rnd = new SeededRandom(p.seed);
  const q = new EventQueue<Ev>();
  let now = 0;
  const ids = Array.from({ length: p.nodes }, (_, i) => `n${i + 1}`);
  const nodes: SimNode[] = ids.map((id, i) => {
    const log = new MemoryRaftLog();
    bootstrapLog(log, ids);
    const raft = new Raft({ id, storage: log, random: new SeededRandom(rnd.int(0, 0x7fffffff)), electionTicks: p.electionTicks, heartbeatTicks: 1 });
    return { index: i, id, raft, log, alive: true, inc: 0, busy: false, waiting: new Map() };
  });
  const nodeOf = (id: string): SimNode => nodes[Number(id.slice(1)) - 1]!;
  for (const n of nodes) q.push(rnd.int(1, p.tickMs), { k: 'tick', node: n.index, inc: n.inc });

  // Phase bookkeeping.
  let acked = 0;
  let crashScheduled = false;
  let crashAt = -1;
  let oldLeader: SimNode | undefined;
  let oldTerm = 0;
  let electedAt = -1;
  let newTerm = 0;
  let writeAt = -1;
  let writesBefore = 0;
  let campaigns = 0;

  // ---- the client ----
  let nextReq = 1;
  let target = rnd.int(0, p.nodes - 1);
  let current: Req | undefined;
  const clientSend = (node: number): void => {
    target = node;
    const req: Req = { id: nextReq++, node, live: true };
    current = req;
    q.push(now + rnd.int(1, 5), { k: 'req', req });
    q.push(now + CLIENT_TIMEOUT_MS, { k: 'timeout', req });
  };
  const reply = (req: Req, r: Reply): void => {
    q.push(now + rnd.int(1, 5), { k: 'resp', req, reply: r });
  };
  const onReply = (req: Req, r: Reply): void => {
    if (!req.live || current !== req) return;
    req.live = false;
    current = undefined;
    switch (r.kind) {
      case 'ok':
        acked++;
        // An answer the old leader sent just before it died proves nothing about recovery.
        if (crashAt >= 0 && writeAt < 0 && req.node !== oldLeader?.index) writeAt = now;
        if (!crashScheduled && acked >= WARMUP_WRITES) {
          crashScheduled = true;
          q.push(now + rnd.int(0, 999), { k: 'crash' });
        }
        clientSend(req.node);
        return;
      case 'redirect':
        clientSend(r.to);
        return;
      case 'unavailable':
        q.push(now + CLIENT_BACKOFF_MS, { k: 'send', node: req.node });
        return;
      case 'refused':
        clientSend((req.node + 1) % p.nodes);
        return;
    }
  };

  // ---- the nodes ----
  const sendMsg = (m: Message): void => {
    q.push(now + rnd.int(1, 10), { k: 'msg', m });
  };
  const complete = (n: SimNode, rd: Ready): void => {
    for (const m of rd.messages) sendMsg(m);
    for (const e of rd.committedEntries) {
      if (e.type !== EntryType.Normal || e.data.length !== PAYLOAD_BYTES) continue;
      const id = payloadId(e.data);
      const req = n.waiting.get(id);
      if (req) {
        n.waiting.delete(id);
        reply(req, { kind: 'ok' });
      }
    }
    n.raft.advance(rd);
  };
  const pump = (n: SimNode): void => {
    while (n.alive && !n.busy && n.raft.hasReady()) {
      const rd = n.raft.ready();
      if (rd.softState?.role === 'leader' && crashAt >= 0 && electedAt < 0 && n !== oldLeader) {
        electedAt = now;
        newTerm = n.raft.term;
      }
      if (rd.snapshot) n.log.applySnapshot(rd.snapshot);
      n.log.append(rd.entries);
      if (rd.hardState) n.log.setHardState(rd.hardState);
      if (rd.mustSync || rd.snapshot !== undefined || rd.entries.length > 0) {
        n.busy = true;
        q.push(now + rnd.int(1, 5), { k: 'sync', node: n.index, inc: n.inc, rd });
        return;
      }
      complete(n, rd);
    }
  };
  const onRequest = (req: Req): void => {
    const n = nodes[req.node]!;
    if (!n.alive) return reply(req, { kind: 'refused' });
    if (n.raft.role === 'leader') {
      const r = n.raft.propose(payload(req.id));
      if (!r.ok) return reply(req, { kind: 'unavailable' });
      n.waiting.set(req.id, req);
      pump(n);
      return;
    }
    const lead = n.raft.lead;
    if (lead !== '' && lead !== n.id) return reply(req, { kind: 'redirect', to: nodeOf(lead).index });
    return reply(req, { kind: 'unavailable' });
  };
  const crash = (): void => {
    const leader = nodes.find((n) => n.alive && n.raft.role === 'leader');
    if (!leader) {
      // Between leaders (rare at this point): try again shortly.
      q.push(now + 10, { k: 'crash' });
      return;
    }
    oldLeader = leader;
    oldTerm = leader.raft.term;
    crashAt = now;
    writesBefore = acked;
    leader.alive = false;
    leader.inc++;
    // Its connections reset: the client learns at once that its request failed.
    for (const req of leader.waiting.values()) reply(req, { kind: 'refused' });
    leader.waiting.clear();
  };

  q.push(rnd.int(0, 50), { k: 'send', node: target });
  const limit = (): number => (crashAt >= 0 ? crashAt + p.limitMs : 10 * p.limitMs);
  let error: string | undefined;
  while (q.size > 0) {
    const { time, item } = q.pop();
    now = time;
    if (now > limit()) {
      error = crashAt < 0 ? `no leader and ${WARMUP_WRITES} writes within ${10 * p.limitMs} ms` : `not recovered within ${p.limitMs} ms of the kill`;
      break;
    }
    switch (item.k) {
      case 'tick': {
        const n = nodes[item.node]!;
        if (!n.alive || n.inc !== item.inc) break;
        const before = n.raft.role;
        n.raft.tick();
        if (crashAt >= 0 && electedAt < 0 && before !== n.raft.role && (n.raft.role === 'pre-candidate' || n.raft.role === 'candidate')) campaigns++;
        q.push(now + p.tickMs, item);
        pump(n);
        break;
      }
      case 'msg': {
        const n = nodeOf(item.m.to);
        if (!n.alive) break;
        n.raft.step(item.m);
        pump(n);
        break;
      }
      case 'sync': {
        const n = nodes[item.node]!;
        if (!n.alive || n.inc !== item.inc) break;
        n.busy = false;
        complete(n, item.rd);
        pump(n);
        break;
      }
      case 'req':
        if (item.req.live) onRequest(item.req);
        break;
      case 'resp':
        onReply(item.req, item.reply);
        break;
      case 'timeout':
        if (item.req.live && current === item.req) {
          item.req.live = false;
          current = undefined;
          clientSend((item.req.node + 1) % p.nodes);
        }
        break;
      case 'send':
        if (current === undefined) clientSend(item.node);
        break;
      case 'crash':
        crash();
        break;
    }
    if (electedAt >= 0 && writeAt >= 0) break;
  }
  const ok = error === undefined && electedAt >= 0 && writeAt >= 0;
  return {
    seed: p.seed,
    nodes: p.nodes,
    ok,
    ...(ok ? {} : { error: error ?? 'event queue ran dry' }),
    crashAt,
    electionMs: electedAt - crashAt,
    writeMs: writeAt - crashAt,
    terms: newTerm - oldTerm,
    campaigns,
    writesBefore,
  };
}
