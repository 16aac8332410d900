/**
 * Results of `npm run bench:tsdb` as data, the markdown report and the SVG
 * chart of query medians (hand-written, no dependency).
 */
import type { SeriesIndexResult } from './series-index-bench.js';
import type { TsPlan } from '../../src/tsdb/types.js';
import { fmtOps } from './report.js';
import type { Variant } from './tsdb-data.js';
import type { Comparison } from './tsdb-queries.js';
import type { InProcessIngest, YearResult } from './tsdb-strata.js';

export const TARGETS = ['vm', 'strata-raw', 'strata-auto'] as const;
export type Target = (typeof TARGETS)[number];
export const TARGET_LABELS: Record<Target, string> = {
  vm: 'VictoriaMetrics',
  'strata-raw': "StrataDB level 'raw'",
  'strata-auto': "StrataDB level 'auto'",
};

export interface HttpIngestRun {
  run: number;
  rows: number;
  ms: number;
  rowsPerSec: number;
  valuesPerSec: number;
  /** Values the database counts after the load (should be rows × 10). */
  countedValues: number | undefined;
}

export interface VmDisk {
  data: number;
  index: number;
  total: number;
  bytesPerValue: number;
  settleMs: number;
}

export interface VariantResult {
  variant: Variant;
  rows: number;
  values: number;
  lineProtocolBytes: number;
  generateMs: number;
  vm: { runs: HttpIngestRun[]; disk: VmDisk[]; error?: string } | undefined;
  strataHttp: { runs: HttpIngestRun[]; serverDirBytes: number[]; error?: string } | undefined;
  strataInProcess: { runs: InProcessIngest[]; error?: string } | undefined;
  /** In-process loads with floats rounded (tsbs variant, --like-for-like-digits). */
  strataRounded?: { significantDigits: number; runs: InProcessIngest[]; error?: string };
}

export interface LatencyStats {
  samples: number[];
  medianMs: number;
  p99Ms: number;
  error?: string;
}

export interface QueryResult {
  name: string;
  description: string;
  vmNote: string;
  draws: number;
  rounds: number;
  stats: Partial<Record<Target, LatencyStats>>;
  vmVsRaw?: Comparison;
  rawVsAuto?: Comparison;
  /** The plan StrataDB returned for the first draw at level auto. */
  autoPlan?: TsPlan;
  rawPlan?: TsPlan;
  /** The first draw's requests, for the reader. */
  example: { strata?: unknown; vm?: string };
}

export interface Report {
  date: string;
  envLine: string;
  dataLine: string;
  variants: VariantResult[];
  queryVariant: Variant | undefined;
  queries: QueryResult[];
  year: YearResult | { error: string } | undefined;
  seriesIndex?: SeriesIndexResult | { error: string } | undefined;
  /** Untimed warm-up passes before the timed query rounds. */
  warmup?: number;
  skipped: string[];
  notes: string[];
}

