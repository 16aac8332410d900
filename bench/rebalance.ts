/**
 * `npm run bench:rebalance`: time and bytes to rebalance a loaded 3-node
 * cluster onto a fourth node, and what the moves do to foreground writes.
 *
 *   npm run bench:rebalance -- [--gib 1] [--value-kib 16] [--shards 8]
 *                              [--writer-rate 100] [--phase-ms 20000]
 *                              [--bytes-per-sec N] [--out bench/results]
 *
 *  1. start 3 nodes (LocalCluster, replication factor 3, `shards` shards,
 *     snapshots every 1,000 entries so logs stay short);
 *  2. load `gib` GiB of distinct keys (`value-kib` values, pipelined RESP
 *     SETs over the three nodes), with progress;
 *  3. "before": a paced writer (`writer-rate` SETs/s of 1 KiB, one at a
 *     time, through all three nodes) for `phase-ms`, every latency kept;
 *  4. start a fourth node; the writer keeps going; the rebalance status is
 *     polled (moves, snapshot bytes, ETA shown live) until no move is left
 *     and replicas per node are within one: that time is the rebalance time;
 *  5. bytes: snapshot chunk bytes the new node received (its health), and
 *     its data directory's size;
 *  6. split: shard 0 is split in two (POST .../shard/0/split) while the
 *     writer keeps going: the time until the new shard serves and the meta
 *     group records it, then until every node's clean-up pass has deleted
 *     the keys each half gave away; write latency over that window.
 * There is no peer system for this figure: it is StrataDB against itself,
 * before versus during the moves. Results: markdown on stdout and
 * bench/results/rebalance-<date>.{md,json,svg} (write latency over time,
 * the move window shaded).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { SeededRandom } from '../src/base/index.js';
import { LocalCluster } from '../src/cli/local-cluster.js';
import { ProgressLine, formatBytes } from '../src/cli/progress.js';
import { dirBytes } from './lib/measure.js';
import { gitDescribe, localDate } from './lib/run-info.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Config {
  gib: number;
  valueKib: number;
  shards: number;
  writerRate: number;
  phaseMs: number;
  bytesPerSec: number | undefined;
  out: string;
}

function parseArgs(argv: string[]): Config {
  const cfg: Config = { gib: 1, valueKib: 16, shards: 8, writerRate: 100, phaseMs: 20_000, bytesPerSec: undefined, out: join(ROOT, 'bench', 'results') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a non-negative number`);
      return v;
    };
    if (a === '--gib') cfg.gib = num();
    else if (a === '--value-kib') cfg.valueKib = num();
    else if (a === '--shards') cfg.shards = num();
    else if (a === '--writer-rate') cfg.writerRate = num();
    else if (a === '--phase-ms') cfg.phaseMs = num();
    else if (a === '--bytes-per-sec') cfg.bytesPerSec = num();
    else if (a === '--out') cfg.out = resolve(argv[++i]!);
    else throw new Error(`unknown flag ${a}\nusage: npm run bench:rebalance -- [--gib 1] [--value-kib 16] [--shards 8] [--writer-rate 100] [--phase-ms 20000] [--bytes-per-sec N] [--out DIR]`);
  }
  return cfg;
}

interface Sample {
  /** ms since the bench began. */
  at: number;
  ms: number;
  phase: 'before' | 'during' | 'split';
}

