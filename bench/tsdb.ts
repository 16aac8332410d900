/**
 * `npm run bench:tsdb`: StrataDB's time-series store against VictoriaMetrics
 * on this machine, in one run, loopback only, on a TSBS-like "cpu-only" data
 * set (bench/lib/tsdb-data.ts).
 *
 *   npm run bench:tsdb -- [--hosts 100] [--days 1] [--variant tsbs|sensor|both] [--runs 3]
 *                         [--rounds 10] [--draws 10] [--concurrency 4] [--batch 10000]
 *                         [--queries single-groupby-1-1-1,…] [--warmup 3] [--server-warmup 30]
 *                         [--like-for-like-digits 13] [--no-vm] [--out bench/results]
 *
 * Per variant (tsbs: full-precision floats; sensor: two decimals):
 *  1. the line protocol is generated once into a temp spool file;
 *  2. per run, into fresh directories:
 *     - StrataDB in-process: parseLineProtocolColumns + store.writeColumns per batch
 *       (both timed apart), flush, compact, count check, close, bytes on disk;
 *       for tsbs once more with floats rounded to --like-for-like-digits (bytes at
 *       VictoriaMetrics' precision or finer, the rounding error measured);
 *     - VictoriaMetrics: started fresh, loaded over HTTP /write, then
 *       force_flush + force_merge until settled, count check, bytes on disk;
 *     - StrataDB server: started fresh, loaded over HTTP /v1/ts/write, count
 *       check;
 *     servers are stopped (by PID) after their load except on the last run
 *     of the first variant, whose servers answer the queries.
 * Then the queries (bench/lib/tsdb-queries.ts) over HTTP on both servers,
 * StrataDB at level 'raw' and 'auto'; and the one-year daily-average query
 * in-process. Results: markdown on stdout and bench/results/tsdb-<date>.md,
 * JSON (.json, every sample) and an SVG of the query medians (.svg).
 *
 * Both servers run on this machine with the bench client; on a small box
 * they share the cores with it and with each other's idle background work.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TsPlan, TsQuery, TsQueryResult } from '../src/tsdb/types.js';
import { dirBytes } from './lib/measure.js';
import { parseTsdbArgs, USAGE } from './lib/tsdb-config.js';
import type { TsdbBenchConfig } from './lib/tsdb-config.js';
import { FIELDS, MEASUREMENT, START_MS, SpooledBatches, endMsOf, rowsOf } from './lib/tsdb-data.js';
import type { DataSpec, SpoolInfo, Variant } from './lib/tsdb-data.js';
import { fmtCount, loadBatches } from './lib/tsdb-http.js';
import { agrees, compareAnswers, drawParams, querySpec, strataAnswer, strataQuery, vmAnswer, vmRequest } from './lib/tsdb-queries.js';
import type { Answer, QueryParams, QuerySpec } from './lib/tsdb-queries.js';
import { TARGETS, fmtBytes, fmtInt, fmtMs, markdown, median, percentile, svgChart } from './lib/tsdb-report.js';
import type { LatencyStats, QueryResult, Report, Target, VariantResult } from './lib/tsdb-report.js';
import { VM_FLAGS, killAllChildren, trackChild, startStrata, startVictoriaMetrics, vmDiskBytes, vmFlushAndMerge, vmInstalled, vmVersion } from './lib/tsdb-servers.js';
import type { ServerHandle } from './lib/tsdb-servers.js';
import { ingestInProcess, loadTsdb, sumValues, yearDailyAverage } from './lib/tsdb-strata.js';
import { runSeriesIndexBench } from './lib/series-index-bench.js';
import type { SeriesIndexResult } from './lib/series-index-bench.js';
import type { InProcessIngest, TsdbModule, YearResult } from './lib/tsdb-strata.js';
import { gitDescribe, localDate } from './lib/run-info.js';

const SCRIPT = fileURLToPath(import.meta.url);
/** The repository root: this file runs as dist/bench/tsdb.js. */
const ROOT = resolve(dirname(SCRIPT), '..', '..');
const tty = process.stderr.isTTY === true;

