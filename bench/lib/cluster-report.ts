/**
 * Medians, the bar check, the markdown note and the SVG chart of
 * `npm run bench:cluster`.
 */
import { median } from './report.js';
import type { FailoverTrial } from './cluster-failover.js';
import type { PhaseResult } from './cluster-load.js';

export type System = 'etcd' | 'strata';
export const SYSTEM_LABELS: Record<System, string> = { etcd: 'etcd', strata: 'StrataDB' };

export const ISSUE_QUOTE =
  'For scale, measured here: etcd did 2,100–2,600 puts/s and ~2,700 linearizable gets/s through a Node client, and a median 1.23 s failover.';

export interface SystemRun {
  run: number;
  /** ms from spawning the processes to a healthy cluster. */
  startMs: number;
  preloadMs: number;
  /** 1-minute load average when the run started (the machine is shared). */
  loadAvg1: number;
  /** StrataDB: shards led per node during the run. */
  leaders?: Record<string, number>;
  put: PhaseResult;
  get: PhaseResult;
}

export interface SystemResult {
  system: System;
  version: string;
  runs: SystemRun[];
  /** StrataDB only, --diag-shards: throughput runs with other shard counts (not in the bar). */
  shardRuns?: Array<{ shards: number; runs: SystemRun[] }>;
  failover: FailoverTrial[];
  errors: string[];
}

export interface PhaseSummary {
  opsPerSec: number;
  minOpsPerSec: number;
  maxOpsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  clientCpuUsPerOp: number;
  serverCpuUsPerOp: number;
  serverCores: number;
  clientCores: number;
}

export interface FailoverSummary {
  trials: number;
  ok: number;
  writeMedianMs: number;
  writeMinMs: number;
  writeMaxMs: number;
  leaderMedianMs: number;
}

export interface SystemSummary {
  put?: PhaseSummary;
  get?: PhaseSummary;
  failover?: FailoverSummary;
}

function phaseSummary(xs: PhaseResult[]): PhaseSummary | undefined {
  if (xs.length === 0) return undefined;
  const m = (f: (p: PhaseResult) => number) => median(xs.map(f));
  return {
    opsPerSec: m((p) => p.opsPerSec),
    minOpsPerSec: Math.min(...xs.map((p) => p.opsPerSec)),
    maxOpsPerSec: Math.max(...xs.map((p) => p.opsPerSec)),
    p50Ms: m((p) => p.p50Ms),
    p99Ms: m((p) => p.p99Ms),
    errors: xs.reduce((a, p) => a + p.errors, 0),
    clientCpuUsPerOp: m((p) => p.clientCpuUsPerOp),
    serverCpuUsPerOp: m((p) => p.serverCpuUsPerOp),
    serverCores: m((p) => p.serverCores),
    clientCores: m((p) => p.clientCores),
  };
}

export function summarize(r: SystemResult): SystemSummary {
  const out: SystemSummary = {};
  const put = phaseSummary(r.runs.map((x) => x.put));
  const get = phaseSummary(r.runs.map((x) => x.get));
  if (put) out.put = put;
  if (get) out.get = get;
  if (r.failover.length > 0) {
    const ok = r.failover.filter((t) => t.ok);
    const w = ok.map((t) => t.writeMs);
    out.failover = {
      trials: r.failover.length,
      ok: ok.length,
      writeMedianMs: median(w),
      writeMinMs: w.length > 0 ? Math.min(...w) : NaN,
      writeMaxMs: w.length > 0 ? Math.max(...w) : NaN,
      leaderMedianMs: median(ok.map((t) => t.leaderMs)),
    };
  }
  return out;
}

// ------------------------------------------------------------------ formatting

