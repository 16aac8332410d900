/**
 * Aggregation of raw runs into medians, the markdown tables, the bar check
 * and the SVG chart (hand-written, no dependency).
 */
import { DEFAULT_OPTIONS } from '../../src/index.js';
import { ENGINE_LABELS, WORKLOADS } from './config.js';
import type { BenchConfig, EngineName, WorkloadName } from './config.js';
import type { RunResult } from './workloads.js';

export interface Summary {
  runs: number;
  failedRuns: number;
  errors: string[];
  opsPerSec: number;
  usPerOp: number;
  /** Max over runs of the sampled peak RSS, and that run's pre-open baseline. */
  peakRssBytes: number;
  baselineRssBytes: number;
  eldP99Ms: number;
  eldMaxMs: number;
  writeAmp: number | null;
  spaceAmp: number | null;
  concurrentWritesPerSec: number | null;
}

export type Medians = Partial<Record<WorkloadName, Partial<Record<EngineName, Summary>>>>;

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const medianOrNull = (xs: Array<number | null | undefined>): number | null => {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length === 0 ? null : median(v);
};

export function summarize(results: RunResult[]): Summary | undefined {
  if (results.length === 0) return undefined;
  const good = results.filter((r) => r.ok);
  const use = good.length > 0 ? good : results;
  let peak = use[0]!;
  for (const r of use) if (r.rss.peakBytes > peak.rss.peakBytes) peak = r;
  return {
    runs: results.length,
    failedRuns: results.length - good.length,
    errors: results.filter((r) => !r.ok).map((r) => `run ${r.run}: ${r.error ?? 'failed'}`),
    opsPerSec: median(use.map((r) => r.opsPerSec)),
    usPerOp: median(use.map((r) => r.usPerOp)),
    peakRssBytes: peak.rss.peakBytes,
    baselineRssBytes: peak.rss.baselineBytes,
    eldP99Ms: median(use.map((r) => r.eventLoopDelay.p99Ms)),
    eldMaxMs: Math.max(...use.map((r) => r.eventLoopDelay.maxMs)),
    writeAmp: medianOrNull(use.map((r) => r.writeAmp)),
    spaceAmp: medianOrNull(use.map((r) => r.spaceAmp)),
    concurrentWritesPerSec: medianOrNull(use.map((r) => r.concurrentWritesPerSec)),
  };
}

export function aggregate(cfg: BenchConfig, runs: RunResult[]): Medians {
  const out: Medians = {};
  for (const w of cfg.workloads) {
    const row: Partial<Record<EngineName, Summary>> = {};
    for (const e of cfg.engines) {
      const s = summarize(runs.filter((r) => r.kind === 'run' && r.workload === w && r.engine === e));
      if (s) row[e] = s;
    }
    out[w] = row;
  }
  return out;
}

// ------------------------------------------------------------------ formatting

const MB = 1024 * 1024;

