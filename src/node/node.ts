import type { StrataConfig } from './config.js';
import { LocalKvService } from './local-kv-service.js';
import type { Clock, Fs } from '../base/index.js';

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
      writeBufferSize: s.writeBufferBytes,
      blockCacheSize: s.blockCacheBytes,
      compression: s.compression,
      syncIntervalMs: s.syncMode === 'periodic' ? s.syncIntervalMs : 0,
      // Stored values carry the expiry header (at most 7 bytes) in front of the client's value.
      maxValueSize: config.limits.valueBytesMax + 16,
      maxKeySize: config.limits.keyBytesMax,
    },
  });
}