interface Rebalance {
  moves: Array<{ shard: number; add: string; transfer?: { bytesTotal: number; bytesDone: number; rate: number; etaMs?: number; state: string } }>;
  balanced: boolean;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
  const base = mkdtempSync(join(tmpdir(), 'strata-bench-rebalance-'));
  const t0 = Date.now();
  const args = ['--set', 'cluster.snapshotEntries=1000', '--set', 'cluster.requestTimeoutMs=10000', '--log-level', 'warn'];
  if (cfg.bytesPerSec !== undefined) args.push('--set', `cluster.snapshotBytesPerSec=${cfg.bytesPerSec}`);
  const cluster = await LocalCluster.start({ nodes: 3, baseDir: base, shards: cfg.shards, replicationFactor: 3, args });
  const clients = [0, 1, 2].map((i) => new Redis({ host: '127.0.0.1', port: cluster.nodes[i]!.ports.resp, maxRetriesPerRequest: 3, enableAutoPipelining: false }));
  try {
    await cluster.waitLeadersSettled();
    // ---- load ----
    const valueBytes = cfg.valueKib * 1024;
    const keys = Math.ceil((cfg.gib * 1024 ** 3) / valueBytes);
    // Values that do not compress (slices of a seeded random pool), so the bytes moved are the bytes loaded.
    const rnd = new SeededRandom(20261206);
    const pool = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE(rnd.int(0, 0xffffffff) >>> 0, i);
    const load = new ProgressLine('load');
    const loadStart = Date.now();
    let next = 0;
    let done = 0;
    const worker = async (w: number) => {
      for (;;) {
        const k = next++;
        if (k >= keys) return;
        const at = ((k * 7919 * 4096) % (pool.length - valueBytes)) & ~3;
        const v = Buffer.from(pool.subarray(at, at + valueBytes));
        v.writeUInt32LE(k, 0);
        await clients[w % 3]!.set(`bulk:${k}`, v);
        done++;
        load.update(`${formatBytes(done * valueBytes)} of ${formatBytes(keys * valueBytes)} (${((done * valueBytes) / 1024 ** 2 / ((Date.now() - loadStart) / 1000)).toFixed(1)} MiB/s)`);
      }
    };
    await Promise.all(Array.from({ length: 24 }, (_, w) => worker(w)));
    const loadMs = Date.now() - loadStart;
    load.done(`${formatBytes(keys * valueBytes)} in ${(loadMs / 1000).toFixed(1)} s`);

    // ---- foreground writer ----
    const samples: Sample[] = [];
    let phase: Sample['phase'] = 'before';
    let stop = false;
    let writerErrors = 0;
    const fg = Buffer.alloc(1024, 7);
    const writer = (async () => {
      const interval = 1000 / cfg.writerRate;
      let due = Date.now();
      for (let n = 0; !stop; n++) {
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        due += interval;
        const s = performance.now();
        try {
          await clients[n % 3]!.set(`fg:${n % 10_000}`, fg);
          samples.push({ at: Date.now() - t0, ms: performance.now() - s, phase });
        } catch {
          writerErrors++;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, cfg.phaseMs));

    // ---- the fourth node ----
    phase = 'during';
    const moveStart = Date.now();
    const n4 = await cluster.addNode();
    const progress = new ProgressLine('rebalance');
    let sawMoves = false;
    for (;;) {
      let r: Rebalance | undefined;
      try {
        r = await cluster.coordinator<Rebalance>(0, 'rebalance');
      } catch {
        // an election: ask again
      }
      if (r !== undefined) {
        if (r.moves.length > 0) sawMoves = true;
        const map = await cluster.coordinator<{ shards: Array<{ replicas: string[] }> }>(0, 'shard-map');
        const onN4 = map.shards.filter((s) => s.replicas.includes(n4.id)).length;
        const ts = r.moves.map((m) => m.transfer).filter((t) => t !== undefined);
        const bytes = ts.reduce((s, t) => s + t.bytesDone, 0);
        const total = ts.reduce((s, t) => s + t.bytesTotal, 0);
        const eta = Math.max(0, ...ts.map((t) => t.etaMs ?? 0));
        progress.update(`${r.moves.length} move(s), ${onN4} replicas on ${n4.id}; snapshot ${formatBytes(bytes)} / ${formatBytes(total)}, ETA ${(eta / 1000).toFixed(0)} s`);
        if (sawMoves && r.moves.length === 0 && r.balanced && onN4 > 0) break;
      }
      if (Date.now() - moveStart > 60 * 60_000) throw new Error('rebalance did not finish within an hour');
      await new Promise((res) => setTimeout(res, 500));
    }
    const rebalanceMs = Date.now() - moveStart;
    progress.done(`balanced after ${(rebalanceMs / 1000).toFixed(1)} s`);
    const health = await cluster.coordinator<{ snapshots: { bytesReceived: number; installed: number } }>(3, 'health');
    const n4Bytes = dirBytes(n4.dataDir).apparent;

    // ---- split shard 0 under the same writes ----
    phase = 'split';
    const splitErrorsBefore = writerErrors;
    const splitStart = Date.now();
    const res = await fetch(cluster.url(0, '/api/v1/coordinator/shard/0/split'), { method: 'POST' });
    if (res.status !== 202) throw new Error(`split refused: ${res.status} ${await res.text()}`);
    const { split } = (await res.json()) as { split: { child: number } };
    const splitProgress = new ProgressLine('split');
    for (;;) {
      try {
        const r = await cluster.coordinator<{ splits: Array<{ phase: string }> }>(0, 'rebalance');
        const map = await cluster.coordinator<{ shards: Array<{ id: number; leader: string; splitFrom?: number }> }>(0, 'shard-map');
        const child = map.shards.find((sh) => sh.id === split.child);
        splitProgress.update(r.splits.length > 0 ? `shard ${split.child} ${r.splits[0]!.phase}` : 'recorded');
        if (r.splits.length === 0 && child !== undefined && child.splitFrom === undefined && child.leader !== '') break;
      } catch {
        // an election: ask again
      }
      if (Date.now() - splitStart > 10 * 60_000) throw new Error('split did not finish within 10 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const splitMs = Date.now() - splitStart;
    splitProgress.done(`shard 0 split, shard ${split.child} serving after ${(splitMs / 1000).toFixed(2)} s`);
    const cleanup = new ProgressLine('clean-up');
    let keysDeleted = 0;
    for (;;) {
      const hs = await Promise.all(cluster.nodes.map((_, i) => cluster.coordinator<{ splitCleanup: { keysDeleted: number; pending: number } }>(i, 'health')));
      keysDeleted = hs.reduce((n, h) => n + h.splitCleanup.keysDeleted, 0);
      const pending = hs.reduce((n, h) => n + h.splitCleanup.pending, 0);
      cleanup.update(`${keysDeleted} keys deleted, ${pending} replica(s) still cleaning`);
      if (pending === 0) break;
      if (Date.now() - splitStart > 30 * 60_000) throw new Error('clean-up did not finish within 30 minutes');
      await new Promise((r) => setTimeout(r, 250));
    }
    const cleanupMs = Date.now() - splitStart;
    cleanup.done(`${keysDeleted} keys deleted over all replicas, ${(cleanupMs / 1000).toFixed(1)} s after the split began`);
    stop = true;
    await writer;
    const splitErrors = writerErrors - splitErrorsBefore;

    // ---- report ----
    const before = samples.filter((s) => s.phase === 'before').map((s) => s.ms);
    const during = samples.filter((s) => s.phase === 'during' && s.at <= moveStart - t0 + rebalanceMs).map((s) => s.ms);
    const splitting = samples.filter((s) => s.phase === 'split' && s.at <= splitStart - t0 + splitMs).map((s) => s.ms);
    const cleaning = samples.filter((s) => s.phase === 'split' && s.at > splitStart - t0 + splitMs).map((s) => s.ms);
    const row = (name: string, xs: number[]) => `| ${name} | ${xs.length} | ${pct(xs, 50).toFixed(2)} | ${pct(xs, 99).toFixed(2)} | ${Math.max(...xs).toFixed(1)} |`;
    const mib = (b: number) => b / 1024 ** 2;
    const result = {
      date: localDate(),
      git: gitDescribe(ROOT),
      machine: `${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
      config: cfg,
      loadedBytes: keys * valueBytes,
      loadMs,
      rebalanceMs,
      snapshotBytesReceived: health.snapshots.bytesReceived,
      snapshotsInstalled: health.snapshots.installed,
      newNodeDataBytes: n4Bytes,
      writerErrors,
      before: { n: before.length, p50: pct(before, 50), p99: pct(before, 99), max: Math.max(...before) },
      during: { n: during.length, p50: pct(during, 50), p99: pct(during, 99), max: Math.max(...during) },
      split: { splitMs, cleanupMs, keysDeleted, writerErrors: splitErrors },
      splitting: { n: splitting.length, p50: pct(splitting, 50), p99: pct(splitting, 99), max: Math.max(...splitting) },
      cleaning: { n: cleaning.length, p50: pct(cleaning, 50), p99: pct(cleaning, 99), max: Math.max(...cleaning) },
      samples,
    };
    const md = [
      `# Rebalance onto a fourth node (${result.date})`,
      '',
      `${result.machine}; ${result.git ?? ''}. Command: \`npm run bench:rebalance -- --gib ${cfg.gib} --value-kib ${cfg.valueKib} --shards ${cfg.shards}\`` +
        (cfg.bytesPerSec !== undefined ? ` --bytes-per-sec ${cfg.bytesPerSec}` : '') +
        '.',
      '',
      `- Loaded ${formatBytes(result.loadedBytes)} (${keys} keys of ${cfg.valueKib} KiB) into 3 nodes, replication factor 3, ${cfg.shards} shards, in ${(loadMs / 1000).toFixed(1)} s.`,
      `- A fourth node joined; replicas per node were within one and no move was left after **${(rebalanceMs / 1000).toFixed(1)} s**.`,
      `- Snapshot bytes streamed to it: **${formatBytes(result.snapshotBytesReceived)}** in ${result.snapshotsInstalled} snapshots (${(mib(result.snapshotBytesReceived) / (rebalanceMs / 1000)).toFixed(1)} MiB/s over the whole rebalance); its data directory afterwards: ${formatBytes(n4Bytes)} (engines, checkpoints and Raft log; hard links counted once).`,
      `- Foreground writes: ${cfg.writerRate} SETs/s of 1 KiB, one at a time, over the three original nodes (${writerErrors} failed).`,
      '',
      '| writes | n | p50 ms | p99 ms | max ms |',
      '| --- | ---: | ---: | ---: | ---: |',
      row('before the move', before),
      row('during the move', during),
      row('during the split (until the new shard serves)', splitting),
      row('during the clean-up after the split', cleaning),
      '',
      `p99 during / before: **${(result.during.p99 / result.before.p99).toFixed(2)}×**.`,
      '',
      `Split of shard 0 (about ${formatBytes(result.loadedBytes / cfg.shards)} of data) on 4 nodes: the new shard served and the split was recorded after **${(splitMs / 1000).toFixed(2)} s**; ` +
        `every replica's clean-up pass had deleted the keys its half gave away (${keysDeleted} keys over all replicas) **${(cleanupMs / 1000).toFixed(1)} s** after the split began; ${splitErrors} foreground write(s) failed meanwhile.`,
      '',
    ].join('\n');
    console.log(md);
    mkdirSync(cfg.out, { recursive: true });
    const stem = join(cfg.out, `rebalance-${result.date}`);
    writeFileSync(`${stem}.md`, md);
    writeFileSync(`${stem}.json`, JSON.stringify(result, null, 1));
    writeFileSync(`${stem}.svg`, svg(samples, moveStart - t0, moveStart - t0 + rebalanceMs, splitStart - t0, splitStart - t0 + splitMs));
    console.log(`wrote ${stem}.{md,json,svg}`);
  } finally {
    for (const c of clients) c.disconnect();
    await cluster.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

/** Write latency over time (log scale), the move window and the split's cut-over shaded. */
function svg(samples: Sample[], moveFrom: number, moveTo: number, splitFrom: number, splitTo: number): string {
  const W = 900;
  const H = 360;
  const L = 60;
  const B = 40;
  const t0 = samples[0]?.at ?? 0;
  const t1 = samples.at(-1)?.at ?? 1;
  const x = (t: number) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - 20);
  const lo = Math.log10(0.1);
  const hi = Math.log10(Math.max(10, ...samples.map((s) => s.ms)) * 1.2);
  const y = (ms: number) => H - B - ((Math.log10(Math.max(0.1, ms)) - lo) / (hi - lo)) * (H - B - 30);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="18" font-size="14">Foreground write latency while a fourth node joins (orange: moves in flight), then shard 0 splits (green: until the new shard serves)</text>`,
    `<rect x="${x(moveFrom)}" y="26" width="${Math.max(1, x(moveTo) - x(moveFrom))}" height="${H - B - 26}" fill="#fde9c8"/>`,
    `<rect x="${x(splitFrom)}" y="26" width="${Math.max(2, x(splitTo) - x(splitFrom))}" height="${H - B - 26}" fill="#c6f6d5"/>`,
  ];
  for (const ms of [0.1, 1, 10, 100, 1000, 10000]) {
    if (Math.log10(ms) > hi) break;
    parts.push(`<line x1="${L}" x2="${W - 20}" y1="${y(ms)}" y2="${y(ms)}" stroke="#ddd"/>`, `<text x="${L - 6}" y="${y(ms) + 4}" text-anchor="end">${ms} ms</text>`);
  }
  for (const s of samples) parts.push(`<circle cx="${x(s.at).toFixed(1)}" cy="${y(s.ms).toFixed(1)}" r="1.3" fill="${s.phase === 'before' ? '#2b6cb0' : s.phase === 'during' ? '#c05621' : '#2f855a'}"/>`);
  parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">time (s since start: ${((t1 - t0) / 1000).toFixed(0)} s shown)</text>`, '</svg>');
  return parts.join('\n');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