export function fmtOps(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

function fmtUs(x: number): string {
  if (!Number.isFinite(x)) return '—';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

const fmtRatio = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`);
const fmtAmp = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x.toFixed(2));
const fmtMB = (b: number): string => (b / MB).toFixed(0);
const fmtMs = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

function cell(s: Summary | undefined, f: (s: Summary) => string): string {
  if (!s) return '—';
  if (s.failedRuns === s.runs) return 'FAILED';
  return f(s) + (s.failedRuns > 0 ? ' (!)' : '');
}

export function ratio(m: Medians, w: WorkloadName, a: EngineName, b: EngineName): number | undefined {
  const x = m[w]?.[a];
  const y = m[w]?.[b];
  if (!x || !y || x.failedRuns === x.runs || y.failedRuns === y.runs) return undefined;
  return x.opsPerSec / y.opsPerSec;
}

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

export interface BaseLoad {
  engine: EngineName;
  result: RunResult;
}

export function markdown(cfg: BenchConfig, m: Medians, bases: BaseLoad[], envLine: string): string {
  const engines = cfg.engines;
  const parts: string[] = [];
  parts.push(
    `### Engine benchmark — N=${cfg.num.toLocaleString('en-US')}, ${cfg.keySize}-byte keys, ${cfg.valueSize}-byte values, ` +
      `cache ${(cfg.cacheSize / MB).toFixed(0)} MiB, write buffer ${(cfg.writeBufferSize / MB).toFixed(0)} MiB, median of ${cfg.runs} run(s)` +
      (cfg.yieldMs > 0 ? `, loops yield to the event loop every ${cfg.yieldMs} ms` : ''),
  );
  parts.push(envLine);
  parts.push(
    'Method: each engine × workload × run is a fresh child process on a fresh directory; sync:false (no fsync) except fillsync. ' +
      'overwrite, the reads, deleterandom and readwhilewriting start from a copy of a per-engine base DB: random-order load in ' +
      'batches of 1,000, then close and reopen (both LSMs rebuild from on-disk state), wait until nothing is written for 1 s, close. ' +
      'Keys and op orders are generated before timing; one await per op (readrandom16: one Promise.all per 16 gets; fillbatch: ' +
      'one per 1,000-key batch; seekrandom: one per seek + 10 nexts; scans: one per 1,000 entries for the LSMs, none for lmdb, ' +
      'whose getRange is synchronous).',
  );

  const header = ['workload'];
  for (const e of engines) header.push(`${ENGINE_LABELS[e]} ops/s`, 'µs/op');
  const ratioEngines = engines.filter((e) => e !== 'strata');
  if (engines.includes('strata')) for (const e of ratioEngines) header.push(`StrataDB / ${ENGINE_LABELS[e]}`);
  const rows: string[][] = [];
  for (const w of cfg.workloads) {
    const row: string[] = [w];
    for (const e of engines) {
      const s = m[w]?.[e];
      row.push(cell(s, (x) => fmtOps(x.opsPerSec)), cell(s, (x) => fmtUs(x.usPerOp)));
    }
    if (engines.includes('strata')) for (const e of ratioEngines) row.push(fmtRatio(ratio(m, w, 'strata', e)));
    rows.push(row);
  }
  parts.push(table(header, rows));

  const rww = m.readwhilewriting;
  if (rww) {
    const notes = engines
      .map((e) => (rww[e]?.concurrentWritesPerSec != null ? `${ENGINE_LABELS[e]} ${fmtOps(rww[e]!.concurrentWritesPerSec!)} puts/s` : undefined))
      .filter((x) => x !== undefined);
    if (notes.length > 0) parts.push(`readwhilewriting: writer loop completed, while the reads ran: ${notes.join(', ')}.`);
  }

  // Resources.
  const rh = ['workload'];
  for (const e of engines) rh.push(`${ENGINE_LABELS[e]} peak RSS MB (Δ)`);
  for (const e of engines) rh.push(`${ENGINE_LABELS[e]} loop delay p99 / max ms`);
  const rr: string[][] = [];
  for (const w of cfg.workloads) {
    const row: string[] = [w];
    for (const e of engines) row.push(cell(m[w]?.[e], (s) => `${fmtMB(s.peakRssBytes)} (${fmtMB(s.peakRssBytes - s.baselineRssBytes)})`));
    for (const e of engines) row.push(cell(m[w]?.[e], (s) => `${fmtMs(s.eldP99Ms)} / ${fmtMs(s.eldMaxMs)}`));
    rr.push(row);
  }
  parts.push(
    'Peak RSS: max over runs of process RSS sampled every 50 ms in the child process; Δ = peak minus the RSS before the engine opened ' +
      '(Node + the pre-generated key arrays). Loop delay: perf_hooks.monitorEventLoopDelay (1 ms resolution) over the timed loop.',
  );
  parts.push(table(rh, rr));

  // Amplification.
  const ah = ['workload'];
  for (const e of engines) ah.push(`${ENGINE_LABELS[e]} write amp`);
  for (const e of engines) ah.push(`${ENGINE_LABELS[e]} space amp`);
  const ar: string[][] = [];
  if (bases.length > 0) {
    const row = ['bulk load (base of read workloads)'];
    for (const e of engines) row.push(fmtAmp(bases.find((b) => b.engine === e)?.result.writeAmp));
    for (const e of engines) row.push(fmtAmp(bases.find((b) => b.engine === e)?.result.spaceAmp));
    ar.push(row);
  }
  for (const w of cfg.workloads) {
    if (!WORKLOADS[w].writes) continue;
    const row: string[] = [w];
    for (const e of engines) row.push(cell(m[w]?.[e], (s) => fmtAmp(s.writeAmp)));
    for (const e of engines) row.push(cell(m[w]?.[e], (s) => fmtAmp(s.spaceAmp)));
    ar.push(row);
  }
  if (ar.length > 0) {
    parts.push(
      'Write amp: /proc/self/io write_bytes from the first op through a 1 s-quiet settle wait and close, ÷ logical bytes written ' +
        '(keys + values). Space amp: allocated bytes in the DB directory after close ÷ logical bytes of the live keys.',
    );
    parts.push(table(ah, ar));
  }
  const strataBase = bases.find((b) => b.engine === 'strata');
  const levelBase = bases.find((b) => b.engine === 'leveldb');
  const notes: string[] = [];
  if (strataBase) notes.push(`StrataDB stats().writeAmplification after the bulk load: ${fmtAmp(strataBase.result.engineStats.writeAmplification as number)}`);
  if (levelBase && typeof levelBase.result.engineStats.tableWriteMB === 'number') {
    notes.push(`classic-level leveldb.stats table writes (flush + compaction, no WAL) after the bulk load: ${levelBase.result.engineStats.tableWriteMB} MB`);
  }
  if (notes.length > 0) parts.push(notes.join('; ') + '.');
  return parts.join('\n\n');
}