// ------------------------------------------------------------------ helpers

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const fmtMs = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtRatio = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`);
const fmtBytes = (x: number): string => (x >= 2 ** 30 ? `${(x / 2 ** 30).toFixed(2)} GiB` : x >= 2 ** 20 ? `${(x / 2 ** 20).toFixed(1)} MiB` : `${(x / 1024).toFixed(0)} KiB`);
const fmtInt = (n: number) => n.toLocaleString('en-US');

/** A markdown table; `align` has one letter per column, l or r (default: first left, the rest right). */
function table(header: string[], rows: string[][], align?: string): string {
  const a = (i: number) => (align ? align[i] === 'l' : i === 0);
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (a(i) ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

export function describeComparison(c: Comparison | undefined): string {
  if (!c) return '—';
  if (c.onlyA === 0 && c.onlyB === 0 && c.mismatched === 0) {
    return c.common === 0 ? 'both empty' : `agree (${fmtInt(c.common)} values, max rel. diff ${c.maxRelDiff.toExponential(1)})`;
  }
  const parts = [`${fmtInt(c.common)} in both`];
  if (c.mismatched > 0) parts.push(`${fmtInt(c.mismatched)} differ (max rel. diff ${c.maxRelDiff.toExponential(1)})`);
  if (c.onlyA > 0) parts.push(`${fmtInt(c.onlyA)} only in the first`);
  if (c.onlyB > 0) parts.push(`${fmtInt(c.onlyB)} only in the second`);
  return `DIFFER: ${parts.join(', ')}; e.g. ${c.examples.join('; ')}`;
}

const planText = (p: TsPlan | undefined): string =>
  p === undefined
    ? '—'
    : `${p.segments.map((s) => `${s.level} [${new Date(s.fromMs).toISOString()}, ${new Date(s.toMs).toISOString()})`).join(' + ') || '(no segments)'}; ${p.series} series; ${p.reason}`;

// ------------------------------------------------------------------ ingest summaries

export interface IngestSummary {
  rowsPerSec: number;
  valuesPerSec: number;
  runs: number;
}

export function summarizeHttp(runs: HttpIngestRun[] | undefined): IngestSummary | undefined {
  if (!runs || runs.length === 0) return undefined;
  return { rowsPerSec: median(runs.map((r) => r.rowsPerSec)), valuesPerSec: median(runs.map((r) => r.valuesPerSec)), runs: runs.length };
}

export function summarizeInProcess(runs: InProcessIngest[] | undefined): { parseWrite: IngestSummary; writeOnly: IngestSummary; bytesPerValue: number; disk: number } | undefined {
  if (!runs || runs.length === 0) return undefined;
  const rows = runs[0]!.rows;
  const pw = median(runs.map((r) => r.parseWriteValuesPerSec));
  const wo = median(runs.map((r) => r.writeValuesPerSec));
  const values = runs[0]!.values;
  return {
    parseWrite: { valuesPerSec: pw, rowsPerSec: (pw * rows) / values, runs: runs.length },
    writeOnly: { valuesPerSec: wo, rowsPerSec: (wo * rows) / values, runs: runs.length },
    bytesPerValue: median(runs.map((r) => r.bytesPerValue)),
    disk: median(runs.map((r) => r.disk.apparent)),
  };
}

// ------------------------------------------------------------------ markdown

export function markdown(r: Report, concurrency: number): string {
  const parts: string[] = [];
  parts.push(`### StrataDB vs VictoriaMetrics: time series (TSBS-like cpu-only) — ${r.date}`);
  parts.push(r.envLine);
  parts.push(r.dataLine);

  // Ingest.
  const ingestRows: string[][] = [];
  for (const v of r.variants) {
    const vm = summarizeHttp(v.vm?.runs);
    const sh = summarizeHttp(v.strataHttp?.runs);
    const ip = summarizeInProcess(v.strataInProcess?.runs);
    const row = (db: string, path: string, s: IngestSummary | undefined, err: string | undefined, note = '') =>
      ingestRows.push([v.variant, db, path, s ? fmtOps(s.rowsPerSec) : err ? 'FAILED' : '—', s ? fmtOps(s.valuesPerSec) : '—', s ? String(s.runs) : '0', err ? `${note}${note ? '; ' : ''}${err}` : note]);
    if (v.vm) row('VictoriaMetrics', `HTTP /write, ${concurrency} in flight`, vm, v.vm.error, 'answered 204: accepted, not yet flushed');
    if (v.strataHttp) row('StrataDB', `HTTP /v1/ts/write, ${concurrency} in flight`, sh, v.strataHttp.error, 'answered 204: durable (periodic fsync)');
    if (v.strataInProcess) {
      row('StrataDB', 'in-process parse + write', ip?.parseWrite, v.strataInProcess.error, 'parseLineProtocolColumns + store.writeColumns (the HTTP routes\' path), one batch at a time');
      row('StrataDB', 'in-process write only', ip?.writeOnly, v.strataInProcess.error, 'store.write time alone, points parsed beforehand');
    }
    if (vm && sh) ingestRows.push([v.variant, '', 'StrataDB HTTP ÷ VictoriaMetrics', fmtRatio(sh.rowsPerSec / vm.rowsPerSec), '', '', '']);
  }
  if (ingestRows.length > 0) {
    parts.push('#### Ingest (median over runs; values = rows × 10 fields)');
    parts.push(table(['variant', 'database', 'path', 'rows/s', 'values/s', 'runs', 'note'], ingestRows, 'lllrrrl'));
    const checks: string[] = [];
    for (const v of r.variants) {
      for (const [label, runs] of [
        ['VictoriaMetrics', v.vm?.runs],
        ['StrataDB HTTP', v.strataHttp?.runs],
      ] as const) {
        for (const run of runs ?? []) {
          if (run.countedValues !== undefined && run.countedValues !== v.values) checks.push(`${v.variant} ${label} run ${run.run}: counts ${fmtInt(run.countedValues)} values, expected ${fmtInt(v.values)}`);
        }
      }
      for (const run of [...(v.strataInProcess?.runs ?? []), ...(v.strataRounded?.runs ?? [])]) {
        if (run.countedValues !== undefined && run.countedValues !== v.values) checks.push(`${v.variant} StrataDB in-process: counts ${fmtInt(run.countedValues)} values, expected ${fmtInt(v.values)}`);
      }
    }
    parts.push(
      checks.length === 0
        ? 'Every load was checked by counting the values back (count over the whole range): all complete.'
        : `COUNT CHECK FAILED: ${checks.join('; ')}`,
    );
  }

  // Disk.
  const diskRows: string[][] = [];
  for (const v of r.variants) {
    const vmd = v.vm?.disk ?? [];
    const vmBpv = vmd.length > 0 ? median(vmd.map((d) => d.bytesPerValue)) : undefined;
    const vmData = vmd.length > 0 ? median(vmd.map((d) => d.data)) / v.values : undefined;
    const vmIndex = vmd.length > 0 ? median(vmd.map((d) => d.index)) / v.values : undefined;
    const ip = summarizeInProcess(v.strataInProcess?.runs);
    const srv = v.strataHttp?.serverDirBytes ?? [];
    diskRows.push([
      v.variant,
      (v.lineProtocolBytes / v.values).toFixed(1),
      vmBpv !== undefined ? `${vmBpv.toFixed(3)} (${vmData!.toFixed(3)} + ${vmIndex!.toFixed(3)})` : '—',
      ip ? ip.bytesPerValue.toFixed(3) : '—',
      vmBpv !== undefined && ip ? fmtRatio(vmBpv / ip.bytesPerValue) : '—',
      srv.length > 0 ? (median(srv) / v.values).toFixed(3) : '—',
    ]);
    const rounded = v.strataRounded && v.strataRounded.runs.length > 0 ? v.strataRounded : undefined;
    if (rounded) {
      const bpv = median(rounded.runs.map((x) => x.bytesPerValue));
      diskRows.push([
        `${v.variant}, StrataDB floats rounded to ${rounded.significantDigits} digits`,
        '',
        vmBpv !== undefined ? vmBpv.toFixed(3) : '—',
        bpv.toFixed(3),
        vmBpv !== undefined ? fmtRatio(vmBpv / bpv) : '—',
        '',
      ]);
    }
  }
  if (diskRows.length > 0) {
    parts.push('#### Bytes on disk per field value');
    parts.push(
      table(
        ['variant', 'line protocol B/value', 'VictoriaMetrics B/value (data + indexdb)', 'StrataDB B/value (flush + compact)', 'VictoriaMetrics ÷ StrataDB', 'StrataDB server dir B/value (after load + stop, no compact)'],
        diskRows,
      ),
    );
    parts.push(
      'VictoriaMetrics: /internal/force_flush, /internal/force_merge, then /metrics polled until no merge runs, no row is pending and the ' +
        'storage dir size holds still; apparent file sizes of the whole -storageDataPath (data/ holds the samples, indexdb/ the series index; ' +
        'the total also counts cache/ and metadata). StrataDB: store.flush(), store.compact(), close, apparent file sizes of its directory. ' +
        'VictoriaMetrics stores one sample per metric (cpu_usage_user, …), so per field value is the like-for-like unit.',
    );
    for (const v of r.variants) {
      const rounded = v.strataRounded;
      if (!rounded) continue;
      if (rounded.error) {
        parts.push(`${v.variant}, floats rounded: FAILED: ${rounded.error}`);
        continue;
      }
      const errs = rounded.runs.map((x) => x.rounding?.maxRelError ?? NaN);
      parts.push(
        `Equal precision (${v.variant}): StrataDB stores floats exactly by default. VictoriaMetrics keeps a value to a relative error of up to 1e-12 ` +
          `(it converts each float to a decimal of 12 to 14 significant digits; see "Answers compared" below for what it returned). The row ` +
          `"floats rounded to ${rounded.significantDigits} digits" is StrataDB with the measurement's opt-in float rounding ` +
          `(PUT /v1/ts/rounding/cpu {"significantDigits": ${rounded.significantDigits}}), whose bound is 5e-${rounded.significantDigits}; ` +
          `measured against the line protocol's values over the first batch of each run: max relative error ${errs.map((e) => e.toExponential(2)).join(', ')}.`,
      );
    }
  }

  // Queries.
  if (r.queries.length > 0) {
    parts.push(`#### Queries over HTTP (variant ${r.queryVariant ?? '—'}; latency ms from request to last response byte, median and p99 over rounds × draws)`);
    const header = ['query'];
    for (const t of TARGETS) header.push(`${TARGET_LABELS[t]} median`, 'p99');
    header.push('VictoriaMetrics ÷ StrataDB auto (median)', 'samples');
    const rows = r.queries.map((q) => {
      const row = [q.name];
      for (const t of TARGETS) {
        const s = q.stats[t];
        row.push(s?.error ? 'FAILED' : fmtMs(s?.medianMs), s?.error ? '' : fmtMs(s?.p99Ms));
      }
      const vm = q.stats.vm;
      const auto = q.stats['strata-auto'];
      row.push(vm && auto && !vm.error && !auto.error ? fmtRatio(vm.medianMs / auto.medianMs) : '—');
      row.push(`${q.rounds} × ${q.draws}`);
      return row;
    });
    parts.push(table(header, rows));
    parts.push(
      'Ratios above 1× mean StrataDB answered faster. Each round runs every draw on every target (target order rotated per round) after ' +
        `one untimed pass whose answers are compared below, then ${r.warmup ?? 0} more untimed warm-up pass(es) over every draw on every target. With few samples p99 is close to the maximum. ` +
        'Both are asked with GET, the query in the URL: VictoriaMetrics /api/v1/query_range (or /api/v1/query), StrataDB /v1/ts/query?q=<the query as JSON> ' +
        '(POST with a JSON body when the URL would pass 8 KiB).',
    );
    parts.push('Query types (TSBS names):');
    parts.push(r.queries.map((q) => `- **${q.name}**: ${q.description}.${q.vmNote ? ` VictoriaMetrics: ${q.vmNote}.` : ''}`).join('\n'));
    parts.push('#### Answers compared (all warm-up draws)');
    parts.push(
      table(
        ['query', 'VictoriaMetrics vs StrataDB raw', "StrataDB raw vs auto"],
        r.queries.map((q) => [q.name, describeComparison(q.vmVsRaw), describeComparison(q.rawVsAuto)]),
        'lll',
      ),
    );
    parts.push(
      'Keys are field × hostname × bucket start (raw: point time). VictoriaMetrics is evaluated at bucket start + width − 1 ms with a ' +
        'lookbehind window of the bucket width, which selects exactly the samples of StrataDB\'s [start, start + width) bucket; ' +
        `values agree when within ${'1e-9'} relative (VictoriaMetrics keeps 12 significant digits per value, so the tsbs variant differs in the last digits).`,
    );
    const planLines = r.queries.filter((q) => q.autoPlan).map((q) => `- ${q.name}: ${planText(q.autoPlan)}`);
    if (planLines.length > 0) {
      parts.push("StrataDB plans at level 'auto' (first draw):");
      parts.push(planLines.join('\n'));
    }
  }

  // The series index.
  if (r.seriesIndex) {
    parts.push('#### Series index (in-process)');
    if ('error' in r.seriesIndex) parts.push(`FAILED: ${r.seriesIndex.error}`);
    else {
      const x = r.seriesIndex;
      parts.push(
        [
          `${x.series.toLocaleString()} series of one measurement (4 tags: instance unique, region 10 values, az 30, job 100), one point each, written through store.write in batches of 10,000: ` +
            `${Math.round(x.createSeriesPerSec).toLocaleString()} new series/s. Reopen (index rebuilt from the series records): ${fmtMs(x.reopenMs)} ms; heap held by the reopened store (after full collections) ${x.heapMiB.toFixed(0)} MiB (${Math.round((x.heapMiB * 2 ** 20) / x.series)} bytes a series).`,
          '',
          '| selector | series matched | median ms (7 runs) |',
          '| --- | ---: | ---: |',
          ...x.selections.map((sel) => `| ${sel.name.replace(/\|/g, '\\|')} | ${sel.matched.toLocaleString()} | ${fmtMs(sel.medianMs)} |`),
        ].join('\n'),
      );
    }
  }

  // One year.
  if (r.year) {
    parts.push('#### One series, one year: daily averages (in-process)');
    if ('error' in r.year) parts.push(`FAILED: ${r.year.error}`);
    else {
      const y = r.year;
      parts.push(
        `${fmtInt(y.points)} points (one per 10 min for 365 days) written in ${fmtMs(y.writeMs)} ms, flushed in ${fmtMs(y.flushMs)} ms; ` +
          `avg by 1 day over the year (${y.auto.buckets} buckets), ${y.repetitions} timed repetitions per level.`,
      );
      parts.push(
        table(
          ['level', 'median ms', 'p99 ms', 'plan'],
          [
            ['auto', fmtMs(y.auto.medianMs), fmtMs(y.auto.p99Ms), planText(y.auto.plan)],
            ['raw', fmtMs(y.raw.medianMs), fmtMs(y.raw.p99Ms), planText(y.raw.plan)],
          ],
          'lrrl',
        ),
      );
      parts.push(
        `Bar: level auto < 10 ms — ${y.auto.medianMs < 10 ? 'PASS' : 'FAIL'} (${fmtMs(y.auto.medianMs)} ms; raw ${fmtMs(y.raw.medianMs)} ms, ` +
          `${fmtRatio(y.raw.medianMs / y.auto.medianMs)} slower). Largest |auto − raw| daily average: ${Number.isFinite(y.maxAbsDiff) ? y.maxAbsDiff.toExponential(2) : 'answers differ in shape'}.`,
      );
    }
  }

  parts.push(barCheck(r));

  if (r.skipped.length > 0) parts.push(`#### Not measured\n\n${r.skipped.map((s) => `- ${s}`).join('\n')}`);
  if (r.notes.length > 0) parts.push(`#### Notes\n\n${r.notes.map((s) => `- ${s}`).join('\n')}`);
  return parts.join('\n\n') + '\n';
}