function status(line: string): void {
  if (tty) process.stderr.write('\r\x1b[2K');
  process.stderr.write(`${line}\n`);
}

/** A progress line that redraws in place on a terminal (every 200 ms) and prints every 10 s otherwise. */
function progressLine(label: string, total: number): (done: number) => void {
  const t0 = performance.now();
  let last = t0;
  return (done) => {
    const now = performance.now();
    if (now - last < (tty ? 200 : 10_000) && done < total) return;
    last = now;
    const rate = done / Math.max((now - t0) / 1000, 1e-9);
    const line = `  ${label}: ${fmtCount(done)} / ${fmtCount(total)} rows, ${fmtCount(Math.round(rate))} rows/s`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}${done >= total ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

// ------------------------------------------------------------------ in-process work, in a child

/**
 * The in-process measurements run in a fork of this script (fresh heap, the
 * same code as a user's process), so a store that blocks its event loop
 * cannot take the bench with it: Ctrl-C still stops the child and cleans up.
 */
const CHILD_FLAG = '--bench-tsdb-child';

type ChildTask =
  | { kind: 'ingest'; spool: SpoolInfo; dir: string; label: string; significantDigits?: number }
  | { kind: 'year'; dir: string; seed: number; repetitions: number }
  | { kind: 'index'; series: number };
type ChildReply = { ok: true; result: unknown } | { ok: false; error: string };

async function childMain(): Promise<void> {
  const task = await new Promise<ChildTask>((r) => process.once('message', (m) => r(m as ChildTask)));
  let reply: ChildReply;
  try {
    const tsdb = await loadTsdb();
    if (typeof tsdb === 'string') throw new Error(tsdb);
    if (task.kind === 'ingest') {
      const spool = SpooledBatches.fromInfo(task.spool);
      reply = { ok: true, result: await ingestInProcess(tsdb, spool, task.dir, progressLine(task.label, spool.rows), task.significantDigits) };
    } else if (task.kind === 'index') {
      reply = { ok: true, result: await runSeriesIndexBench(task.series, (m) => status(m)) };
    } else {
      reply = { ok: true, result: await yearDailyAverage(tsdb, task.dir, task.seed, task.repetitions) };
    }
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  process.send!(reply, () => process.exit(0));
}

function runChild<T>(task: ChildTask): Promise<T> {
  return new Promise((resolveRun, rejectRun) => {
    const child = fork(SCRIPT, [CHILD_FLAG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    trackChild(child);
    let reply: ChildReply | undefined;
    child.on('message', (m) => {
      reply = m as ChildReply;
    });
    child.on('error', rejectRun);
    child.on('exit', (code, signal) => {
      if (reply?.ok) resolveRun(reply.result as T);
      else rejectRun(new Error(reply ? reply.error : `child exited with ${signal ?? `code ${code}`} and no result`));
    });
    child.send(task);
  });
}

// ------------------------------------------------------------------ counts

/** Every field value VictoriaMetrics holds for the data set (count over the whole range, at its end). */
async function vmCount(vm: ServerHandle, days: number): Promise<number | undefined> {
  const end = endMsOf({ days });
  const sel = `{__name__=~"${MEASUREMENT}_(${FIELDS.join('|')})"}`;
  const qs = new URLSearchParams({ query: `sum(count_over_time(${sel}[${(end - START_MS) / 1000}s]))`, time: ((end - 1) / 1000).toFixed(3) });
  const r = await vm.client.json<{ data?: { result?: Array<{ value: [number, string] }> } }>('GET', `/api/v1/query?${qs.toString()}`);
  const v = r.value?.data?.result?.[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

/** The same through StrataDB's HTTP query route (count, all series merged, raw level). */
async function strataHttpCount(s: ServerHandle, days: number): Promise<number | undefined> {
  const q: TsQuery = { measurement: MEASUREMENT, fields: [...FIELDS], fromMs: START_MS, toMs: endMsOf({ days }), aggregate: { fn: 'count' }, groupBy: [], level: 'raw' };
  const r = await s.client.json<TsQueryResult>('POST', '/v1/ts/query', q);
  if (r.status !== 200) throw new Error(`POST /v1/ts/query answered ${r.status}: ${r.text.slice(0, 300)}`);
  return sumValues(r.value);
}

// ------------------------------------------------------------------ queries

interface Targets {
  vm: ServerHandle | undefined;
  strata: ServerHandle | undefined;
}

/** Runs one request of a target. The time ends with the last response byte; the body is parsed only when asked (warm-up). */
/** Longest query URL sent as GET /v1/ts/query?q= (the server takes request lines up to 16 KiB). */
const STRATA_GET_URL_MAX = 8192;

async function runOne(t: Target, spec: QuerySpec, p: QueryParams, servers: Targets): Promise<{ ms: number; answer: () => Answer; plan: () => TsPlan | undefined }> {
  if (t === 'vm') {
    const r = await servers.vm!.client.send('GET', vmRequest(spec, p));
    if (r.status !== 200) throw new Error(`VictoriaMetrics answered ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
    return { ms: r.ms, answer: () => vmAnswer(spec, JSON.parse(r.body.toString('utf8'))), plan: () => undefined };
  }
  const q = JSON.stringify(strataQuery(spec, p, t === 'strata-raw' ? 'raw' : 'auto'));
  // GET with the query in the URL, as VictoriaMetrics is asked; POST when the URL would be long.
  const url = `/v1/ts/query?q=${encodeURIComponent(q)}`;
  const r = url.length <= STRATA_GET_URL_MAX ? await servers.strata!.client.send('GET', url) : await servers.strata!.client.send('POST', '/v1/ts/query', q, { 'content-type': 'application/json' });
  if (r.status !== 200) throw new Error(`StrataDB answered ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
  let parsed: TsQueryResult | undefined;
  const get = () => (parsed ??= JSON.parse(r.body.toString('utf8')) as TsQueryResult);
  return { ms: r.ms, answer: () => strataAnswer(spec, get()), plan: () => get().plan };
}

/**
 * Untimed passes over every draw of every query type on every target, so
 * neither server is measured cold (a fresh process, empty caches, and for
 * StrataDB code V8 has not compiled yet). Returns the requests sent; a
 * failing request is left for the timed rounds to report.
 */
async function warmUpServers(names: readonly string[], cfg: TsdbBenchConfig, servers: Targets): Promise<number> {
  const targets = TARGETS.filter((t) => (t === 'vm' ? servers.vm !== undefined : servers.strata !== undefined));
  const work = names.map((name) => {
    const spec = querySpec(name);
    return { spec, draws: drawParams(spec, cfg.draws, cfg.hosts, cfg.days, cfg.seed) };
  });
  let requests = 0;
  for (let pass = 0; pass < cfg.serverWarmup; pass++) {
    status(`  server warm-up: pass ${pass + 1}/${cfg.serverWarmup}`);
    for (const { spec, draws } of work) {
      for (const t of targets) {
        for (const p of draws) {
          requests++;
          await runOne(t, spec, p, servers).catch(() => undefined);
        }
      }
    }
  }
  return requests;
}

async function runQueryType(name: string, cfg: TsdbBenchConfig, servers: Targets): Promise<QueryResult> {
  const spec = querySpec(name);
  const draws = drawParams(spec, cfg.draws, cfg.hosts, cfg.days, cfg.seed);
  const targets = TARGETS.filter((t) => (t === 'vm' ? servers.vm !== undefined : servers.strata !== undefined));
  const result: QueryResult = {
    name,
    description: spec.description,
    vmNote: spec.vmNote,
    draws: draws.length,
    rounds: cfg.rounds,
    stats: {},
    example: {
      ...(servers.strata ? { strata: strataQuery(spec, draws[0]!, 'auto') } : {}),
      ...(servers.vm ? { vm: vmRequest(spec, draws[0]!) } : {}),
    },
  };
  const samples = new Map<Target, number[]>(targets.map((t) => [t, []]));
  const failed = new Map<Target, string>();

  // Warm-up pass, untimed: also the answers to compare.
  const answers = new Map<Target, Answer[]>(targets.map((t) => [t, []]));
  for (const t of targets) {
    for (const [i, p] of draws.entries()) {
      try {
        const r = await runOne(t, spec, p, servers);
        answers.get(t)!.push(r.answer());
        if (i === 0 && t === 'strata-auto') result.autoPlan = r.plan();
        if (i === 0 && t === 'strata-raw') result.rawPlan = r.plan();
      } catch (err) {
        failed.set(t, errText(err));
        break;
      }
    }
  }
  const merged = (t: Target): Answer | undefined => {
    if (failed.has(t) || !answers.has(t)) return undefined;
    // Keys carry the draw index: two draws may ask the same host and window.
    const m: Answer = new Map();
    answers.get(t)!.forEach((a, i) => {
      for (const [k, v] of a) m.set(`${i}#${k}`, v);
    });
    return m;
  };
  const vmA = merged('vm');
  const rawA = merged('strata-raw');
  const autoA = merged('strata-auto');
  if (vmA && rawA) result.vmVsRaw = compareAnswers(vmA, rawA);
  if (rawA && autoA) result.rawVsAuto = compareAnswers(rawA, autoA);

  // More untimed passes, so both servers are warm (caches, and V8's JIT for StrataDB) before timing.
  for (let pass = 0; pass < cfg.warmup; pass++) {
    for (const t of targets) {
      if (failed.has(t)) continue;
      for (const p of draws) await runOne(t, spec, p, servers).catch((err: unknown) => failed.set(t, errText(err)));
    }
  }

  // Timed rounds.
  for (let round = 0; round < cfg.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const t of order) {
      if (failed.has(t)) continue;
      for (const p of draws) {
        try {
          samples.get(t)!.push((await runOne(t, spec, p, servers)).ms);
        } catch (err) {
          failed.set(t, errText(err));
          break;
        }
      }
    }
    const line = targets.map((t) => `${t} ${failed.has(t) ? 'FAILED' : `${fmtMs(median(samples.get(t)!))} ms`}`).join(', ');
    status(`  ${name.padEnd(22)} round ${round + 1}/${cfg.rounds}: median ${line}`);
  }
  for (const t of targets) {
    const xs = samples.get(t)!;
    const s: LatencyStats = { samples: xs, medianMs: median(xs), p99Ms: percentile(xs, 99) };
    const e = failed.get(t);
    if (e !== undefined) s.error = e;
    result.stats[t] = s;
  }
  for (const [label, c] of [
    ['VictoriaMetrics vs StrataDB raw', result.vmVsRaw],
    ['StrataDB raw vs auto', result.rawVsAuto],
  ] as const) {
    if (c && !agrees(c)) status(`  ${name}: ${label}: answers differ (${c.mismatched} values differ, ${c.onlyA}/${c.onlyB} only on one side; e.g. ${c.examples[0] ?? ''})`);
  }
  return result;
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  let cfg: TsdbBenchConfig;
  try {
    const parsed = parseTsdbArgs(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    cfg = parsed;
  } catch (err) {
    process.stderr.write(`${errText(err)}\n`);
    return 1;
  }
  const started = new Date();
  const skipped: string[] = [];
  const notes: string[] = [];

  if (cfg.vm && !vmInstalled(cfg.vmBin)) {
    status(`VictoriaMetrics is not installed at ${cfg.vmBin}: running StrataDB alone. Install it with \`apt-get install victoria-metrics\` (Debian/Ubuntu) or pass --vm-bin.`);
    skipped.push(`VictoriaMetrics: no binary at ${cfg.vmBin} (apt-get install victoria-metrics)`);
    cfg.vm = false;
  }
  const tsdbOrWhy = await loadTsdb();
  const tsdb: TsdbModule | undefined = typeof tsdbOrWhy === 'string' ? undefined : tsdbOrWhy;
  if (typeof tsdbOrWhy === 'string') {
    status(`StrataDB in-process: ${tsdbOrWhy}; in-process ingest, bytes on disk and the one-year query are skipped`);
    skipped.push(`StrataDB in-process ingest, bytes on disk and year-daily-avg: ${tsdbOrWhy}`);
  } else if (!tsdbOrWhy.parse) {
    status('StrataDB in-process: parseLineProtocol is exported neither by src/tsdb/index.js nor by src/tsdb/ingest/index.js; in-process ingest and bytes on disk are skipped');
    skipped.push('StrataDB in-process ingest and bytes on disk: neither src/tsdb/index.js nor src/tsdb/ingest/index.js exports parseLineProtocol');
  }

  const cpu = cpus();
  const vmv = cfg.vm ? vmVersion() : undefined;
  const git = gitDescribe(ROOT);
  const envLine =
    `${cpu[0]?.model.trim() ?? 'unknown CPU'} × ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${platform()} ${release()}, node ${process.version}; ` +
    `StrataDB ${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}${git ? ` (${git})` : ''}` +
    (vmv ? `; VictoriaMetrics ${vmv} (${VM_FLAGS.join(' ')})` : '') +
    `; client, servers and data on this machine (loopback).`;
  const rows = rowsOf(cfg);
  const dataLine =
    `Data: ${cfg.hosts} hosts × ${cfg.days} day(s) at 10 s = ${fmtInt(rows)} rows of measurement cpu (10 tags, 10 float fields) = ` +
    `${fmtInt(rows * FIELDS.length)} values, from 2016-01-01T00:00:00Z, time-major, in batches of ${fmtInt(cfg.batchLines)} lines; ` +
    `variants ${cfg.variants.join(', ')} (tsbs: full-precision random walks; sensor: the same rounded to 2 decimals); seed ${cfg.seed}; ingest runs ${cfg.runs}.`;
  status(envLine);
  status(dataLine);

  mkdirSync(cfg.dir, { recursive: true });
  const work = mkdtempSync(join(cfg.dir, 'strata-bench-tsdb-'));
  const cleanup = () => {
    killAllChildren();
    rmSync(work, { recursive: true, force: true });
  };
  const onSigint = () => {
    cleanup();
    process.stderr.write('\ninterrupted: stopped the servers and removed the temp data\n');
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  process.once('exit', killAllChildren);

  const variants: VariantResult[] = [];
  const queryVariant: Variant = cfg.variants[0]!;
  const wantHttpQueries = cfg.queries.some((q) => q !== 'year-daily-avg');
  const kept: Targets = { vm: undefined, strata: undefined };
  let strataHttpDown: string | undefined;
  const queries: QueryResult[] = [];
  let year: Report['year'];
  let seriesIndex: Report['seriesIndex'];
  try {
    for (const variant of cfg.variants) {
      const spec: DataSpec = { hosts: cfg.hosts, days: cfg.days, variant, seed: cfg.seed, batchLines: cfg.batchLines };
      const spool = SpooledBatches.create(join(work, `${variant}.lp`), spec, progressLine(`generating ${variant}`, rows));
      status(`${variant}: ${fmtInt(spool.rows)} rows, ${fmtBytes(spool.bytes)} of line protocol in ${spool.batches} batches, generated in ${(spool.generateMs / 1000).toFixed(1)} s`);
      const vr: VariantResult = {
        variant,
        rows: spool.rows,
        values: spool.rows * FIELDS.length,
        lineProtocolBytes: spool.bytes,
        generateMs: spool.generateMs,
        vm: cfg.vm ? { runs: [], disk: [] } : undefined,
        strataHttp: { runs: [], serverDirBytes: [] },
        strataInProcess: tsdb?.parse ? { runs: [] } : undefined,
        strataRounded: tsdb?.parse && variant === 'tsbs' && cfg.likeForLikeDigits > 0 ? { significantDigits: cfg.likeForLikeDigits, runs: [] } : undefined,
      };
      variants.push(vr);
      for (let run = 1; run <= cfg.runs; run++) {
        const keep = variant === queryVariant && run === cfg.runs && wantHttpQueries;
        const tag = `${variant} run ${run}/${cfg.runs}`;

        // StrataDB in-process.
        if (vr.strataInProcess && !vr.strataInProcess.error) {
          try {
            const dir = join(work, `inproc-${variant}-${run}`);
            const r = await runChild<InProcessIngest>({ kind: 'ingest', spool: spool.info(), dir, label: `StrataDB in-process ${tag}` });
            vr.strataInProcess.runs.push(r);
            status(
              `  StrataDB in-process ${tag}: parse+write ${fmtInt(Math.round(r.parseWriteValuesPerSec))} values/s, write only ${fmtInt(Math.round(r.writeValuesPerSec))} values/s; ` +
                `flush+compact ${(r.flushCompactMs / 1000).toFixed(1)} s; ${fmtBytes(r.disk.apparent)} = ${r.bytesPerValue.toFixed(3)} B/value; counted ${r.countedValues === undefined ? '?' : fmtInt(r.countedValues)} values`,
            );
          } catch (err) {
            vr.strataInProcess.error = errText(err);
            status(`  StrataDB in-process ${tag}: FAILED: ${vr.strataInProcess.error}`);
          }
        }

        // StrataDB in-process with floats rounded (bytes at VictoriaMetrics' precision or finer).
        if (vr.strataRounded && !vr.strataRounded.error) {
          const d = vr.strataRounded.significantDigits;
          try {
            const dir = join(work, `inproc-${variant}-rounded-${run}`);
            const r = await runChild<InProcessIngest>({ kind: 'ingest', spool: spool.info(), dir, label: `StrataDB in-process, ${d} digits, ${tag}`, significantDigits: d });
            vr.strataRounded.runs.push(r);
            status(
              `  StrataDB in-process ${tag}, floats rounded to ${d} significant digits: ${fmtBytes(r.disk.apparent)} = ${r.bytesPerValue.toFixed(3)} B/value; ` +
                `max relative error ${r.rounding?.maxRelError.toExponential(2) ?? '?'} over ${fmtInt(r.rounding?.valuesChecked ?? 0)} values; counted ${r.countedValues === undefined ? '?' : fmtInt(r.countedValues)} values`,
            );
          } catch (err) {
            vr.strataRounded.error = errText(err);
            status(`  StrataDB in-process ${tag}, rounded: FAILED: ${vr.strataRounded.error}`);
          }
        }

        // VictoriaMetrics.
        if (vr.vm && !vr.vm.error) {
          const dir = join(work, `vm-${variant}-${run}`);
          let vm: ServerHandle | undefined;
          try {
            vm = await startVictoriaMetrics(cfg.vmBin, dir, cfg.concurrency);
            const load = await loadBatches(vm.client, '/write', spool.read(), {
              concurrency: cfg.concurrency,
              totalRows: spool.rows,
              label: `VictoriaMetrics ${tag}`,
              okStatus: 204,
              contentType: 'text/plain; charset=utf-8',
            });
            const settle = await vmFlushAndMerge(vm);
            const disk = vmDiskBytes(dir);
            const counted = await vmCount(vm, cfg.days);
            vr.vm.runs.push({ run, rows: load.rows, ms: load.ms, rowsPerSec: load.rowsPerSec, valuesPerSec: load.rowsPerSec * FIELDS.length, countedValues: counted });
            vr.vm.disk.push({ ...disk, bytesPerValue: disk.total / vr.values, settleMs: settle.ms });
            status(
              `  VictoriaMetrics ${tag}: ${fmtInt(Math.round(load.rowsPerSec))} rows/s; flush+merge settled in ${(settle.ms / 1000).toFixed(1)} s; ` +
                `${fmtBytes(disk.total)} (data ${fmtBytes(disk.data)}, index ${fmtBytes(disk.index)}) = ${(disk.total / vr.values).toFixed(3)} B/value; counted ${counted === undefined ? '?' : fmtInt(counted)} values`,
            );
            if (keep) kept.vm = vm;
          } catch (err) {
            vr.vm.error = errText(err);
            status(`  VictoriaMetrics ${tag}: FAILED: ${vr.vm.error}`);
          } finally {
            if (vm && kept.vm !== vm) {
              await vm.stop();
              rmSync(dir, { recursive: true, force: true });
            }
          }
        }

        // StrataDB server.
        if (vr.strataHttp && !vr.strataHttp.error && strataHttpDown === undefined) {
          const dir = join(work, `strata-${variant}-${run}`);
          let s: ServerHandle | undefined;
          try {
            s = await startStrata(ROOT, dir, cfg.concurrency);
            // Is the time-series route there at all? An empty body writes nothing.
            const probe = await s.client.send('POST', '/v1/ts/write?precision=ns', '', { 'content-type': 'text/plain; charset=utf-8' });
            if (probe.status === 404 || probe.status === 405) {
              strataHttpDown = `the server has no /v1/ts/write route yet (answered ${probe.status})`;
              throw new Error(strataHttpDown);
            }
            const load = await loadBatches(s.client, '/v1/ts/write?precision=ns', spool.read(), {
              concurrency: cfg.concurrency,
              totalRows: spool.rows,
              label: `StrataDB HTTP ${tag}`,
              okStatus: 204,
              contentType: 'text/plain; charset=utf-8',
            });
            const counted = await strataHttpCount(s, cfg.days);
            vr.strataHttp.runs.push({ run, rows: load.rows, ms: load.ms, rowsPerSec: load.rowsPerSec, valuesPerSec: load.rowsPerSec * FIELDS.length, countedValues: counted });
            status(`  StrataDB HTTP ${tag}: ${fmtInt(Math.round(load.rowsPerSec))} rows/s; counted ${counted === undefined ? '?' : fmtInt(counted)} values`);
            if (keep) kept.strata = s;
          } catch (err) {
            vr.strataHttp.error = errText(err);
            status(`  StrataDB HTTP ${tag}: FAILED: ${vr.strataHttp.error}`);
          } finally {
            if (s && kept.strata !== s) {
              await s.stop();
              if (vr.strataHttp.runs.some((r) => r.run === run)) vr.strataHttp.serverDirBytes.push(dirBytes(dir).apparent);
              rmSync(dir, { recursive: true, force: true });
            }
          }
        }
      }
      rmSync(spool.path, { force: true });
    }
    if (strataHttpDown !== undefined) skipped.push(`StrataDB over HTTP (ingest and queries): ${strataHttpDown}`);

    // Queries over HTTP.
    const httpQueries = cfg.queries.filter((q) => q !== 'year-daily-avg');
    if (httpQueries.length > 0 && (kept.vm || kept.strata)) {
      if (kept.strata) {
        // Restart StrataDB on its data so it answers from data at rest (as VictoriaMetrics after its forced merge).
        const dir = kept.strata.dir;
        await kept.strata.stop();
        const loaded = variants.find((v) => v.variant === queryVariant)?.strataHttp;
        if (loaded) loaded.serverDirBytes.push(dirBytes(dir).apparent);
        const t0 = performance.now();
        kept.strata = await startStrata(ROOT, dir, 1);
        notes.push(`StrataDB was restarted on its loaded directory before the queries (graceful stop, then start: ${((performance.now() - t0) / 1000).toFixed(1)} s to listening).`);
      }
      if (cfg.serverWarmup > 0) {
        const w0 = performance.now();
        const requests = await warmUpServers(httpQueries, cfg, kept);
        notes.push(
          `Before the first timed query, every target answered ${cfg.serverWarmup} untimed pass(es) over every draw of every query type ` +
            `(${fmtInt(requests)} requests in ${((performance.now() - w0) / 1000).toFixed(1)} s): StrataDB runs on V8, whose JIT compiles the HTTP and query paths only after some hundreds of requests ` +
            '(so does this Node client, for both servers: a bare Node HTTP server answered in 0.46 ms at first and 0.09 ms after 3,000 requests); VictoriaMetrics gets the same passes.',
        );
      }
      status(`queries on variant ${queryVariant}: ${cfg.rounds} rounds × ${cfg.draws} draws per type`);
      for (const name of httpQueries) queries.push(await runQueryType(name, cfg, kept));
    } else if (httpQueries.length > 0) {
      skipped.push('HTTP queries: no server was loaded');
    }
    if (kept.vm) await kept.vm.stop();
    if (kept.strata) await kept.strata.stop();

    // One series, one year, in-process.
    if (cfg.queries.includes('year-daily-avg') && tsdb) {
      try {
        year = await runChild<YearResult>({ kind: 'year', dir: join(work, 'year'), seed: cfg.seed, repetitions: Math.max(cfg.rounds * cfg.draws, 10) });
        status(
          `  year-daily-avg: auto ${fmtMs(year.auto.medianMs)} ms, raw ${fmtMs(year.raw.medianMs)} ms; auto plan: ` +
            year.auto.plan.segments.map((s) => `${s.level} ${new Date(s.fromMs).toISOString().slice(0, 10)}..${new Date(s.toMs).toISOString().slice(0, 10)}`).join(' + '),
        );
      } catch (err) {
        year = { error: errText(err) };
        status(`  year-daily-avg: FAILED: ${year.error}`);
      }
    }
    // The series index at scale, in-process.
    if (cfg.indexSeries > 0) {
      try {
        seriesIndex = await runChild<SeriesIndexResult>({ kind: 'index', series: cfg.indexSeries });
        status(`  series index: ${seriesIndex.series.toLocaleString()} series, reopen ${fmtMs(seriesIndex.reopenMs)} ms, selections ${seriesIndex.selections.map((x) => `${fmtMs(x.medianMs)} ms`).join(', ')}`);
      } catch (err) {
        seriesIndex = { error: errText(err) };
        status(`  series index: FAILED: ${seriesIndex.error}`);
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigint);
    cleanup();
  }

  notes.push(
    'Ingest rates are wall clock from the first request to the last answer; VictoriaMetrics answers /write once rows are buffered in memory ' +
      '(they become durable in ≤ 1 s), StrataDB once the write is in its log (periodic fsync, the server default). In-process rates time ' +
      'parseLineProtocolColumns and store.writeColumns (the path of the servers\' line-protocol routes) separately per batch in one pass (write only = the store.writeColumns time).',
  );
  if (cfg.runs === 1) notes.push('Ingest figures come from one load per database and variant (--runs 1); the default, --runs 3, reports medians.');
  notes.push(
    `VictoriaMetrics ran with ${VM_FLAGS.join(' ')}: 100 years of retention because the data is from 2016, no response cache so repeated ` +
      'rounds are not served from it. Every range query also passes nocache=1.',
  );

  const date = localDate(started);
  const report: Report = {
    date,
    envLine,
    dataLine,
    variants,
    queryVariant: queries.length > 0 ? queryVariant : undefined,
    queries,
    year,
    seriesIndex,
    warmup: cfg.warmup,
    skipped,
    notes,
  };
  const md = markdown(report, cfg.concurrency);
  process.stdout.write(`\n${md}`);
  const outDir = resolve(cfg.out);
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `tsdb-${date}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      {
        benchmark: 'tsdb',
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        command: `node dist/bench/tsdb.js ${process.argv.slice(2).join(' ')}`.trim(),
        config: { ...cfg, out: outDir },
        environment: { node: process.version, cpu: cpu[0]?.model.trim(), cores: cpu.length, totalMemoryBytes: totalmem(), platform: `${platform()} ${release()}`, git, victoriaMetrics: vmv, vmFlags: VM_FLAGS },
        ...report,
      },
      null,
      2,
    ) + '\n',
  );
  if (queries.length > 0 || (year && !('error' in year))) {
    const subtitle = `${cfg.hosts} hosts × ${cfg.days} day(s), variant ${queryVariant}, ${cfg.rounds} rounds × ${cfg.draws} draws; ${cpu[0]?.model.trim() ?? ''} × ${cpu.length}, ${date}`;
    writeFileSync(`${base}.svg`, svgChart(report, 'Time-series queries: median latency (TSBS-like cpu-only)', subtitle));
  }
  status(`wrote ${base}.md, .json${queries.length > 0 || year ? ' and .svg' : ''}`);
  const failedCounts = variants.some(
    (v) =>
      [...(v.vm?.runs ?? []), ...(v.strataHttp?.runs ?? [])].some((r) => r.countedValues !== undefined && r.countedValues !== v.values) ||
      (v.strataInProcess?.runs ?? []).some((r) => r.countedValues !== undefined && r.countedValues !== v.values),
  );
  return failedCounts ? 2 : 0;
}

if (process.argv.includes(CHILD_FLAG)) {
  await childMain();
} else {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      killAllChildren();
      if (tty) process.stderr.write('\n');
      console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exitCode = 1;
    },
  );
}