// ------------------------------------------------------------------ bar check

export interface BarLine {
  pass: boolean;
  text: string;
}

export function barCheck(cfg: BenchConfig, m: Medians, bases: BaseLoad[], failures: string[]): BarLine[] {
  const lines: BarLine[] = [];
  const both = cfg.engines.includes('strata') && cfg.engines.includes('leveldb');
  if (both) {
    for (const w of cfg.workloads) {
      const r = ratio(m, w, 'strata', 'leveldb');
      const need = WORKLOADS[w].bar;
      lines.push({
        pass: r !== undefined && r >= need,
        text: `${w.padEnd(17)} StrataDB / classic-level ${fmtRatio(r).padStart(7)} ≥ ${need.toFixed(1)}`,
      });
    }
    const sb = bases.find((b) => b.engine === 'strata')?.result.spaceAmp;
    const lb = bases.find((b) => b.engine === 'leveldb')?.result.spaceAmp;
    let sa = sb;
    let la = lb;
    let where = 'bulk load';
    if (sa == null || la == null) {
      for (const w of cfg.workloads) {
        if (!WORKLOADS[w].writes) continue;
        const s = m[w]?.strata?.spaceAmp;
        const l = m[w]?.leveldb?.spaceAmp;
        if (s != null && l != null) {
          sa = s;
          la = l;
          where = w;
          break;
        }
      }
    }
    if (sa != null && la != null) {
      lines.push({ pass: sa <= la, text: `space amp (${where}) StrataDB ${sa.toFixed(2)} ≤ classic-level ${la.toFixed(2)}` });
    } else {
      lines.push({ pass: false, text: 'space amp: not measured (needs a load or fill workload on both engines)' });
    }
  }
  if (cfg.engines.includes('strata')) {
    let worst = 0;
    let worstW = '';
    const over: string[] = [];
    let rssWorst = 0;
    let rssAbs = 0;
    let rssW = '';
    let measured = 0;
    for (const w of cfg.workloads) {
      const s = m[w]?.strata;
      if (!s || s.failedRuns === s.runs) continue;
      measured++;
      if (s.eldMaxMs > worst) {
        worst = s.eldMaxMs;
        worstW = w;
      }
      if (s.eldMaxMs >= 50) over.push(`${w} ${fmtMs(s.eldMaxMs)}`);
      const d = s.peakRssBytes - s.baselineRssBytes;
      if (d > rssWorst) {
        rssWorst = d;
        rssAbs = s.peakRssBytes;
        rssW = w;
      }
    }
    if (measured === 0) {
      lines.push({ pass: false, text: 'event-loop delay and peak RSS: no successful StrataDB run to judge' });
    } else {
      lines.push({
        pass: worst < 50,
        text: `event-loop delay max < 50 ms: StrataDB worst ${fmtMs(worst)} ms (${worstW})${over.length > 0 ? `; ≥ 50 ms in: ${over.join(', ')}` : ''}`,
      });
      // StrataDB's write buffers: up to maxWriteBufferNumber memtables of writeBufferSize each.
      const writeBuffers = DEFAULT_OPTIONS.maxWriteBufferNumber;
      const budget = cfg.cacheSize + writeBuffers * cfg.writeBufferSize + 150 * MB;
      lines.push({
        pass: rssWorst <= budget,
        text:
          `peak RSS ≤ cache + ${writeBuffers} write buffers + 150 MB = ${fmtMB(budget)} MB: StrataDB worst ${fmtMB(rssWorst)} MB above its pre-open baseline ` +
          `(${rssW}; ${fmtMB(rssAbs)} MB absolute, which includes Node and the harness's key arrays)`,
      });
    }
  }
  lines.push({
    pass: failures.length === 0,
    text:
      failures.length === 0
        ? 'correctness guards: every run completed and found what it should'
        : `runs that failed or tripped a correctness guard: ${failures.join('; ')}`,
  });
  return lines;
}

// ------------------------------------------------------------------ SVG

const COLORS: Record<EngineName, string> = { strata: '#1f77b4', leveldb: '#8c8c8c', lmdb: '#e6862e' };

/** The smallest 1, 2 or 5 × 10^k at or above x (x > 0). */
function niceUp(x: number): number {
  const d = Math.pow(10, Math.floor(Math.log10(x)));
  for (const k of [1, 2, 5, 10]) if (d * k >= x * 0.9999) return d * k;
  return d * 10;
}