// ------------------------------------------------------------------ SVG

const COLORS: Record<Target, string> = { vm: '#7b4fbf', 'strata-raw': '#9ecae1', 'strata-auto': '#1f77b4' };
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Grouped horizontal bars: per query, one bar per target, length = median ms on a log scale. */
export function svgChart(r: Report, title: string, subtitle: string): string {
  const rows: Array<{ label: string; bars: Array<{ t: Target; ms: number; p99: number }> }> = r.queries.map((q) => ({
    label: q.name,
    bars: TARGETS.filter((t) => q.stats[t] && !q.stats[t]!.error && Number.isFinite(q.stats[t]!.medianMs)).map((t) => ({ t, ms: q.stats[t]!.medianMs, p99: q.stats[t]!.p99Ms })),
  }));
  if (r.year && !('error' in r.year)) {
    rows.push({
      label: 'year-daily-avg (in-process)',
      bars: [
        { t: 'strata-raw', ms: r.year.raw.medianMs, p99: r.year.raw.p99Ms },
        { t: 'strata-auto', ms: r.year.auto.medianMs, p99: r.year.auto.p99Ms },
      ],
    });
  }
  const all = rows.flatMap((g) => g.bars.map((b) => b.ms)).filter((x) => x > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(1, ...all))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(10, ...all))));
  const left = 200;
  const plotW = 520;
  const right = 200;
  const barH = 13;
  const gap = 12;
  const top = 78;
  const groupH = (g: { bars: unknown[] }) => Math.max(1, g.bars.length) * barH + gap;
  const height = top + rows.reduce((a, g) => a + groupH(g), 0) + 34;
  const width = left + plotW + right;
  const x = (v: number) => left + (plotW * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${left}" y="36" fill="#555">${esc(subtitle)}</text>`);
  let lx = left;
  for (const t of TARGETS) {
    out.push(`<rect x="${lx}" y="46" width="12" height="10" fill="${COLORS[t]}"/><text x="${lx + 16}" y="55">${esc(TARGET_LABELS[t])}</text>`);
    lx += 40 + TARGET_LABELS[t].length * 6;
  }
  out.push(`<text x="${lx}" y="55" fill="#555">median ms (log scale; shorter is faster)</text>`);
  const bottom = height - 30;
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    for (const k of [1, 2, 5]) {
      const v = d * k;
      if (v > hi * 1.0001) break;
      out.push(`<line x1="${x(v).toFixed(1)}" y1="${top - 6}" x2="${x(v).toFixed(1)}" y2="${bottom}" stroke="${k === 1 ? '#ccc' : '#eee'}"/>`);
      if (k === 1) out.push(`<text x="${x(v).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" fill="#555">${v >= 1 ? v : v.toPrecision(1)} ms</text>`);
    }
  }
  let gy = top;
  for (const g of rows) {
    out.push(`<text x="${left - 8}" y="${gy + (Math.max(1, g.bars.length) * barH) / 2 + 4}" text-anchor="end" font-weight="bold">${esc(g.label)}</text>`);
    if (g.bars.length === 0) out.push(`<text x="${left + 4}" y="${gy + barH - 3}" fill="#999">no data</text>`);
    g.bars.forEach((b, i) => {
      const y = gy + i * barH;
      const x1 = x(b.ms);
      out.push(
        `<rect x="${left}" y="${y + 1}" width="${Math.max(1, x1 - left).toFixed(1)}" height="${barH - 2}" fill="${COLORS[b.t]}"><title>${esc(`${TARGET_LABELS[b.t]} ${g.label}: median ${fmtMs(b.ms)} ms, p99 ${fmtMs(b.p99)} ms`)}</title></rect>`,
      );
      out.push(`<text x="${(x1 + 4).toFixed(1)}" y="${y + barH - 3}">${esc(`${fmtMs(b.ms)} ms`)}</text>`);
    });
    gy += groupH(g);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export { fmtBytes, fmtInt, fmtMs, fmtRatio };

// ------------------------------------------------------------------ bar check

/** The issue's bars, each PASS or FAIL from the medians above ("—" where not measured). */
export function barCheck(r: Report): string {
  const lines: string[] = [];
  const bar = (ok: boolean | undefined, text: string) => lines.push(`- ${ok === undefined ? '—   ' : ok ? 'PASS' : 'FAIL'}  ${text}`);
  for (const v of r.variants) {
    const vm = summarizeHttp(v.vm?.runs);
    const sh = summarizeHttp(v.strataHttp?.runs);
    bar(vm && sh ? sh.rowsPerSec >= vm.rowsPerSec : undefined, `${v.variant} HTTP ingest StrataDB ÷ VictoriaMetrics ≥ 1: ${vm && sh ? fmtRatio(sh.rowsPerSec / vm.rowsPerSec) : '—'}`);
    const ip = summarizeInProcess(v.strataInProcess?.runs);
    bar(ip ? ip.parseWrite.valuesPerSec >= 1e6 : undefined, `${v.variant} in-process parse + write ≥ 1,000,000 values/s: ${ip ? fmtOps(ip.parseWrite.valuesPerSec) : '—'}`);
    const vmd = v.vm?.disk ?? [];
    const vmBpv = vmd.length > 0 ? median(vmd.map((d) => d.bytesPerValue)) : undefined;
    const exact = ip && vmBpv !== undefined ? vmBpv / ip.bytesPerValue : undefined;
    const rounded = v.strataRounded && v.strataRounded.runs.length > 0 ? v.strataRounded : undefined;
    if (rounded && vmBpv !== undefined) {
      const ratio = vmBpv / median(rounded.runs.map((x) => x.bytesPerValue));
      bar(
        ratio >= 1,
        `${v.variant} bytes per value VictoriaMetrics ÷ StrataDB ≥ 1 at equal precision (StrataDB at ${rounded.significantDigits} digits): ${fmtRatio(ratio)}; ` +
          `exact floats (the default): ${exact !== undefined ? fmtRatio(exact) : '—'}`,
      );
    } else bar(exact !== undefined ? exact >= 1 : undefined, `${v.variant} bytes per value VictoriaMetrics ÷ StrataDB ≥ 1: ${exact !== undefined ? fmtRatio(exact) : '—'}`);
  }
  for (const q of r.queries) {
    const vm = q.stats.vm;
    const auto = q.stats['strata-auto'];
    const ok = vm && auto && !vm.error && !auto.error ? auto.medianMs <= vm.medianMs : undefined;
    bar(ok, `${q.name} median StrataDB ≤ VictoriaMetrics: ${ok === undefined ? '—' : `${fmtMs(auto!.medianMs)} vs ${fmtMs(vm!.medianMs)} ms (${fmtRatio(vm!.medianMs / auto!.medianMs)})`}`);
  }
  if (r.year && !('error' in r.year)) bar(r.year.auto.medianMs < 10, `one-year daily average from rollups < 10 ms: ${fmtMs(r.year.auto.medianMs)} ms`);
  return `#### Bar check\n\n${lines.join('\n')}`;
}
