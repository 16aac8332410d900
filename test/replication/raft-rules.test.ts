/**
 * One test per Raft rule, each on a small synchronous cluster where the
 * test decides which messages arrive (see raft-harness.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfChangeType, encodeConfChange, MessageType, SessionTable, type Message } from '../../src/replication/index.js';
import { TestCluster, bytes } from './raft-harness.js';

test('elects one leader; everyone learns it; the empty entry of its term commits', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  assert.equal(c.leaders().length, 1);
  for (const n of c.nodes.values()) assert.equal(n.raft.lead, 'a');
  const term = c.node('a').raft.term;
  // The bootstrap entries (3) plus the leader's empty entry are committed everywhere.
  for (const n of c.nodes.values()) assert.equal(n.raft.log.committed, 4);
  assert.equal(c.node('b').log.term(4), term);
});

test('election timeout starts an election only after [e, 2e) ticks of silence', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.tick('a', 9);
  assert.equal(c.node('a').raft.role, 'follower');
  c.tick('a', 11);
  assert.equal(c.node('a').raft.role, 'leader');
});

test('a node grants one vote per term, and only to a log at least as up to date', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
  c.elect('a');
  c.isolate('c');
  c.node('a').raft.propose(bytes('x'));
  c.settle(); // c misses 'x'
  // c (shorter log) campaigns; a is gone: b must refuse.
  c.filter = (m) => m.from !== 'a' && m.to !== 'a';
  c.node('c').raft.campaign();
  c.settle();
  assert.equal(c.node('c').raft.role, 'candidate');
  const answers = c.delivered.filter((m) => m.type === MessageType.VoteResp && m.to === 'c');
  assert.equal(answers.length, 1);
  assert.ok(answers[0]!.reject);
  // b, with the longer log, wins the next term; c votes for it; a vote once given in a term is kept.
  c.node('b').raft.campaign();
  c.settle();
  assert.equal(c.node('b').raft.role, 'leader');
  assert.equal(c.node('c').raft.vote, 'b');
  const term = c.node('b').raft.term;
  // A request from a in the same term, even with a longer log, is refused: c voted already.
  c.node('c').raft.step({ ...answers[0]!, type: MessageType.Vote, from: 'a', to: 'c', term, index: 100, logTerm: 100, reject: false });
  c.settle();
  const second = c.node('c').sent.filter((m) => m.type === MessageType.VoteResp && m.to === 'a' && m.term === term);
  assert.equal(second.length, 1);
  assert.ok(second[0]!.reject, 'c already voted for b in this term');
});

test('an entry of an earlier term on a majority is not committed until one of the current term is (Figure 8)', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false, maxSizePerMsg: 1 });
  c.elect('a');
  // a appends X in its term; nobody receives it.
  c.filter = () => false;
  c.node('a').raft.propose(bytes('X'));
  c.settle();
  const x = c.node('a').raft.log.lastIndex();
  // b leads the next term with c's vote; its empty entry reaches nobody.
  c.filter = (m) => m.type === MessageType.Vote || m.type === MessageType.VoteResp ? m.from !== 'a' && m.to !== 'a' : false;
  c.elect('b');
  assert.equal(c.node('b').log.term(x), c.node('b').raft.term);
  // a restarts and comes back in a newer term (its log, ending in X, is as up to date as c's) and copies X to c,
  // but the message carrying its own-term entry is lost.
  c.filter = (m) => {
    if (m.type === MessageType.App) m.entries = m.entries.filter((e) => e.index <= x);
    return (m.from === 'a' || m.to === 'a') && m.from !== 'b' && m.to !== 'b';
  };
  c.restart('a');
  c.node('a').raft.campaign(); // term 3: c already voted for b in it
  c.settle();
  c.elect('a'); // term 4
  c.tickAll(3);
  assert.equal(c.node('c').log.term(x), c.node('a').log.term(x), 'X is on a majority (a, c)');
  assert.ok(c.node('a').raft.log.committed < x, 'but it is of an earlier term: not committed by counting');
  // b could still win (its last entry has a newer term than X) and overwrite X: that is why.
  assert.ok(c.node('b').raft.log.isUpToDate(c.node('c').log.lastIndex(), c.node('c').log.term(c.node('c').log.lastIndex())!) === false);
  // Once a's current-term entry reaches c, both commit.
  c.filter = (m) => m.from !== 'b' && m.to !== 'b';
  c.tickAll(2);
  assert.ok(c.node('a').raft.log.committed > x);
  assert.ok(c.appliedData('c').includes('X'));
});

test('a stale leader cannot commit, steps down on hearing the new term, and its entry is overwritten', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('a');
  c.node('a').raft.propose(bytes('lost'));
  c.settle();
  const staleCommit = c.node('a').raft.log.committed;
  // b and c elect a new leader after their election timeout.
  c.tickAll(25);
  const newLeader = c.leaders().find((n) => n.id !== 'a');
  assert.ok(newLeader, 'b or c leads');
  assert.equal(c.node('a').raft.log.committed, staleCommit, 'the isolated leader committed nothing');
  newLeader.raft.propose(bytes('kept'));
  c.settle();
  c.heal();
  c.tickAll(3);
  assert.notEqual(c.node('a').raft.role, 'leader');
  assert.ok(!c.appliedData('a').includes('lost'));
  assert.ok(c.appliedData('a').includes('kept'));
});

test('CheckQuorum: a partitioned leader steps down within an election timeout', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('a');
  c.tick('a', 10);
  assert.equal(c.node('a').raft.role, 'leader', 'still leader: first check passes on earlier acks');
  c.tick('a', 10);
  assert.equal(c.node('a').raft.role, 'follower');
});

test('PreVote: a rejoining partitioned node does not raise the term or disrupt the leader', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const term = c.node('a').raft.term;
  c.isolate('c');
  c.tick('c', 50); // c keeps pre-campaigning, alone
  assert.equal(c.node('c').raft.term, term, 'pre-votes do not bump the term');
  c.heal();
  c.tickAll(3);
  assert.equal(c.node('a').raft.role, 'leader');
  assert.equal(c.node('a').raft.term, term);
});

test('without PreVote the same node disrupts the cluster (the control for the test above)', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
  c.elect('a');
  const term = c.node('a').raft.term;
  c.isolate('c');
  c.tick('c', 50);
  assert.ok(c.node('c').raft.term > term);
  c.heal();
  c.tickAll(25);
  assert.ok(c.node('a').raft.term > term, 'the leader was forced into a new term');
});

test('ReadIndex waits for a heartbeat round, then answers with the commit index', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.filter = () => false;
  c.node('a').raft.readIndex(bytes('r1'));
  c.settle();
  assert.equal(c.node('a').readStates.length, 0, 'no answer before a quorum confirms leadership');
  c.heal();
  c.node('a').raft.readIndex(bytes('r2'));
  c.settle();
  // r2's round confirms leadership for r1 too (it was asked earlier).
  const got = c.node('a').readStates.map((r) => new TextDecoder().decode(r.context));
  assert.deepEqual(got, ['r1', 'r2']);
  assert.equal(c.node('a').readStates[0]!.index, c.node('a').raft.log.committed);
});

test('ReadIndex on a new leader waits until an entry of its term commits', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  // Nothing from a gets out: its empty entry cannot commit.
  c.filter = (m) => !(m.from === 'a' && m.type === MessageType.App);
  c.elect('a');
  c.node('a').raft.readIndex(bytes('early'));
  c.tickAll(1);
  assert.equal(c.node('a').readStates.length, 0);
  c.heal();
  c.tickAll(1);
  assert.equal(c.node('a').readStates.length, 1);
  assert.equal(c.node('a').log.term(c.node('a').readStates[0]!.index), c.node('a').raft.term);
});

test('a follower forwards ReadIndex and proposals to the leader', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  assert.deepEqual(c.node('b').raft.propose(bytes('from-b')), { ok: true, forwarded: true });
  c.node('c').raft.readIndex(bytes('rc'));
  c.settle();
  for (const id of ['a', 'b', 'c']) assert.ok(c.appliedData(id).includes('from-b'));
  assert.equal(c.node('c').readStates.length, 1);
  // The read reached the leader before 'from-b' committed: its read point is the commit index then.
  assert.equal(c.node('c').readStates[0]!.index, 4);
  // With no leader known, a follower refuses rather than queueing forever.
  const lone = new TestCluster(['x', 'y', 'z']);
  assert.deepEqual(lone.node('x').raft.propose(bytes('p')), { ok: false, reason: 'no-leader' });
});

test('lease reads answer at once while the lease holds, and not after it lapses', () => {
  const c = new TestCluster(['a', 'b', 'c'], { readOnly: 'lease' });
  c.elect('a');
  c.tick('a', 1); // one heartbeat round acknowledged
  const before = c.delivered.length;
  c.filter = () => false; // from now on nothing is delivered
  c.node('a').raft.readIndex(bytes('l1'));
  c.settle();
  assert.equal(c.node('a').readStates.length, 1, 'answered from the lease, with no messages');
  assert.equal(c.delivered.length, before);
  c.tick('a', 9);
  c.node('a').raft.readIndex(bytes('l2'));
  c.settle();
  assert.equal(c.node('a').readStates.length, 1, 'the lease lapsed: l2 waits for a heartbeat round');
});

test('replication pipelines up to maxInflightMsgs appends, then waits', () => {
  const c = new TestCluster(['a', 'b', 'c'], { maxInflightMsgs: 3, maxSizePerMsg: 1 });
  c.elect('a');
  c.filter = (m) => m.type !== MessageType.AppResp; // acknowledgements are lost
  c.delivered = [];
  for (let i = 0; i < 10; i++) c.node('a').raft.propose(bytes(`e${i}`));
  c.settle();
  const apps = c.delivered.filter((m) => m.type === MessageType.App && m.to === 'b' && m.entries.length > 0);
  assert.equal(apps.length, 3, 'three appends in flight, no more');
  c.heal();
  c.tickAll(2);
  assert.equal(c.appliedData('b').length, 10);
});

test('fast backtracking: a follower with a long divergent tail is repaired in a few round trips', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
  c.elect('b');
  // b, isolated, appends 50 entries nobody else gets.
  c.isolate('b');
  for (let i = 0; i < 50; i++) c.node('b').raft.propose(bytes(`stale${i}`));
  c.settle();
  // a becomes leader of a newer term and writes 50 entries of its own.
  c.filter = (m) => m.from !== 'b' && m.to !== 'b';
  c.tick('a', 20);
  assert.equal(c.node('a').raft.role, 'leader');
  for (let i = 0; i < 50; i++) c.node('a').raft.propose(bytes(`good${i}`));
  c.settle();
  // c takes over: its view of b starts at the end of its log, 50 entries past where b diverges.
  c.tick('c', 25);
  assert.equal(c.node('c').raft.role, 'leader');
  c.heal();
  c.delivered = [];
  c.tickAll(2);
  const rejects = c.delivered.filter((m) => m.type === MessageType.AppResp && m.from === 'b' && m.reject);
  assert.ok(rejects.length >= 1 && rejects.length <= 2, `repaired with ${rejects.length} rejections`);
  assert.equal(c.appliedData('b').filter((d) => d.startsWith('stale')).length, 0);
  assert.equal(c.appliedData('b').filter((d) => d.startsWith('good')).length, 50);
});

test('a follower behind the compacted log gets the snapshot in chunks', () => {
  const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 10 });
  c.elect('a');
  c.isolate('c');
  for (let i = 0; i < 20; i++) c.node('a').raft.propose(bytes(`v${i}`));
  c.settle();
  const a = c.node('a');
  const applied = a.raft.log.applied;
  const state = bytes('the state machine as of applied, 45 bytes long');
  a.log.createSnapshot(applied, { voters: ['a', 'b', 'c'], learners: [] }, state);
  c.heal();
  c.tickAll(3);
  const chunks = c.delivered.filter((m) => m.type === MessageType.Snap && m.to === 'c');
  assert.equal(chunks.length, Math.ceil(state.length / 10));
  assert.deepEqual(c.node('c').log.snapshot().data, state);
  assert.equal(c.node('c').raft.log.committed, a.raft.log.committed);
  // With nothing newer to send, the leader replicates to c at once (it used to wait in probe for the next proposal).
  assert.equal(a.raft.progress().get('c')?.state, 'replicate');
  assert.equal(a.raft.progress().get('c')?.match, applied);
});

test('a lost snapshot chunk is resent after an election timeout of silence', () => {
  const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 8 });
  c.elect('a');
  c.isolate('c');
  for (let i = 0; i < 5; i++) c.node('a').raft.propose(bytes(`v${i}`));
  c.settle();
  c.node('a').log.createSnapshot(c.node('a').raft.log.applied, { voters: ['a', 'b', 'c'], learners: [] }, bytes('0123456789abcdefghij'));
  let dropped = false;
  c.filter = (m) => {
    if (m.type === MessageType.Snap && m.snapshot!.offset === 8 && !dropped) return !(dropped = true);
    return true;
  };
  c.tickAll(15);
  assert.ok(dropped);
  assert.deepEqual(new TextDecoder().decode(c.node('c').log.snapshot().data), '0123456789abcdefghij');
});

test('membership: add a learner, catch it up, promote it, then remove a voter', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.node('a').raft.propose(bytes('before-d'));
  c.settle();
  c.add('d', [], 7);
  const addLearner = c.node('a').raft.propose(encodeConfChange({ type: ConfChangeType.AddLearner, node: 'd' }), { type: ConfChangeType.AddLearner, node: 'd' });
  assert.ok(addLearner.ok);
  // A second change waits for the first to commit.
  assert.deepEqual(c.node('a').raft.propose(encodeConfChange({ type: ConfChangeType.AddVoter, node: 'd' }), { type: ConfChangeType.AddVoter, node: 'd' }), { ok: false, reason: 'conf-change-pending' });
  c.settle();
  c.tickAll(2);
  assert.deepEqual(c.node('a').raft.confState(), { voters: ['a', 'b', 'c'], learners: ['d'] });
  assert.ok(c.appliedData('d').includes('before-d'), 'the learner caught up');
  // A learner never campaigns.
  c.tick('d', 50);
  assert.equal(c.node('d').raft.role, 'follower');
  assert.ok(c.node('a').raft.propose(encodeConfChange({ type: ConfChangeType.AddVoter, node: 'd' }), { type: ConfChangeType.AddVoter, node: 'd' }).ok);
  c.settle();
  assert.deepEqual(c.node('d').raft.confState().voters, ['a', 'b', 'c', 'd']);
  assert.ok(c.node('a').raft.propose(encodeConfChange({ type: ConfChangeType.RemoveNode, node: 'b' }), { type: ConfChangeType.RemoveNode, node: 'b' }).ok);
  c.settle();
  assert.deepEqual(c.node('a').raft.confState(), { voters: ['a', 'c', 'd'], learners: [] });
  // b is gone: a, c, d still commit.
  c.isolate('b');
  c.node('a').raft.propose(bytes('after-b'));
  c.settle();
  assert.ok(c.appliedData('d').includes('after-b'));
});

test('the leader removing itself steps down once the change commits', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.node('a').raft.propose(encodeConfChange({ type: ConfChangeType.RemoveNode, node: 'a' }), { type: ConfChangeType.RemoveNode, node: 'a' });
  c.settle();
  assert.equal(c.node('a').raft.role, 'follower');
  c.tickAll(25);
  const l = c.leaders();
  assert.equal(l.length, 1);
  assert.notEqual(l[0]!.id, 'a');
});

test('leadership transfer: the target catches up, campaigns at once, and wins', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.filter = (m) => m.to !== 'c';
  for (let i = 0; i < 5; i++) c.node('a').raft.propose(bytes(`t${i}`));
  c.settle();
  c.heal();
  c.node('b').raft.transferLeader('c'); // asked on a follower: forwarded
  c.settle();
  assert.equal(c.node('c').raft.role, 'leader');
  assert.equal(c.appliedData('c').length, 5);
  const timeoutNow = c.delivered.filter((m: Message) => m.type === MessageType.TimeoutNow);
  assert.equal(timeoutNow.length, 1);
  // While a transfer is in progress the leader refuses proposals.
  const d = new TestCluster(['a', 'b', 'c']);
  d.elect('a');
  d.filter = () => false;
  d.node('a').raft.transferLeader('b');
  assert.deepEqual(d.node('a').raft.propose(bytes('x')), { ok: false, reason: 'transferring' });
});

test('persistence ordering: nothing counts, and no answer leaves, before the Ready holding it is persisted', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const a = c.node('a').raft;
  a.propose(bytes('p'));
  const rd = a.ready();
  assert.equal(rd.entries.length, 1);
  assert.ok(rd.mustSync);
  const commitBefore = a.log.committed;
  const app = rd.messages.find((m) => m.to === 'b' && m.type === MessageType.App)!;
  // b's acknowledgement leaves only in the Ready that persists the entry.
  const b = c.node('b').raft;
  b.step(app);
  const brd = b.ready();
  assert.deepEqual(brd.entries.map((e) => e.index), [rd.entries[0]!.index]);
  assert.ok(brd.mustSync);
  const resp = brd.messages.find((m) => m.type === MessageType.AppResp)!;
  assert.equal(resp.index, rd.entries[0]!.index);
  // b (durable) alone is not a quorum of three: a's own copy counts only after a persisted it.
  a.step(resp);
  assert.equal(a.log.committed, commitBefore);
  c.node('a').log.append(rd.entries);
  a.advance(rd);
  assert.equal(a.log.committed, rd.entries[0]!.index);
});

test('a restarted node recovers term, vote, membership and log from storage', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.node('a').raft.propose(bytes('durable'));
  c.settle();
  const term = c.node('b').raft.term;
  const n = c.restart('b');
  assert.equal(n.raft.term, term);
  assert.deepEqual(n.raft.confState(), { voters: ['a', 'b', 'c'], learners: [] });
  c.settle();
  c.tickAll(2);
  assert.ok(c.appliedData('b').includes('durable'));
});

test('client sessions: a retried command applies once and gets the first response', () => {
  const t = new SessionTable(2);
  assert.deepEqual(t.check('c1', 1), { kind: 'new' });
  t.record('c1', 1, bytes('first'));
  assert.deepEqual(t.check('c1', 1), { kind: 'duplicate', response: bytes('first') });
  assert.deepEqual(t.check('c1', 0), { kind: 'stale' });
  assert.deepEqual(t.check('c1', 2), { kind: 'new' });
  t.record('c2', 1, bytes('x'));
  t.record('c3', 1, bytes('y')); // evicts c1 (least recently used)
  assert.equal(t.size, 2);
  assert.deepEqual(t.check('c1', 1), { kind: 'new' });
  const round = SessionTable.decode(t.encode(), 2);
  assert.deepEqual(round.check('c3', 1), { kind: 'duplicate', response: bytes('y') });
});

test('commitBroadcast lazy: no empty append per commit; followers learn the commit with the next append or tick', () => {
  const appsAfter = (c: TestCluster, from: number): Message[] => c.delivered.slice(from).filter((m) => m.type === MessageType.App && m.from === 'a');
  for (const mode of ['eager', 'lazy'] as const) {
    const c = new TestCluster(['a', 'b', 'c'], { commitBroadcast: mode });
    c.elect('a');
    c.tickAll(2);
    const at = c.delivered.length;
    assert.ok(c.node('a').raft.propose(bytes('x')).ok);
    c.settle();
    const leaderCommit = c.node('a').raft.log.committed;
    assert.equal(c.appliedData('a').at(-1), 'x', `${mode}: the leader applies at once`);
    const apps = appsAfter(c, at);
    if (mode === 'eager') {
      // One append with the entry, then an empty one with the new commit index, to each follower.
      assert.equal(apps.length, 4);
      assert.equal(c.appliedData('b').at(-1), 'x');
      continue;
    }
    assert.equal(apps.length, 2, 'lazy: only the appends carrying the entry');
    assert.ok(c.node('b').raft.log.committed < leaderCommit, 'lazy: followers have not heard the commit yet');
    // The next proposal's append carries it.
    assert.ok(c.node('a').raft.propose(bytes('y')).ok);
    c.settle();
    assert.equal(c.appliedData('b').at(-1), 'x');
    assert.equal(c.appliedData('c').at(-1), 'x');
    // With nothing more proposed, the next tick of the leader tells them about y.
    assert.equal(c.node('b').raft.log.committed < c.node('a').raft.log.committed, true);
    c.tick('a');
    assert.equal(c.appliedData('b').at(-1), 'y');
    assert.equal(c.appliedData('c').at(-1), 'y');
  }
});
