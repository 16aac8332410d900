/**
 * Aggregation, the markdown tables and the SVG (failover-time histograms)
 * of `npm run bench:raft`.
 */
import { fmtOps, median } from './report.js';
import type { FailoverResult } from './raft-failover.js';
import type { ThroughputResult } from './raft-cluster.js';

export const ETCD_QUOTE =
  'a 3-member etcd 3.4 on this machine took a median 1.23 s from kill -9 of its leader to the next successful write';
export const ETCD_MS = 1230;

export interface ThroughputSummary {
  storage: 'memory' | 'disk';
  nodes: number;
  inflight: number;
  runs: number;
  /** Runs that stopped at the time cap (disk only). */
  cappedRuns: number;
  committedPerRun: number[];
  commitsPerSec: number;
  minCommitsPerSec: number;
  maxCommitsPerSec: number;
  /** Pooled over runs. */
  entriesPerApp: number;
  messagesPerCommit: number;
  entriesPerSync: number;
  leaderEntriesPerSync: number;
  syncsPerCommit: number;
}

export function summarizeThroughput(results: ThroughputResult[]): ThroughputSummary[] {
  const keys = new Map<string, ThroughputResult[]>();
  for (const r of results) {
    const k = `${r.storage}/${r.nodes}/${r.inflight}`;
    const list = keys.get(k) ?? [];
    list.push(r);
    keys.set(k, list);
  }
  const out: ThroughputSummary[] = [];
  for (const rs of keys.values()) {
    const r0 = rs[0]!;
    const sum = (f: (r: ThroughputResult) => number) => rs.reduce((a, r) => a + f(r), 0);
    const rates = rs.map((r) => r.commitsPerSec);
    out.push({
      storage: r0.storage,
      nodes: r0.nodes,
      inflight: r0.inflight,
      runs: rs.length,
      cappedRuns: rs.filter((r) => r.capped).length,
      committedPerRun: rs.map((r) => r.committed),
      commitsPerSec: median(rates),
      minCommitsPerSec: Math.min(...rates),
      maxCommitsPerSec: Math.max(...rates),
      entriesPerApp: sum((r) => r.appEntries) / Math.max(1, sum((r) => r.appsWithEntries)),
      messagesPerCommit: sum((r) => r.messages) / Math.max(1, sum((r) => r.committed)),
      entriesPerSync: sum((r) => r.syncedEntries) / Math.max(1, sum((r) => r.syncs)),
      leaderEntriesPerSync: sum((r) => r.leaderSyncedEntries) / Math.max(1, sum((r) => r.leaderSyncs)),
      syncsPerCommit: sum((r) => r.syncs) / Math.max(1, sum((r) => r.committed)),
    });
  }
  out.sort((a, b) => (a.storage === b.storage ? a.nodes - b.nodes || a.inflight - b.inflight : a.storage === 'memory' ? -1 : 1));
  return out;
}

/** Nearest-rank percentile (p in (0, 100]) of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

export interface FailoverSummary {
  nodes: number;
  seeds: number;
  failed: number;
  failures: string[];
  election: { medianMs: number; p99Ms: number; minMs: number; maxMs: number; meanMs: number };
  write: { medianMs: number; p99Ms: number; minMs: number; maxMs: number; meanMs: number };
  /** Seeds where more than one election timer fired before a leader emerged (a failed pre-vote or a split vote), and more than one term. */
  multiCampaign: number;
  multiTerm: number;
}

function stats(xs: number[]): FailoverSummary['election'] {
  const s = [...xs].sort((a, b) => a - b);
  return {
    medianMs: median(s),
    p99Ms: percentile(s, 99),
    minMs: s[0] ?? NaN,
    maxMs: s[s.length - 1] ?? NaN,
    meanMs: s.length > 0 ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
  };
}

export function summarizeFailover(results: FailoverResult[]): FailoverSummary[] {
  const sizes = [...new Set(results.map((r) => r.nodes))].sort((a, b) => a - b);
  return sizes.map((nodes) => {
    const rs = results.filter((r) => r.nodes === nodes);
    const ok = rs.filter((r) => r.ok);
    return {
      nodes,
      seeds: rs.length,
      failed: rs.length - ok.length,
      failures: rs.filter((r) => !r.ok).map((r) => `seed ${r.seed}: ${r.error ?? 'failed'}`),
      election: stats(ok.map((r) => r.electionMs)),
      write: stats(ok.map((r) => r.writeMs)),
      multiCampaign: ok.filter((r) => r.campaigns > 1).length,
      multiTerm: ok.filter((r) => r.terms > 1).length,
    };
  });
}

