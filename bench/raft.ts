/**
 * `npm run bench:raft`: the Raft core's throughput (in memory and on the
 * real disk, 3 and 5 nodes, K proposals in flight) and its failover time
 * (simulated: kill the leader, time to a new leader and to the next write).
 * Prints a markdown report and writes it, JSON and an SVG (failover-time
 * histograms) to bench/results/raft-<date>.*.
 *
 *   npm run bench:raft -- [--entries 200000] [--disk-entries 20000] [--runs 3]
 *                         [--seeds 50] [--inflight 1,16,256] [--out bench/results]
 *                         [--nodes 3,5] [--disk-runs R] [--disk-max-seconds 8]
 *                         [--phases memory,disk,failover]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { runThroughput, type ThroughputResult } from './lib/raft-cluster.js';
import { runFailover, type FailoverResult } from './lib/raft-failover.js';
import { ETCD_QUOTE, markdown, summarizeFailover, summarizeThroughput, svgFailover } from './lib/raft-report.js';

const PHASES = ['memory', 'disk', 'failover'] as const;
type Phase = (typeof PHASES)[number];

interface Flags {
  entries: number;
  diskEntries: number;
  runs: number;
  /** Disk runs per configuration (default: --runs). */
  diskRuns: number;
  seeds: number;
  inflight: number[];
  nodes: number[];
  diskMaxSeconds: number;
  phases: Phase[];
  out: string;
}

const USAGE =
  'usage: npm run bench:raft -- [--entries N] [--disk-entries N] [--runs R] [--seeds S] [--inflight 1,16,256] [--out DIR]\n' +
  '                             [--nodes 3,5] [--disk-runs R] [--disk-max-seconds T] [--phases memory,disk,failover]\n' +
  '  disk runs use the smallest and the largest --inflight value; a disk run stops after --disk-max-seconds (default 8).';

function parseFlags(argv: string[]): Flags {
  const f: Flags = {
    entries: 200_000,
    diskEntries: 20_000,
    runs: 3,
    diskRuns: 0,
    seeds: 50,
    inflight: [1, 16, 256],
    nodes: [3, 5],
    diskMaxSeconds: 8,
    phases: [...PHASES],
    out: 'bench/results',
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    if (name === '--help' || name === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${name} needs a value\n${USAGE}`);
    i++;
    const int = (s: string = v): number => {
      const n = Number(s);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer (got ${s})`);
      return n;
    };
    const ints = (): number[] => v.split(',').map((s) => int(s));
    if (name === '--entries') f.entries = int();
    else if (name === '--disk-entries') f.diskEntries = int();
    else if (name === '--runs') f.runs = int();
    else if (name === '--disk-runs') f.diskRuns = int();
    else if (name === '--seeds') f.seeds = int();
    else if (name === '--inflight') f.inflight = ints();
    else if (name === '--nodes') f.nodes = ints();
    else if (name === '--disk-max-seconds') {
      f.diskMaxSeconds = Number(v);
      if (!(f.diskMaxSeconds > 0)) throw new Error('--disk-max-seconds must be positive');
    } else if (name === '--phases') {
      const ps = v.split(',');
      for (const p of ps) if (!(PHASES as readonly string[]).includes(p)) throw new Error(`unknown phase ${p} (${PHASES.join(', ')})`);
      f.phases = ps as Phase[];
    } else if (name === '--out') f.out = v;
    else throw new Error(`unknown flag ${name}\n${USAGE}`);
  }
  if (f.diskRuns === 0) f.diskRuns = f.runs;
  return f;
}

const TICK_MS = 100;
const ELECTION_TICKS = 10;
const tty = process.stderr.isTTY === true;
const fmtInt = (n: number) => n.toLocaleString('en-US');

