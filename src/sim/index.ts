export * from './fault-fs.js';
export * from './linearizability.js';
export * from './event-queue.js';
export * from './raft-kv.js';
export * from './raft-sim.js';
