/**
 * `npm run bench:server`: the same redis-benchmark against a real
 * redis-server (appendonly yes, appendfsync everysec) and against
 * `strata serve` (WAL fsync at most every second), one after the other on
 * loopback, several rounds, medians and ratios. Writes JSON, Markdown and an
 * SVG chart to bench/results/.
 *
 *   npm run bench:server -- [--requests 100000] [--runs 3] [--clients 50]
 *                           [--data-size 100] [--pipelines 1,16] [--tests set,get]
 *                           [--keyspace 100000] [--out bench/results]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

interface Flags {
  requests: number;
  runs: number;
  clients: number;
  dataSize: number;
  pipelines: number[];
  tests: string[];
  keyspace: number;
  out: string;
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { requests: 100_000, runs: 3, clients: 50, dataSize: 100, pipelines: [1, 16], tests: ['set', 'get'], keyspace: 100_000, out: 'bench/results' };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    const v = argv[i + 1];
    if (name === '--help' || name === '-h') {
      console.log('usage: npm run bench:server -- [--requests N] [--runs R] [--clients C] [--data-size B] [--pipelines 1,16] [--tests set,get] [--keyspace K] [--out DIR]');
      process.exit(0);
    }
    if (v === undefined) throw new Error(`${name} needs a value`);
    i++;
    const int = () => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
      return n;
    };
    if (name === '--requests') f.requests = int();
    else if (name === '--runs') f.runs = int();
    else if (name === '--clients') f.clients = int();
    else if (name === '--data-size') f.dataSize = int();
    else if (name === '--keyspace') f.keyspace = int();
    else if (name === '--pipelines') f.pipelines = v.split(',').map(Number);
    else if (name === '--tests') f.tests = v.split(',');
    else if (name === '--out') f.out = v;
    else throw new Error(`unknown flag ${name}`);
  }
  return f;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Waits until `redis-cli PING` answers on the port (the server is up), bounded. */
async function waitReady(port: number, child: ChildProcess, name: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'], { encoding: 'utf8' });
    if (r.stdout.trim() === 'PONG') return;
    await new Promise((r2) => setTimeout(r2, 100));
  }
  throw new Error(`${name} did not answer PING on port ${port}`);
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
}

