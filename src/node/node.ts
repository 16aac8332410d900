import { readFileSync } from 'node:fs';
import type { StrataConfig } from './config.js';
import { ClusterKvService, ClusterNode } from '../cluster/index.js';
import type { ClusterNodeOptions } from '../cluster/index.js';
import { LocalKvService } from '../engine/index.js';
import { NodeFs, joinPath } from '../base/index.js';
import type { Clock, Fs } from '../base/index.js';
import { LocalDirObjectStore, TimeSeriesStore } from '../tsdb/index.js';

/** Engine options both of a node's engines take from the storage section. */
function engineOptionsOf(config: StrataConfig) {
  const s = config.storage;
  return {
    writeBufferSize: s.writeBufferBytes,
    blockCacheSize: s.blockCacheBytes,
    compression: s.compression,
    syncIntervalMs: s.syncMode === 'periodic' ? s.syncIntervalMs : 0,
  };
}

/**
 * Opens the node's storage from its configuration: today one local engine
 * behind the KeyValueService (a single node is a cluster of one; DESIGN.md
 * principle 3). The cluster work later hosts shard replicas here.
 */
export async function openNodeStorage(config: StrataConfig, options: { fs?: Fs; clock?: Clock } = {}): Promise<LocalKvService> {
  const s = config.storage;
  return LocalKvService.open({
    dir: s.dataDir,
    ...(options.fs !== undefined ? { fs: options.fs } : {}),
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    syncWrites: s.syncMode === 'always',
    engine: {
      ...engineOptionsOf(config),
      // Stored values carry the expiry header (at most 7 bytes) in front of the client's value.
      maxValueSize: config.limits.valueBytesMax + 16,
      maxKeySize: config.limits.keyBytesMax,
    },
  });
}

/** The time-series store's engine directory inside the data directory. */
export const TSDB_DIR_NAME = 'tsdb';
/** The default cold tier directory inside the data directory (tsdb.coldDir ""). */
export const TSDB_COLD_DIR_NAME = 'tsdb-cold';

/** Where a node keeps its time-series files: the store's engine and the cold tier. */
export function tsdbPaths(config: StrataConfig): { dir: string; coldDir: string } {
  const dataDir = config.storage.dataDir;
  return {
    dir: joinPath(dataDir, TSDB_DIR_NAME),
    coldDir: config.tsdb.coldDir !== '' ? config.tsdb.coldDir : joinPath(dataDir, TSDB_COLD_DIR_NAME),
  };
}

/**
 * Opens the node's time-series database (config section tsdb) in its own
 * engine at `<dataDir>/tsdb`. The key-value engine uses dataDir itself as
 * its directory, which is safe to share: an engine only lists, keeps and
 * deletes files whose names it generates (CURRENT, LOCK, VALUE-FORMAT,
 * MANIFEST-n, n.log, n.sst, n.dbtmp; see engine/filenames.ts) and ignores
 * every other entry, so the `tsdb` and `tsdb-cold` subdirectories are left
 * alone. Durability follows storage.syncMode as the key-value engine's does;
 * the write buffer and compression come from the storage section too; its
 * block cache is tsdb.blockCacheBytes.
 */
export async function openNodeTsdb(config: StrataConfig, options: { fs?: Fs; clock?: Clock } = {}): Promise<TimeSeriesStore> {
  const s = config.storage;
  const t = config.tsdb;
  const fs = options.fs ?? new NodeFs();
  const { dir, coldDir } = tsdbPaths(config);
  return TimeSeriesStore.open({
    dir,
    fs,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    syncWrites: s.syncMode === 'always',
    engine: {
      ...engineOptionsOf(config),
      blockCacheSize: t.blockCacheBytes,
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
    },
    chunkWindowMs: t.chunkWindowMs,
    maxHeadRows: t.maxHeadRows,
    maxHeadRowsTotal: t.maxHeadRowsTotal,
    acceptPastMs: t.acceptPastMs,
    acceptFutureMs: t.acceptFutureMs,
    coldAfterMs: t.coldAfterMs,
    objectStore: new LocalDirObjectStore(coldDir, fs),
    deflateChunks: t.deflateChunks,
    decodedCacheBytes: t.decodedCacheBytes,
  });
}

/**
 * Starts this node's cluster membership (config section cluster): the peer
 * transport, the meta replica and the shard replicas the shard map gives
 * it, each shard replica with its own engine under
 * `<dataDir>/cluster/shards/<keyspace>-<shard>/`. The node's block cache and
 * write buffer budgets (storage.*) are split across the shards it may host.
 */
/** The smallest memtable a shard replica gets, whatever the node's write buffer budget split over its replicas. */
export const MIN_REPLICA_WRITE_BUFFER = 2 * 1024 * 1024;

export async function openClusterNode(
  config: StrataConfig,
  options: { fs?: Fs; log?: ClusterNodeOptions['log']; seed?: number } = {},
): Promise<ClusterNode & { service: ClusterKvService }> {
  const c = config.cluster;
  const engine = engineOptionsOf(config);
  // Replicas a node may host when the shards are spread evenly (at least one).
  const perNode = Math.max(1, Math.ceil((c.shards * c.replicationFactor) / Math.max(c.bootstrapExpect, c.replicationFactor)));
  const tls = c.tls.enabled ? { cert: readFileSync(c.tls.certFile), key: readFileSync(c.tls.keyFile), ca: readFileSync(c.tls.caFile) } : undefined;
  const node = await ClusterNode.start({
    nodeId: c.nodeId,
    clusterId: c.clusterId,
    dataDir: config.storage.dataDir,
    ...(options.fs !== undefined ? { fs: options.fs } : {}),
    peerHost: config.server.host,
    peerPort: c.peerPort,
    advertiseHost: c.advertiseHost !== '' ? c.advertiseHost : config.server.host,
    join: c.join,
    bootstrapExpect: c.bootstrapExpect,
    shards: c.shards,
    replicationFactor: c.replicationFactor,
    datacenter: c.datacenter,
    rack: c.rack,
    tickMs: c.tickMs,
    electionTicks: c.electionTicks,
    heartbeatTicks: c.heartbeatTicks,
    heartbeatMs: c.heartbeatMs,
    nodeTimeoutMs: c.nodeTimeoutMs,
    requestTimeoutMs: c.requestTimeoutMs,
    faultInjection: c.faultInjection,
    snapshotEntries: c.snapshotEntries,
    maxMoves: c.maxMoves,
    maxMovesPerNode: c.maxMovesPerNode,
    deadNodeMs: c.deadNodeMs,
    snapshotBytesPerSec: c.snapshotBytesPerSec,
    engine: {
      // Whole KiB: budgets split across replicas stay round numbers. A memtable of at least 2 MiB per replica: split
      // over 16 replicas, the default 4 MiB left 256 KiB each, and flushes that small made compaction rewrite every
      // byte ~20 times (16 KiB values: 242 writes/s, write amplification 20; with 2 MiB: 336 writes/s, 8).
      writeBufferSize: Math.max(MIN_REPLICA_WRITE_BUFFER, Math.floor(engine.writeBufferSize / perNode / 1024) * 1024),
      blockCacheSize: Math.floor(engine.blockCacheSize / perNode / 1024) * 1024,
      compression: engine.compression,
      maxValueSize: config.limits.valueBytesMax + 16,
      maxKeySize: config.limits.keyBytesMax,
    },
    ...(tls !== undefined ? { tls } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
  return Object.assign(node, { service: new ClusterKvService(node) });
}