export const fmtInt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
export const fmtMs = (x: number): string => (!Number.isFinite(x) ? '—' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
export const fmtRatio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

export interface BarLine {
  what: string;
  strata: number;
  etcd: number;
  ratio: number;
  bar: string;
  pass: boolean;
}

/** The issue's bar: ≥ 1.0× etcd for puts/s and gets/s; failover median ≤ etcd's. */
export function barCheck(etcd: SystemSummary | undefined, strata: SystemSummary | undefined): BarLine[] {
  if (etcd === undefined || strata === undefined) return [];
  const out: BarLine[] = [];
  for (const [what, e, s] of [
    ['puts/s', etcd.put, strata.put],
    ['linearizable gets/s', etcd.get, strata.get],
  ] as const) {
    if (e === undefined || s === undefined) continue;
    const ratio = s.opsPerSec / e.opsPerSec;
    out.push({ what, strata: s.opsPerSec, etcd: e.opsPerSec, ratio, bar: '≥ 1.00×', pass: ratio >= 1 });
  }
  if (etcd.failover && strata.failover && etcd.failover.ok > 0 && strata.failover.ok > 0) {
    const ratio = strata.failover.writeMedianMs / etcd.failover.writeMedianMs;
    out.push({ what: 'failover median (ms)', strata: strata.failover.writeMedianMs, etcd: etcd.failover.writeMedianMs, ratio, bar: '≤ etcd (≤ 1.00×)', pass: ratio <= 1 });
  }
  return out;
}

export interface ReportInput {
  date: string;
  /** The shard count of the main StrataDB runs. */
  strataShards: number;
  envLine: string;
  configLine: string;
  results: Partial<Record<System, SystemResult>>;
  settings: string[];
  notes: string[];
  command: string;
}

export function markdown(r: ReportInput): string {
  const e = r.results.etcd;
  const s = r.results.strata;
  const es = e ? summarize(e) : undefined;
  const ss = s ? summarize(s) : undefined;
  const parts: string[] = [];
  parts.push(`## Cluster benchmark ${r.date}: StrataDB 3 nodes vs etcd 3 members, loopback`);
  parts.push(`${r.envLine}\n\n${r.configLine}\n\nCommand: \`${r.command}\``);

  const col = (sum: SystemSummary | undefined, f: (x: SystemSummary) => string): string => (sum === undefined ? '—' : f(sum));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '—' : fmtRatio(a / b));
  const runs = Math.max(e?.runs.length ?? 0, s?.runs.length ?? 0);
  const trials = Math.max(es?.failover?.trials ?? 0, ss?.failover?.trials ?? 0);
  const rows: string[][] = [
    [
      `puts/s (median of ${runs})`,
      col(es, (x) => (x.put ? `${fmtInt(x.put.opsPerSec)} (${fmtInt(x.put.minOpsPerSec)}–${fmtInt(x.put.maxOpsPerSec)})` : '—')),
      col(ss, (x) => (x.put ? `${fmtInt(x.put.opsPerSec)} (${fmtInt(x.put.minOpsPerSec)}–${fmtInt(x.put.maxOpsPerSec)})` : '—')),
      ratio(ss?.put?.opsPerSec, es?.put?.opsPerSec),
    ],
    ['put latency p50 / p99 ms', col(es, (x) => (x.put ? `${fmtMs(x.put.p50Ms)} / ${fmtMs(x.put.p99Ms)}` : '—')), col(ss, (x) => (x.put ? `${fmtMs(x.put.p50Ms)} / ${fmtMs(x.put.p99Ms)}` : '—')), '—'],
    [
      `linearizable gets/s (median of ${runs})`,
      col(es, (x) => (x.get ? `${fmtInt(x.get.opsPerSec)} (${fmtInt(x.get.minOpsPerSec)}–${fmtInt(x.get.maxOpsPerSec)})` : '—')),
      col(ss, (x) => (x.get ? `${fmtInt(x.get.opsPerSec)} (${fmtInt(x.get.minOpsPerSec)}–${fmtInt(x.get.maxOpsPerSec)})` : '—')),
      ratio(ss?.get?.opsPerSec, es?.get?.opsPerSec),
    ],
    ['get latency p50 / p99 ms', col(es, (x) => (x.get ? `${fmtMs(x.get.p50Ms)} / ${fmtMs(x.get.p99Ms)}` : '—')), col(ss, (x) => (x.get ? `${fmtMs(x.get.p50Ms)} / ${fmtMs(x.get.p99Ms)}` : '—')), '—'],
  ];
  if (trials > 0) {
    const fo = (x: SystemSummary) => (x.failover && x.failover.ok > 0 ? `${fmtInt(x.failover.writeMedianMs)} (${fmtInt(x.failover.writeMinMs)}–${fmtInt(x.failover.writeMaxMs)}), ${x.failover.ok}/${x.failover.trials} ok` : x.failover ? `FAILED (0/${x.failover.trials})` : '—');
    rows.push([`failover: kill -9 leader → first acked write, ms (median of ${trials})`, col(es, fo), col(ss, fo), ratio(ss?.failover?.writeMedianMs, es?.failover?.writeMedianMs)]);
    rows.push(['failover: kill -9 leader → another leader seen, ms (median)', col(es, (x) => (x.failover ? fmtInt(x.failover.leaderMedianMs) : '—')), col(ss, (x) => (x.failover ? fmtInt(x.failover.leaderMedianMs) : '—')), ratio(ss?.failover?.leaderMedianMs, es?.failover?.leaderMedianMs)]);
  }
  parts.push(table(['', `etcd ${e?.version ?? ''}`.trim(), 'StrataDB', 'StrataDB / etcd'], rows));
  parts.push('Throughput cells: median (min–max over runs); latency: median over runs of each run\'s p50 / p99 (nearest rank, every op timed). The failover ratio is a time: below 1.00× StrataDB recovers faster.');

  const bars = barCheck(es, ss);
  if (bars.length > 0) {
    parts.push('### The bar');
    parts.push(table(['', 'etcd', 'StrataDB', 'ratio', 'bar', ''], bars.map((b) => [b.what, fmtInt(b.etcd), fmtInt(b.strata), fmtRatio(b.ratio), b.bar, b.pass ? 'pass' : '**FAIL**'])));
  }
  parts.push(`> ${ISSUE_QUOTE} (quoted from the issue)`);

  // Per run.
  const runRows: string[][] = [];
  for (const x of [e, s]) {
    if (!x) continue;
    for (const run of x.runs) {
      for (const p of [run.put, run.get]) {
        runRows.push([
          `${SYSTEM_LABELS[x.system]} run ${run.run} ${p.kind}`,
          fmtInt(p.opsPerSec),
          fmtInt(p.ops),
          `${fmtMs(p.p50Ms)} / ${fmtMs(p.p99Ms)} / ${fmtMs(p.maxMs)}`,
          String(p.errors),
          p.clientCpuUsPerOp.toFixed(0),
          p.serverCpuUsPerOp.toFixed(0),
          `${p.clientCores.toFixed(2)} + ${p.serverCores.toFixed(2)}`,
          run.loadAvg1.toFixed(1),
          run.leaders ? Object.values(run.leaders).join(' / ') : '',
        ]);
      }
    }
  }
  if (runRows.length > 0) {
    parts.push('### Every run');
    parts.push(
      'CPU: the bench process (the Node load generator and the client library) and all three server processes, from /proc, per successful op; ' +
        'cores = CPU seconds per wall second (client + servers) — the machine has the cores named above, shared by both; ' +
        'the 1-minute load average at the start of each run shows how busy the (shared) machine was.',
    );
    parts.push(table(['run', 'ops/s', 'ops', 'p50 / p99 / max ms', 'errors', 'client CPU µs/op', 'server CPU µs/op', 'cores busy (client + servers)', 'load avg at run start', 'shards led per node'], runRows));
    const errs = [e, s].flatMap((x) => (x ? x.runs.flatMap((run) => [run.put, run.get].filter((p) => p.errors > 0).map((p) => `${SYSTEM_LABELS[x.system]} run ${run.run} ${p.kind}: ${p.errorExamples.join('; ')}`)) : []));
    if (errs.length > 0) parts.push(`Errors: ${errs.join(' · ')}`);
  }

  // Other shard counts (diagnostic).
  if (s?.shardRuns && s.shardRuns.length > 0) {
    const etcdPut = es?.put?.opsPerSec;
    const etcdGet = es?.get?.opsPerSec;
    const rowsD: string[][] = [];
    const all = [{ shards: r.strataShards, runs: s.runs }, ...s.shardRuns].sort((a, b) => a.shards - b.shards);
    for (const d of all) {
      const put = phaseSummary(d.runs.map((x) => x.put));
      const get = phaseSummary(d.runs.map((x) => x.get));
      if (!put || !get) {
        rowsD.push([String(d.shards), 'FAILED', '', '', '', '', '', '']);
        continue;
      }
      rowsD.push([
        `${d.shards}${d.shards === r.strataShards ? ' (the runs above)' : ''}`,
        fmtInt(put.opsPerSec),
        `${fmtMs(put.p50Ms)} / ${fmtMs(put.p99Ms)}`,
        put.serverCpuUsPerOp.toFixed(0),
        etcdPut === undefined ? '—' : fmtRatio(put.opsPerSec / etcdPut),
        fmtInt(get.opsPerSec),
        get.serverCpuUsPerOp.toFixed(0),
        etcdGet === undefined ? '—' : fmtRatio(get.opsPerSec / etcdGet),
      ]);
    }
    parts.push('### Diagnostic: StrataDB with other shard counts');
    parts.push(
      'The same workload and client on fresh 3-node clusters with other `--shards` (medians of the runs; not part of the bar). Every shard is its own Raft group with its own log, ' +
        'fsynced per Ready: with the 50 ops in flight spread over more groups, each fsync and each replication round carries fewer entries.',
    );
    parts.push(table(['shards', 'puts/s', 'put p50 / p99 ms', 'server CPU µs/put', 'puts vs etcd', 'gets/s', 'server CPU µs/get', 'gets vs etcd'], rowsD));
  }

  // Failover trials.
  const foRows: string[][] = [];
  for (const x of [e, s]) {
    if (!x) continue;
    for (const t of x.failover) {
      foRows.push([
        `${SYSTEM_LABELS[x.system]} ${t.trial}`,
        t.shard !== undefined ? `${t.killed} (shard ${t.shard}; led ${t.shardsLed ?? '?'} shards)` : t.killed,
        t.ok ? fmtInt(t.writeMs) : 'FAILED',
        Number.isFinite(t.leaderMs) ? fmtInt(t.leaderMs) : '—',
        t.terms >= 0 ? `+${t.terms}` : '—',
        String(t.writesBeforeKill),
        String(t.ackedAcrossKill),
        String(t.timeouts),
        Object.entries(t.errorsInWindow).map(([m, c]) => `${c}× ${m.replace(/\|/g, '\\|')}`).join('; ') || (t.error ?? ''),
        Number.isFinite(t.restoreMs) ? (t.restoreMs / 1000).toFixed(1) : '—',
      ]);
    }
  }
  if (foRows.length > 0) {
    parts.push('### Failover trials');
    parts.push(
      'Per trial: the killed process; kill → first acknowledged write sent after the kill (ms); kill → a survivor names another leader (ms); ' +
        'terms the election took; writes acknowledged before the kill; writes sent before the kill but acknowledged after it; writes sent after ' +
        'the kill that hit the client timeout; failed writes in the window by error (digits shown as #); kill → killed process restarted and cluster healthy (s).',
    );
    parts.push(table(['trial', 'killed', 'write ms', 'leader ms', 'terms', 'acked before', 'acked across', 'timeouts', 'errors in the window', 'restore s'], foRows));
  }

  parts.push('### Settings');
  parts.push(r.settings.map((x) => `- ${x}`).join('\n'));
  if (r.notes.length > 0) {
    parts.push('### Notes');
    parts.push(r.notes.map((x) => `- ${x}`).join('\n'));
  }
  const errors = [e, s].flatMap((x) => (x ? x.errors.map((m) => `${SYSTEM_LABELS[x.system]}: ${m}`) : []));
  if (errors.length > 0) parts.push(`### Errors\n\n${errors.map((m) => `- ${m}`).join('\n')}`);
  return parts.join('\n\n') + '\n';
}