/** The largest 1, 2 or 5 × 10^k at or below x (x > 0). */
function niceDown(x: number): number {
  const d = Math.pow(10, Math.floor(Math.log10(x)));
  for (const k of [5, 2, 1]) if (d * k <= x * 1.0001) return d * k;
  return d;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Grouped horizontal bars: per workload one bar per engine, length = median
 * ops/s normalised to classic-level = 1.0 on a log scale, labelled with the
 * ratio and the absolute ops/s.
 */
export function svgChart(cfg: BenchConfig, m: Medians, title: string, subtitle: string): string {
  const engines = cfg.engines;
  const refEngine: EngineName = engines.includes('leveldb') ? 'leveldb' : engines[0]!;
  const workloads = cfg.workloads.filter((w) => m[w]?.[refEngine] !== undefined);
  const values: number[] = [];
  for (const w of workloads) {
    for (const e of engines) {
      const r = ratio(m, w, e, refEngine);
      if (r !== undefined && r > 0) values.push(r);
    }
  }
  const lo = niceDown(Math.min(0.5, ...values));
  const hi = niceUp(Math.max(2, ...values));
  const left = 130;
  const plotW = 560;
  const right = 190;
  const barH = 13;
  const groupGap = 12;
  const top = 78;
  const groupH = engines.length * barH + groupGap;
  const height = top + workloads.length * groupH + 40;
  const width = left + plotW + right;
  const x = (v: number) => left + (plotW * (Math.log10(v) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${left}" y="36" fill="#555">${esc(subtitle)}</text>`);
  // Legend.
  let lx = left;
  for (const e of engines) {
    out.push(`<rect x="${lx}" y="46" width="12" height="10" fill="${COLORS[e]}"/>`);
    out.push(`<text x="${lx + 16}" y="55">${esc(ENGINE_LABELS[e])}</text>`);
    lx += 30 + ENGINE_LABELS[e].length * 7;
  }
  out.push(`<text x="${lx + 10}" y="55" fill="#555">median ops/s ÷ ${esc(ENGINE_LABELS[refEngine])} (log scale)</text>`);
  // Grid: 1-2-5 steps, decades darker.
  const plotBottom = top + workloads.length * groupH - groupGap + 6;
  for (let d = Math.pow(10, Math.floor(Math.log10(lo) + 1e-9)); d <= hi * 1.0001; d *= 10) {
    for (const k of [1, 2, 5]) {
      const v = d * k;
      if (v < lo * 0.9999) continue;
      if (v > hi * 1.0001) break;
      const isRef = Math.abs(v - 1) < 1e-9;
      out.push(
        `<line x1="${x(v).toFixed(1)}" y1="${top - 6}" x2="${x(v).toFixed(1)}" y2="${plotBottom}" stroke="${isRef ? '#333' : k === 1 ? '#ccc' : '#eee'}" stroke-width="${isRef ? 1.5 : 1}"/>`,
      );
      if (k === 1 || hi / lo <= 200) {
        out.push(`<text x="${x(v).toFixed(1)}" y="${plotBottom + 14}" text-anchor="middle" fill="#555">${v >= 1 ? v : v.toPrecision(1)}×</text>`);
      }
    }
  }
  workloads.forEach((w, gi) => {
    const gy = top + gi * groupH;
    out.push(`<text x="${left - 8}" y="${gy + (engines.length * barH) / 2 + 4}" text-anchor="end" font-weight="bold">${esc(w)}</text>`);
    engines.forEach((e, bi) => {
      const y = gy + bi * barH;
      const s = m[w]?.[e];
      const r = ratio(m, w, e, refEngine);
      if (!s || r === undefined) {
        out.push(`<text x="${left + 4}" y="${y + barH - 3}" fill="#999">${esc(ENGINE_LABELS[e])}: —</text>`);
        return;
      }
      const x1 = x(Math.max(lo, Math.min(hi, r)));
      out.push(
        `<rect x="${left}" y="${y + 1}" width="${Math.max(1, x1 - left).toFixed(1)}" height="${barH - 2}" fill="${COLORS[e]}"><title>${esc(
          `${ENGINE_LABELS[e]} ${w}: ${Math.round(s.opsPerSec).toLocaleString('en-US')} ops/s, ${fmtUs(s.usPerOp)} µs/op`,
        )}</title></rect>`,
      );
      out.push(`<text x="${(x1 + 4).toFixed(1)}" y="${y + barH - 3}">${esc(`${fmtRatio(r)}  ${fmtOps(s.opsPerSec)} ops/s`)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