function status(line: string, final = false): void {
  if (tty) process.stderr.write(`\r\x1b[2K${line}`);
  else if (final) process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2));
  const t0 = process.hrtime.bigint();
  const elapsed = () => (Number(process.hrtime.bigint() - t0) / 1e9).toFixed(0);
  const cpu = cpus();
  const envLine =
    `node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ` +
    `${process.platform}; disk runs in ${tmpdir()}; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}.`;
  console.error(envLine);

  // ---- 1. in memory ----
  const memory: ThroughputResult[] = [];
  if (f.phases.includes('memory')) {
    // Warm-up (untimed, not reported): lets V8 optimise the core before the first timed run.
    for (const nodes of f.nodes) {
      for (const k of [...new Set([Math.min(...f.inflight), Math.max(...f.inflight)])]) {
        const n = Math.min(f.entries, k === 1 ? 10_000 : 50_000);
        await runThroughput({ nodes, inflight: k, entries: n, storage: 'memory', maxSeconds: Infinity, seed: 7, progress: (done) => status(`[${elapsed()}s] warm-up ${nodes} nodes K=${k}  ${fmtInt(done)} / ${fmtInt(n)}`) });
      }
    }
    for (let run = 1; run <= f.runs; run++) {
      for (const nodes of f.nodes) {
        for (const k of f.inflight) {
          const label = `[${elapsed()}s] memory  ${nodes} nodes K=${String(k).padEnd(3)} run ${run}/${f.runs}`;
          const r = await runThroughput({
            nodes,
            inflight: k,
            entries: f.entries,
            storage: 'memory',
            maxSeconds: Infinity,
            seed: run * 1000 + nodes * 10 + k,
            progress: (done) => status(`${label}  ${fmtInt(done).padStart(9)} / ${fmtInt(f.entries)} committed`),
          });
          memory.push(r);
          status(`${label}  ${fmtInt(Math.round(r.commitsPerSec))} commits/s`, true);
        }
      }
    }
  }

  // ---- 3. failover (simulated; cheap, so before the disk) ----
  const failover: FailoverResult[] = [];
  if (f.phases.includes('failover')) {
    for (const nodes of f.nodes) {
      for (let s = 1; s <= f.seeds; s++) {
        status(`[${elapsed()}s] failover ${nodes} nodes seed ${s}/${f.seeds}`);
        failover.push(runFailover({ seed: s, nodes, tickMs: TICK_MS, electionTicks: ELECTION_TICKS, limitMs: 60_000 }));
      }
      const ok = failover.filter((r) => r.nodes === nodes && r.ok).length;
      status(`[${elapsed()}s] failover ${nodes} nodes: ${ok}/${f.seeds} seeds recovered`, true);
    }
  }

  // ---- 2. on disk ----
  const disk: ThroughputResult[] = [];
  if (f.phases.includes('disk')) {
    const ks = [...new Set([Math.min(...f.inflight), Math.max(...f.inflight)])];
    for (let run = 1; run <= f.diskRuns; run++) {
      for (const nodes of f.nodes) {
        for (const k of ks) {
          const label = `[${elapsed()}s] disk    ${nodes} nodes K=${String(k).padEnd(3)} run ${run}/${f.diskRuns}`;
          const r = await runThroughput({
            nodes,
            inflight: k,
            entries: f.diskEntries,
            storage: 'disk',
            maxSeconds: f.diskMaxSeconds,
            seed: run * 1000 + nodes * 10 + k,
            progress: (done) => status(`${label}  ${fmtInt(done).padStart(9)} / ${fmtInt(f.diskEntries)} committed`),
          });
          disk.push(r);
          status(`${label}  ${fmtInt(Math.round(r.commitsPerSec))} commits/s, ${(r.syncedEntries / Math.max(1, r.syncs)).toFixed(1)} entries/fsync${r.capped ? ` (capped at ${fmtInt(r.committed)})` : ''}`, true);
        }
      }
    }
  }
  if (tty) process.stderr.write('\r\x1b[2K');

  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const date = new Date().toISOString().slice(0, 10);
  const memSummary = summarizeThroughput(memory);
  const diskSummary = summarizeThroughput(disk);
  const foSummary = summarizeFailover(failover);
  const md = markdown({
    date,
    envLine,
    flags: { entries: f.entries, diskEntries: f.diskEntries, runs: f.runs, seeds: f.seeds, inflight: f.inflight, nodes: f.nodes, diskMaxSeconds: f.diskMaxSeconds, diskRuns: f.diskRuns },
    tickMs: TICK_MS,
    electionTicks: ELECTION_TICKS,
    memory: memSummary,
    disk: diskSummary,
    failover: foSummary,
    wallSeconds,
  });
  console.log(md);

  mkdirSync(f.out, { recursive: true });
  const base = join(f.out, `raft-${date}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        command: `node dist/bench/raft.js ${process.argv.slice(2).join(' ')}`.trim(),
        flags: f,
        env: { node: process.version, cores: cpu.length, cpu: cpu[0]?.model.trim(), totalMemBytes: totalmem(), platform: process.platform, tmpdir: tmpdir() },
        wallSeconds,
        model: { tickMs: TICK_MS, electionTicks: ELECTION_TICKS, heartbeatTicks: 1, payloadBytes: 100 },
        etcd: { quoted: ETCD_QUOTE, medianMs: 1230, measuredHere: false },
        summary: { memory: memSummary, disk: diskSummary, failover: foSummary },
        runs: { memory, disk, failover },
      },
      null,
      2,
    ) + '\n',
  );
  if (failover.length > 0) {
    const sizes = f.nodes.join(' and ');
    writeFileSync(
      `${base}.svg`,
      svgFailover(failover, TICK_MS, `Raft failover time after killing the leader (${sizes} nodes, ${f.seeds} seeds each)`, `simulated; tick ${TICK_MS} ms, election ${ELECTION_TICKS} ticks, messages 1–10 ms, fsync 1–5 ms; bins of one tick (${TICK_MS} ms)`),
    );
  }
  console.error(`wrote ${base}.md, .json${failover.length > 0 ? ' and .svg' : ''} (${wallSeconds.toFixed(1)} s)`);
}

main().catch((err: unknown) => {
  if (tty) process.stderr.write('\n');
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