// ------------------------------------------------------------------ SVG

const esc = (x: string): string => x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLORS: Record<System, string> = { etcd: '#7f8c8d', strata: '#2e86c1' };

/**
 * Two panels: ops/s (puts, linearizable gets; median bar, each run a dot)
 * and the failover write-unavailability window (median bar, each trial a dot).
 */
export function svgChart(results: Partial<Record<System, SystemResult>>, title: string, subtitle: string): string {
  const systems = (['etcd', 'strata'] as const).filter((x) => results[x] !== undefined);
  const width = 860;
  const height = 370;
  const top = 80;
  const plotH = 220;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="20" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="20" y="40" fill="#555">${esc(subtitle)}</text>`);
  let lx = 20;
  for (const sys of systems) {
    out.push(`<rect x="${lx}" y="50" width="12" height="10" fill="${COLORS[sys]}"/><text x="${lx + 16}" y="59">${esc(SYSTEM_LABELS[sys])}${sys === 'etcd' ? ` ${esc(results.etcd!.version)}` : ''}</text>`);
    lx += 110;
  }
  out.push(`<circle cx="${lx + 5}" cy="55" r="3" fill="#000" fill-opacity="0.6"/><text x="${lx + 14}" y="59">one run / trial</text>`);

  const panel = (x0: number, w: number, label: string, unit: string, groups: Array<{ name: string; values: Partial<Record<System, number[]>> }>) => {
    const all = groups.flatMap((g) => systems.flatMap((sys) => g.values[sys] ?? []));
    const max = Math.max(1, ...all.filter(Number.isFinite)) * 1.15;
    const y = (v: number) => top + plotH - (plotH * v) / max;
    out.push(`<text x="${x0}" y="${top - 8}" font-weight="bold">${esc(label)}</text>`);
    out.push(`<line x1="${x0}" y1="${top + plotH}" x2="${x0 + w}" y2="${top + plotH}" stroke="#333"/>`);
    const step = niceStep(max / 5);
    for (let v = 0; v <= max; v += step) {
      out.push(`<line x1="${x0}" y1="${y(v).toFixed(1)}" x2="${x0 + w}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${x0 - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${fmtInt(v)}</text>`);
    }
    out.push(`<text x="${x0 - 44}" y="${top + plotH / 2}" transform="rotate(-90 ${x0 - 44} ${top + plotH / 2})" text-anchor="middle" fill="#555">${esc(unit)}</text>`);
    const gw = w / groups.length;
    const bw = Math.min(60, (gw - 30) / Math.max(1, systems.length));
    groups.forEach((g, gi) => {
      const gx = x0 + gi * gw + (gw - bw * systems.length) / 2;
      systems.forEach((sys, si) => {
        const vals = (g.values[sys] ?? []).filter(Number.isFinite);
        if (vals.length === 0) return;
        const m = median(vals);
        const bx = gx + si * bw;
        out.push(`<rect x="${bx.toFixed(1)}" y="${y(m).toFixed(1)}" width="${(bw - 4).toFixed(1)}" height="${(top + plotH - y(m)).toFixed(1)}" fill="${COLORS[sys]}"><title>${esc(SYSTEM_LABELS[sys])} ${esc(g.name)}: median ${fmtInt(m)} ${esc(unit)}</title></rect>`);
        // The median above its bar, left of centre; the runs/trials as dots in a column at the bar's right edge.
        out.push(`<text x="${(bx + (bw - 4) * 0.4).toFixed(1)}" y="${(y(m) - 5).toFixed(1)}" text-anchor="middle" font-weight="bold">${fmtInt(m)}</text>`);
        vals.forEach((v, i) => {
          const cx = bx + bw - 10 + (i % 2) * 3;
          out.push(`<circle cx="${cx.toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="#000" fill-opacity="0.55"/>`);
        });
      });
      out.push(`<text x="${(x0 + gi * gw + gw / 2).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${esc(g.name)}</text>`);
      const e = (g.values.etcd ?? []).filter(Number.isFinite);
      const st = (g.values.strata ?? []).filter(Number.isFinite);
      if (e.length > 0 && st.length > 0) {
        out.push(`<text x="${(x0 + gi * gw + gw / 2).toFixed(1)}" y="${top + plotH + 32}" text-anchor="middle" fill="#555">StrataDB / etcd ${fmtRatio(median(st) / median(e))}</text>`);
      }
    });
  };
  const ops = (kind: 'put' | 'get') => Object.fromEntries(systems.map((sys) => [sys, results[sys]!.runs.map((r) => r[kind].opsPerSec)])) as Partial<Record<System, number[]>>;
  panel(80, 400, 'Throughput, 3-node clusters (median of runs)', 'ops/s', [
    { name: 'puts', values: ops('put') },
    { name: 'linearizable gets', values: ops('get') },
  ]);
  const fo = Object.fromEntries(systems.map((sys) => [sys, results[sys]!.failover.filter((t) => t.ok).map((t) => t.writeMs)])) as Partial<Record<System, number[]>>;
  if (systems.some((sys) => (fo[sys] ?? []).length > 0)) {
    panel(600, 220, 'Failover: kill -9 leader → next write', 'ms', [{ name: 'median of trials', values: fo }]);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