function runBenchmark(port: number, test: string, pipeline: number, f: Flags): Sample {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-c', String(f.clients), '-n', String(f.requests), '-d', String(f.dataSize), '-r', String(f.keyspace), '-P', String(pipeline), '-t', test, '--csv'];
  const out = execFileSync('redis-benchmark', args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const rows = out
    .trim()
    .split('\n')
    .map((l) => l.split(',').map((c) => c.replace(/"/g, '')));
  const header = rows[0]!;
  const row = rows.find((r) => r[0]!.toUpperCase() === test.toUpperCase());
  if (row === undefined) throw new Error(`redis-benchmark printed no ${test} row:\n${out}`);
  const col = (name: string) => Number(row[header.indexOf(name)]);
  return { rps: col('rps'), p50: col('p50_latency_ms'), p99: col('p99_latency_ms') };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function svgChart(rows: Array<{ label: string; redis: number; strata: number }>, clients: number): string {
  const w = 720;
  const barH = 16;
  const gap = 14;
  const left = 110;
  const max = Math.max(...rows.flatMap((r) => [r.redis, r.strata]), 1);
  const h = 50 + rows.length * (2 * barH + gap);
  const scale = (v: number) => ((w - left - 90) * v) / max;
  let y = 40;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`, `<text x="10" y="20" font-size="14">requests/s, median of runs (redis-benchmark -c ${clients})</text>`];
  for (const r of rows) {
    parts.push(`<text x="10" y="${y + barH + 4}">${r.label}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${scale(r.redis).toFixed(1)}" height="${barH}" fill="#c0392b"/><text x="${(left + scale(r.redis) + 4).toFixed(1)}" y="${y + 12}">Redis ${Math.round(r.redis)}</text>`);
    parts.push(`<rect x="${left}" y="${y + barH}" width="${scale(r.strata).toFixed(1)}" height="${barH}" fill="#2e86c1"/><text x="${(left + scale(r.strata) + 4).toFixed(1)}" y="${y + barH + 12}">StrataDB ${Math.round(r.strata)}</text>`);
    y += 2 * barH + gap;
  }
  parts.push('</svg>');
  return parts.join('\n');
}

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2));
  for (const tool of ['redis-server', 'redis-benchmark', 'redis-cli']) {
    if (!which(tool)) throw new Error(`${tool} not found: install Debian's redis-server and redis-tools (apt-get install -y redis-server redis-tools)`);
  }
  const work = mkdtempSync(join(tmpdir(), 'strata-bench-server-'));
  const children: ChildProcess[] = [];
  const stopAll = () => {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGTERM');
  };
  process.on('SIGINT', () => {
    stopAll();
    process.exit(130);
  });
  try {
    const redisPort = await freePort();
    mkdirSync(join(work, 'redis'));
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--dir', join(work, 'redis')], { stdio: 'ignore' });
    children.push(redis);
    const strataPort = await freePort();
    const cli = resolve('dist/src/cli/main.js');
    const strata = spawn(process.execPath, [cli, 'serve', '--data-dir', join(work, 'strata'), '--resp-port', String(strataPort), '--protocols', 'resp', '--sync-mode', 'periodic', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(strata);
    await waitReady(redisPort, redis, 'redis-server');
    await waitReady(strataPort, strata, 'strata serve');
    const redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
    console.log(`redis-benchmark -c ${f.clients} -d ${f.dataSize} -n ${f.requests} -r ${f.keyspace}, ${f.runs} runs; ${redisVersion.split(' ').slice(0, 3).join(' ')}; node ${process.version}; ${cpus().length} cores`);
    const samples = new Map<string, { redis: Sample[]; strata: Sample[] }>();
    for (let run = 1; run <= f.runs; run++) {
      for (const pipeline of f.pipelines) {
        for (const test of f.tests) {
          const id = `${test.toUpperCase()} -P ${pipeline}`;
          const s = samples.get(id) ?? { redis: [], strata: [] };
          samples.set(id, s);
          // Alternate who goes first so drift on a shared machine does not favour one side.
          const order = run % 2 === 1 ? (['redis', 'strata'] as const) : (['strata', 'redis'] as const);
          for (const who of order) {
            process.stderr.write(`\r\x1b[K[run ${run}/${f.runs}] ${id} ${who}...`);
            s[who].push(runBenchmark(who === 'redis' ? redisPort : strataPort, test, pipeline, f));
          }
        }
      }
    }
    process.stderr.write('\r\x1b[K');
    const bars: Record<string, number> = { 1: 0.8, 16: 0.5 };
    const table: Array<Record<string, string | number | boolean>> = [];
    console.log(`\n${'workload'.padEnd(12)}${'Redis rps'.padStart(12)}${'p50/p99 ms'.padStart(14)}${'Strata rps'.padStart(12)}${'p50/p99 ms'.padStart(14)}${'ratio'.padStart(8)}  bar`);
    for (const [id, s] of samples) {
      const r = { rps: median(s.redis.map((x) => x.rps)), p50: median(s.redis.map((x) => x.p50)), p99: median(s.redis.map((x) => x.p99)) };
      const t = { rps: median(s.strata.map((x) => x.rps)), p50: median(s.strata.map((x) => x.p50)), p99: median(s.strata.map((x) => x.p99)) };
      const ratio = t.rps / r.rps;
      const pipeline = id.split(' -P ')[1]!;
      const bar = bars[pipeline];
      const pass = bar === undefined ? undefined : ratio >= bar;
      console.log(
        `${id.padEnd(12)}${Math.round(r.rps).toString().padStart(12)}${`${r.p50.toFixed(2)}/${r.p99.toFixed(2)}`.padStart(14)}${Math.round(t.rps).toString().padStart(12)}${`${t.p50.toFixed(2)}/${t.p99.toFixed(2)}`.padStart(14)}${ratio.toFixed(2).padStart(8)}  ${bar === undefined ? '' : `≥ ${bar} ${pass ? 'pass' : 'FAIL'}`}`,
      );
      table.push({ workload: id, redisRps: Math.round(r.rps), redisP50Ms: r.p50, redisP99Ms: r.p99, strataRps: Math.round(t.rps), strataP50Ms: t.p50, strataP99Ms: t.p99, ratio: Number(ratio.toFixed(3)), ...(bar !== undefined ? { bar, pass: pass === true } : {}) });
    }
    mkdirSync(f.out, { recursive: true });
    const stamp = new Date().toISOString().slice(0, 10);
    const base = join(f.out, `server-${stamp}`);
    writeFileSync(`${base}.json`, JSON.stringify({ date: new Date().toISOString(), flags: f, redis: redisVersion, node: process.version, cores: cpus().length, results: table, samples: Object.fromEntries(samples) }, null, 2));
    const md = [
      `# Server benchmark ${stamp}`,
      '',
      `redis-benchmark -c ${f.clients} -d ${f.dataSize} -n ${f.requests} -r ${f.keyspace}; median of ${f.runs} runs; Redis with appendonly yes, appendfsync everysec; StrataDB with syncMode periodic (1 s).`,
      '',
      '| workload | Redis rps | Redis p50/p99 ms | StrataDB rps | StrataDB p50/p99 ms | ratio | bar |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      ...table.map((r) => `| ${r.workload} | ${r.redisRps} | ${r.redisP50Ms}/${r.redisP99Ms} | ${r.strataRps} | ${r.strataP50Ms}/${r.strataP99Ms} | ${r.ratio} | ${r.bar === undefined ? '' : `≥ ${r.bar} ${r.pass ? 'pass' : 'fail'}`} |`),
      '',
    ].join('\n');
    writeFileSync(`${base}.md`, md);
    writeFileSync(`${base}.svg`, svgChart(table.map((r) => ({ label: String(r.workload), redis: Number(r.redisRps), strata: Number(r.strataRps) })), f.clients));
    console.log(`\nwrote ${base}.json, .md and .svg`);
  } finally {
    stopAll();
    await new Promise((r) => setTimeout(r, 300));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
