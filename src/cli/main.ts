#!/usr/bin/env node
/**
 * The `strata` command: `serve` runs a node (RESP, HTTP, gRPC); `kv` and
 * `ts` are clients of a running node (keys; time series); `hash-password`
 * and `new-token` make credentials for the config; `db stats|compact` work
 * offline on a data directory; `demo` shows the embedded engine.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { DB, isStrataError, open } from '../index.js';
import { ProgressLine, formatBytes } from './progress.js';
import { registerClusterCommands } from './cluster-commands.js';
import { registerServerCommands } from './server-commands.js';
import { registerTsCommands } from './ts-commands.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

async function withDb<T>(dir: string, fn: (db: DB) => Promise<T>): Promise<T> {
  // A server data directory stores expiring values; the offline tools read either layout.
  const db = await open(dir, { expiringValues: DB.storesExpiringValues(dir) });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

function printStats(db: DB): void {
  const s = db.stats();
  console.log('level  files       bytes');
  for (const l of s.levels) if (l.files > 0) console.log(`L${l.level}`.padEnd(7) + String(l.files).padStart(5) + formatBytes(l.bytes).padStart(12));
  console.log(`memtable ${formatBytes(s.memtableBytes)} (${s.memtableEntries} entries), sequence ${s.sequence}`);
  console.log(`block cache ${formatBytes(s.blockCache.usageBytes)}/${formatBytes(s.blockCache.capacityBytes)}, hits ${s.blockCache.hits}, misses ${s.blockCache.misses}`);
  console.log(`bloom checks ${s.bloom.checks}, negatives ${s.bloom.negatives}, false positives ${s.bloom.falsePositives}`);
  console.log(`compactions ${s.compaction.count}, read ${formatBytes(s.compaction.bytesRead)}, written ${formatBytes(s.compaction.bytesWritten)}`);
  console.log(`write amplification ${s.writeAmplification.toFixed(2)}, stalls ${s.stalls.stops}, slowdowns ${s.stalls.slowdowns}`);
}

const program = new Command();
program.name('strata').description('StrataDB: an LSM-tree database').version(pkg.version, '-v, --version');

program
  .command('version')
  .description('print the version')
  .action(() => console.log(pkg.version));

program
  .command('demo')
  .description('write, read and scan a sample data set in an embedded database')
  .option('-d, --data-dir <dir>', 'database directory', './demo-data')
  .option('-n, --count <n>', 'keys to write', '100000')
  .action(async (o: { dataDir: string; count: string }) => {
    const n = Number(o.count);
    if (!Number.isInteger(n) || n <= 0) throw new Error('--count must be a positive integer');
    await withDb(o.dataDir, async (db) => {
      const progress = new ProgressLine('demo');
      let t = performance.now();
      const batchSize = 1000;
      for (let i = 0; i < n; i += batchSize) {
        const batch = db.batch();
        for (let j = i; j < Math.min(n, i + batchSize); j++) batch.put(`user:${String(j).padStart(8, '0')}`, JSON.stringify({ id: j, name: `user ${j}` }));
        await db.write(batch);
        progress.update(`writing ${Math.min(n, i + batchSize)}/${n}`);
      }
      progress.done(`wrote ${n} keys in ${((performance.now() - t) / 1000).toFixed(2)} s`);
      t = performance.now();
      let found = 0;
      for (let i = 0; i < n; i++) if (db.getSync(`user:${String((i * 7919) % n).padStart(8, '0')}`) !== undefined) found++;
      console.log(`read ${found}/${n} random keys in ${((performance.now() - t) / 1000).toFixed(2)} s`);
      console.log('first three keys under "user:0000":');
      for await (const [k, v] of db.iterator<string, string>({ prefix: 'user:0000', limit: 3, keyEncoding: 'utf8', valueEncoding: 'utf8' })) {
        console.log(`  ${k} = ${v}`);
      }
      await db.flush();
      printStats(db);
      console.log(`data is in ${o.dataDir}; inspect it with: strata db stats -d ${o.dataDir}`);
    });
  });

const dbCommands = program.command('db').description('offline tools on a data directory (the server must be stopped: the directory is locked)');

dbCommands
  .command('stats')
  .description('print levels, cache and compaction statistics')
  .option('-d, --data-dir <dir>', 'database directory', './data')
  .action(async (o: { dataDir: string }) => {
    await withDb(o.dataDir, async (db) => printStats(db));
  });

dbCommands
  .command('compact')
  .description('compact a key range (default: everything), showing progress')
  .option('-d, --data-dir <dir>', 'database directory', './data')
  .option('--start <key>', 'first key')
  .option('--end <key>', 'last key')
  .action(async (o: { dataDir: string; start?: string; end?: string }) => {
    await withDb(o.dataDir, async (db) => {
      const progress = new ProgressLine('compact');
      const before = db.stats();
      const total = before.levels.reduce((s, l) => s + l.bytes, 0);
      const timer = setInterval(() => {
        const s = db.stats();
        progress.update(`${s.compaction.count - before.compaction.count} compactions, ${formatBytes(s.compaction.bytesRead - before.compaction.bytesRead)} of ~${formatBytes(total)} merged`);
      }, 200);
      try {
        await db.compactRange(o.start, o.end);
      } finally {
        clearInterval(timer);
      }
      progress.done('compaction finished');
      printStats(db);
    });
  });

registerServerCommands(program);
registerClusterCommands(program);
registerTsCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isStrataError(err)) console.error(`error ${err.code}: ${err.message}`);
  else console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
