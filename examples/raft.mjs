// Three Raft cores in one process, each with a durable log in ./raft-<id>,
// over an in-memory "network": elect a leader, replicate, apply.
import { raft, NodeFs, SeededRandom } from 'stratadb';

const ids = ['n1', 'n2', 'n3'];
const fs = new NodeFs();
const network = []; // messages in flight
const nodes = ids.map((id, i) => {
  const log = raft.DiskRaftLog.open(fs, `./raft-${id}`);
  raft.bootstrapLog(log, ids); // the first members; a no-op once the log has entries
  const core = new raft.Raft({ id, storage: log, random: new SeededRandom(i + 1) });
  return { id, log, core, applied: [] };
});

// Carry out every Ready: persist, sync, send, apply, advance.
async function drive(node) {
  while (node.core.hasReady()) {
    const rd = node.core.ready();
    if (rd.snapshot) node.log.applySnapshot(rd.snapshot);
    node.log.append(rd.entries);
    if (rd.hardState) node.log.setHardState(rd.hardState);
    await node.log.sync(); // nothing leaves this node before it is durable
    network.push(...rd.messages);
    for (const e of rd.committedEntries) {
      if (e.type === raft.EntryType.Normal && e.data.length > 0) node.applied.push(new TextDecoder().decode(e.data));
    }
    node.core.advance(rd);
  }
}

async function step() {
  for (const n of nodes) await drive(n);
  while (network.length > 0) {
    const m = network.shift();
    nodes.find((n) => n.id === m.to).core.step(m);
    for (const n of nodes) await drive(n);
  }
}

let leader;
while (!(leader = nodes.find((n) => n.core.role === 'leader'))) {
  for (const n of nodes) n.core.tick(); // a real node ticks every 100 ms
  await step();
}
console.log(`leader: ${leader.id}`);
leader.core.propose(new TextEncoder().encode('hello'));
nodes[0].core.propose(new TextEncoder().encode('world')); // on a follower: forwarded to the leader
await step();
for (const n of nodes) await step(); // followers learn the commit index
for (const n of nodes) n.core.tick();
await step();
for (const n of nodes) console.log(`${n.id} applied: ${n.applied.join(' ')}`);
for (const n of nodes) n.log.close();
