/**
 * `npm run jepsen`: the long Jepsen-style run. Several normal runs (kill -9,
 * pause and partition faults; linearizable reads) and one positive control
 * (readers on READONLY connections during partitions), each against a fresh
 * 3-node cluster. Prints a summary table; writes each run's history as JSON
 * lines to test/jepsen/results/<date>-<seed>.jsonl (and the checker's
 * explanation of any anomaly next to it). Exits non-zero when a normal run
 * has an anomaly (or a lost write, or an undecided key), or when the control
 * is not caught.
 *
 * Settings (flags override the environment):
 *   JEPSEN_RUNS / --runs n                 normal runs (default 3)
 *   JEPSEN_DURATION_MS / --duration-ms ms  client time per run (default 60000)
 *   JEPSEN_SEED / --seed n                 first run's seed (run i uses seed + i; default: from the clock)
 *   JEPSEN_KEYS / --keys n                 keys (default 200)
 *   JEPSEN_CLIENTS / --clients n           clients (default 10)
 *   JEPSEN_FAULTS / --faults list          fault kinds of the normal runs (default kill,pause,partition;
 *                                          membership grows the cluster by two nodes and shrinks it back,
 *                                          split splits a random shard in two by hash range)
 *   JEPSEN_SERVER_ARGS                     more `strata serve` arguments, space separated
 *                                          (e.g. "--set cluster.snapshotEntries=100" to exercise snapshots)
 *   --no-control                           skip the positive control
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJepsen } from './harness.js';
import type { FaultKind, JepsenResult } from './harness.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** test/jepsen/results in the source tree (this file runs from dist/test/jepsen). */
const RESULTS = resolve(HERE, '../../../test/jepsen/results');

function setting(flag: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(flag);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} / ${env} must be a non-negative integer, got ${raw}`);
  return n;
}

const runs = setting('--runs', 'JEPSEN_RUNS', 3);
const durationMs = setting('--duration-ms', 'JEPSEN_DURATION_MS', 60_000);
const baseSeed = setting('--seed', 'JEPSEN_SEED', Date.now() % 1_000_000_007);
const keys = setting('--keys', 'JEPSEN_KEYS', 200);
const clients = setting('--clients', 'JEPSEN_CLIENTS', 10);
const control = !process.argv.includes('--no-control');
const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'membership', 'split'];
const faultsArg = (() => {
  const i = process.argv.indexOf('--faults');
  const raw = i >= 0 ? process.argv[i + 1] : process.env.JEPSEN_FAULTS;
  if (raw === undefined || raw === '') return ['kill', 'pause', 'partition'] as FaultKind[];
  const list = raw.split(',').map((f) => f.trim());
  for (const f of list) if (!FAULT_KINDS.includes(f as FaultKind)) throw new Error(`--faults / JEPSEN_FAULTS: unknown fault ${f} (kinds: ${FAULT_KINDS.join(', ')})`);
  return list as FaultKind[];
})();
const serverArgs = (process.env.JEPSEN_SERVER_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);

interface Row {
  name: string;
  control: boolean;
  r: JepsenResult;
  passed: boolean;
}

const log = (line: string) => console.log(line);

async function one(name: string, seed: number, isControl: boolean): Promise<Row> {
  const baseDir = mkdtempSync(join(tmpdir(), `strata-jepsen-${seed}-`));
  const faults: FaultKind[] = isControl ? ['partition'] : faultsArg;
  const file = join(RESULTS, `${stamp}-${seed}${isControl ? '-control' : ''}.jsonl`);
  console.log(`\n=== ${name} (seed ${seed}; rerun with JEPSEN_SEED=${isControl ? seed - runs : seed}) ===`);
  const r = await runJepsen({
    seed,
    nodes: 3,
    keys,
    clients,
    durationMs: isControl ? Math.min(durationMs, 20_000) : durationMs,
    faults,
    staleReads: isControl,
    baseDir,
    log,
    shards: 4,
    historyFile: file,
    serverArgs,
  }).catch((err: unknown) => {
    console.log(`run aborted; data directories kept in ${baseDir}`);
    throw err;
  });
  const s = r.stats;
  const clean = s.anomalies.length === 0 && s.undecided.length === 0 && s.lostWrites.length === 0 && s.finalUnread.length === 0;
  const passed = isControl ? s.anomalies.length > 0 : clean;
  console.log(`history: ${file}`);
  if (r.reports.length > 0) {
    const text = r.reports.join('\n\n');
    const reportFile = file.replace(/\.jsonl$/, '.violations.txt');
    writeFileSync(reportFile, text + '\n');
    const lines = text.split('\n');
    console.log(lines.slice(0, 60).join('\n') + (lines.length > 60 ? `\n... (${lines.length - 60} more lines in ${reportFile})` : ''));
  }
  if (passed) rmSync(baseDir, { recursive: true, force: true });
  else console.log(`data directories kept in ${baseDir}`);
  console.log(isControl ? (passed ? 'control: stale reads flagged, as they must be' : 'CONTROL NOT CAUGHT: the checker did not flag stale reads') : passed ? 'PASS' : 'FAIL');
  return { name, control: isControl, r, passed };
}

async function main(): Promise<number> {
  mkdirSync(RESULTS, { recursive: true });
  if (serverArgs.length > 0) console.log(`strata serve arguments: ${serverArgs.join(' ')}`);
  const rows: Row[] = [];
  for (let i = 0; i < runs; i++) rows.push(await one(`run ${i + 1}/${runs}`, baseSeed + i, false));
  if (control) rows.push(await one('positive control (READONLY stale reads)', baseSeed + runs, true));

  const head = ['run', 'seed', 'ops', 'ok', 'fail', 'info', 'kill', 'pause', 'part', 'anomalies', 'lost', 'check s', 'result'];
  const table = rows.map((row) => {
    const s = row.r.stats;
    return [
      row.control ? 'control' : row.name.replace('run ', ''),
      String(s.seed),
      String(s.ops),
      String(s.ok),
      String(s.fail),
      String(s.info),
      String(s.faultCounts.kill),
      String(s.faultCounts.pause),
      String(s.faultCounts.partition),
      String(s.anomalies.length) + (s.undecided.length > 0 ? ` (+${s.undecided.length} undecided)` : ''),
      String(s.lostWrites.length + s.finalUnread.length),
      (s.checkMs / 1000).toFixed(2),
      row.passed ? (row.control ? 'caught' : 'ok') : row.control ? 'NOT CAUGHT' : 'FAIL',
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...table.map((t) => t[c]!.length)));
  const fmt = (cells: string[]) => cells.map((x, c) => x.padStart(widths[c]!)).join('  ');
  console.log('\n' + fmt(head));
  for (const t of table) console.log(fmt(t));
  const failed = rows.filter((r) => !r.passed);
  console.log(failed.length === 0 ? `\njepsen: all runs linearizable${control ? '; control caught' : ''}` : `\njepsen: ${failed.length} run(s) failed: ${failed.map((r) => r.name).join(', ')}`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
