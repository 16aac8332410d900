export * from './wire.js';
export * from './peer-transport.js';
export * from './kv-command.js';
export * from './meta.js';
export * from './raft-group.js';
export * from './shard-replica.js';
export * from './cluster-node.js';
export * from './cluster-kv-service.js';