// ------------------------------------------------------------------ markdown

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

const f1 = (x: number): string => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)) : '—');
const fInt = (n: number): string => n.toLocaleString('en-US');
const fMsTicks = (ms: number, tickMs: number): string => (Number.isFinite(ms) ? `${fInt(Math.round(ms))} ms (${(ms / tickMs).toFixed(1)})` : '—');

export interface ReportInput {
  date: string;
  envLine: string;
  flags: { entries: number; diskEntries: number; runs: number; seeds: number; inflight: number[]; nodes: number[]; diskMaxSeconds: number; diskRuns: number };
  tickMs: number;
  electionTicks: number;
  memory: ThroughputSummary[];
  disk: ThroughputSummary[];
  failover: FailoverSummary[];
  wallSeconds: number;
}

export function markdown(r: ReportInput): string {
  const parts: string[] = [];
  parts.push(`# Raft benchmark ${r.date}`);
  parts.push(r.envLine);

  if (r.memory.length > 0) {
    parts.push(
      `### 1. Consensus core throughput, in memory — ${fInt(r.flags.entries)} committed 100-byte entries per run, median of ${r.flags.runs} run(s)\n\n` +
        'N `Raft` cores in one process over MemoryRaftLog; an in-memory FIFO transport (delivering a message steps it into the target core, ' +
        'then that node hands out its Readys; no delays); the driver keeps K proposals outstanding on the leader (one `propose` each) and counts ' +
        'an entry committed when the leader applies it. Wall clock (process.hrtime.bigint) from the first proposal to the last commit; ' +
        'ticks every 100 ms of wall time. MemoryRaftLog.sync() is a no-op, so a Ready completes synchronously. ' +
        'Entries/App: entries per append message that carried any; messages/commit: every message any node sent ÷ entries committed.',
    );
    parts.push(
      table(
        ['nodes', 'K in flight', 'commits/s (median)', 'min – max', 'entries / App', 'messages / commit'],
        r.memory.map((s) => [String(s.nodes), String(s.inflight), fmtOps(s.commitsPerSec), `${fmtOps(s.minCommitsPerSec)} – ${fmtOps(s.maxCommitsPerSec)}`, f1(s.entriesPerApp), f1(s.messagesPerCommit)]),
      ),
    );
  }

  if (r.disk.length > 0) {
    const capNote = r.disk.some((s) => s.cappedRuns > 0)
      ? ` Runs marked † hit the ${r.flags.diskMaxSeconds} s cap before ${fInt(r.flags.diskEntries)} entries; their rate is over the entries committed (shown).`
      : '';
    parts.push(
      `### 2. Durable logs on the real disk — ${fInt(r.flags.diskEntries)} committed 100-byte entries per run (cap ${r.flags.diskMaxSeconds} s), median of ${r.flags.diskRuns} run(s)\n\n` +
        'The same cluster and driver, each node on a DiskRaftLog over NodeFs in a fresh os.tmpdir() directory (removed afterwards). ' +
        'A Ready with entries or a term/vote change is written and its `sync()` (fdatasync) awaited before its messages go out and it is ' +
        'advanced; messages and proposals arriving meanwhile go into the next Ready (group commit). All nodes share this one disk and ' +
        'libuv\'s thread pool. Entries/fsync: entries made durable per Ready-level sync, all nodes (leader only in the next column); ' +
        'fsyncs/commit: syncs on all nodes ÷ entries committed.' +
        capNote,
    );
    parts.push(
      table(
        ['nodes', 'K in flight', 'commits/s (median)', 'min – max', 'entries / fsync', 'leader entries / fsync', 'fsyncs / commit', 'entries / App', 'committed per run'],
        r.disk.map((s) => [
          String(s.nodes),
          String(s.inflight),
          fmtOps(s.commitsPerSec),
          `${fmtOps(s.minCommitsPerSec)} – ${fmtOps(s.maxCommitsPerSec)}`,
          f1(s.entriesPerSync),
          f1(s.leaderEntriesPerSync),
          f1(s.syncsPerCommit),
          f1(s.entriesPerApp),
          s.committedPerRun.map((n) => (n < r.flags.diskEntries ? `${fInt(n)}†` : fInt(n))).join(', '),
        ]),
      ),
    );
  }

  if (r.failover.length > 0) {
    const seeds = r.failover[0]!.seeds;
    parts.push(
      `### 3. Failover time — kill the leader, ${seeds} seeds per cluster size, simulated time (tick ${r.tickMs} ms: heartbeat 1 tick = ${r.tickMs} ms, ` +
        `election ${r.electionTicks} ticks = ${fInt(r.electionTicks * r.tickMs)} ms randomized to [${r.electionTicks}, ${2 * r.electionTicks}) ticks)\n\n` +
        'A bench-only deterministic driver over real `Raft` cores (src/sim\'s RaftSim cannot crash its leader on demand): random tick phase ' +
        'per node, messages 1–10 ms, fsync 1–5 ms, PreVote and CheckQuorum on; one client with one write outstanding (1–5 ms hops; ' +
        '"not leader" redirects at once, "no leader" retries after 25 ms, a dead node refuses the connection and the client moves on). After ' +
        'a leader and 20 acknowledged writes, plus a uniform 0–999 ms, the leader is killed. (a) kill → another node becomes leader; ' +
        '(b) kill → the client\'s next acknowledged write. Times in ms (ticks). A campaign is an election timer firing (the node turns ' +
        'pre-candidate); more than one means the first pre-vote was refused (a follower still in its leader lease ignores it) or split. ' +
        'p99 is nearest-rank' +
        (seeds < 100 ? `: with ${seeds} seeds it is the ${Math.ceil(0.99 * seeds)}th of ${seeds}, i.e. the maximum.` : '.'),
    );
    parts.push(
      table(
        ['nodes', 'seeds ok', '(a) new leader: median', '(a) p99', '(b) next write: median', '(b) p99', '(b) min – max', 'seeds with > 1 campaign'],
        r.failover.map((s) => [
          String(s.nodes),
          `${s.seeds - s.failed}/${s.seeds}`,
          fMsTicks(s.election.medianMs, r.tickMs),
          fMsTicks(s.election.p99Ms, r.tickMs),
          fMsTicks(s.write.medianMs, r.tickMs),
          fMsTicks(s.write.p99Ms, r.tickMs),
          `${fInt(Math.round(s.write.minMs))} – ${fInt(Math.round(s.write.maxMs))} ms`,
          `${s.multiCampaign}${s.multiTerm > 0 ? ` (${s.multiTerm} over > 1 term)` : ''}`,
        ]),
      ),
    );
    parts.push(`For scale (quoted from the issue, not measured here): "${ETCD_QUOTE}".`);
    const failures = r.failover.flatMap((s) => s.failures.map((f) => `${s.nodes} nodes, ${f}`));
    if (failures.length > 0) parts.push(`Seeds that did not recover: ${failures.join('; ')}.`);
  }
  parts.push(`Wall time of this run: ${r.wallSeconds.toFixed(1)} s.`);
  return parts.join('\n\n') + '\n';
}

// ------------------------------------------------------------------ SVG

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLORS = ['#1f77b4', '#e6862e', '#2ca02c', '#9467bd'];

/**
 * Two stacked histograms of failover times (bins of one tick): (a) kill →
 * new leader and (b) kill → next acknowledged write, one colour per cluster
 * size, medians as dashed lines, etcd's quoted median as a grey line in (b).
 */
export function svgFailover(results: FailoverResult[], tickMs: number, title: string, subtitle: string): string {
  const ok = results.filter((r) => r.ok);
  const sizes = [...new Set(results.map((r) => r.nodes))].sort((a, b) => a - b);
  const maxMs = Math.max(ETCD_MS, ...ok.map((r) => r.writeMs), ...ok.map((r) => r.electionMs));
  const bins = Math.ceil((maxMs + 1) / tickMs) + 1;
  const left = 60;
  const plotW = 720;
  const right = 30;
  const panelH = 190;
  const top = 80;
  const gap = 60;
  const width = left + plotW + right;
  const height = top + 2 * panelH + gap + 50;
  const x = (ms: number) => left + (plotW * ms) / (bins * tickMs);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${left}" y="36" fill="#555">${esc(subtitle)}</text>`);
  let lx = left;
  sizes.forEach((n, i) => {
    out.push(`<rect x="${lx}" y="46" width="12" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${lx + 16}" y="55">${n} nodes</text>`);
    lx += 80;
  });
  out.push(`<line x1="${lx}" y1="51" x2="${lx + 14}" y2="51" stroke="#333" stroke-dasharray="4 3"/><text x="${lx + 18}" y="55">median</text>`);
  lx += 70;
  out.push(`<line x1="${lx}" y1="51" x2="${lx + 14}" y2="51" stroke="#999" stroke-width="2"/><text x="${lx + 18}" y="55">etcd 3.4, 3 members: median 1.23 s (quoted, not measured)</text>`);

  const panels: Array<{ label: string; pick: (r: FailoverResult) => number; etcd: boolean }> = [
    { label: '(a) kill → new leader elected', pick: (r) => r.electionMs, etcd: false },
    { label: '(b) kill → next acknowledged client write', pick: (r) => r.writeMs, etcd: true },
  ];
  panels.forEach((panel, pi) => {
    const y0 = top + pi * (panelH + gap);
    const counts = sizes.map((n) => {
      const c = new Array<number>(bins).fill(0);
      for (const r of ok) if (r.nodes === n) c[Math.min(bins - 1, Math.floor(panel.pick(r) / tickMs))]!++;
      return c;
    });
    const maxCount = Math.max(1, ...counts.flat());
    // Headroom above the tallest bar for the median and etcd labels.
    const yScale = (c: number) => (panelH * c) / (maxCount * 1.2);
    const medians = sizes.map((n) => {
      const vals = ok.filter((r) => r.nodes === n).map(panel.pick);
      return vals.length > 0 ? median(vals) : NaN;
    });
    const medianText = sizes.map((n, i) => `${n} nodes ${Number.isFinite(medians[i]!) ? `${Math.round(medians[i]!)} ms` : '—'}`).join(', ');
    out.push(`<text x="${left}" y="${y0 - 8}"><tspan font-weight="bold">${esc(panel.label)}</tspan><tspan dx="14" fill="#555">medians: ${esc(medianText)}</tspan></text>`);
    // Axes and grid.
    out.push(`<line x1="${left}" y1="${y0 + panelH}" x2="${left + plotW}" y2="${y0 + panelH}" stroke="#333"/>`);
    const yStep = maxCount <= 10 ? 1 : maxCount <= 25 ? 5 : 10;
    for (let c = 0; c <= maxCount; c += yStep) {
      const yy = y0 + panelH - yScale(c);
      out.push(`<line x1="${left}" y1="${yy.toFixed(1)}" x2="${left + plotW}" y2="${yy.toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${left - 6}" y="${(yy + 4).toFixed(1)}" text-anchor="end" fill="#555">${c}</text>`);
    }
    const labelEvery = bins > 40 ? 10 : bins > 20 ? 5 : 2;
    for (let b = 0; b <= bins; b++) {
      if (b % labelEvery !== 0) continue;
      const xx = x(b * tickMs);
      out.push(`<line x1="${xx.toFixed(1)}" y1="${y0 + panelH}" x2="${xx.toFixed(1)}" y2="${y0 + panelH + 4}" stroke="#333"/>`);
      out.push(`<text x="${xx.toFixed(1)}" y="${y0 + panelH + 16}" text-anchor="middle" fill="#555">${((b * tickMs) / 1000).toFixed(1)} s</text>`);
    }
    out.push(`<text x="${left - 44}" y="${y0 + panelH / 2}" transform="rotate(-90 ${left - 44} ${y0 + panelH / 2})" text-anchor="middle" fill="#555">seeds</text>`);
    const bw = (x(tickMs) - x(0)) / sizes.length;
    counts.forEach((c, si) => {
      c.forEach((count, b) => {
        if (count === 0) return;
        const xx = x(b * tickMs) + si * bw;
        const h = yScale(count);
        out.push(
          `<rect x="${xx.toFixed(1)}" y="${(y0 + panelH - h).toFixed(1)}" width="${Math.max(1, bw - 0.5).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${sizes[si]} nodes, ${b * tickMs}–${(b + 1) * tickMs} ms: ${count} seed(s)</title></rect>`,
        );
      });
      const m = medians[si]!;
      if (Number.isFinite(m)) {
        out.push(`<line x1="${x(m).toFixed(1)}" y1="${y0}" x2="${x(m).toFixed(1)}" y2="${y0 + panelH}" stroke="${COLORS[si % COLORS.length]}" stroke-dasharray="4 3" stroke-width="1.5"/>`);
      }
    });
    if (panel.etcd) {
      out.push(`<line x1="${x(ETCD_MS).toFixed(1)}" y1="${y0}" x2="${x(ETCD_MS).toFixed(1)}" y2="${y0 + panelH}" stroke="#999" stroke-width="2"/>`);
      out.push(`<text x="${(x(ETCD_MS) - 3).toFixed(1)}" y="${y0 + 10}" text-anchor="end" fill="#777">etcd 1.23 s (quoted)</text>`);
    }
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
