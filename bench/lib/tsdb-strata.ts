/**
 * StrataDB's time-series store in this process (no HTTP): the module is
 * loaded at run time from dist/src/tsdb/index.js so the bench builds and
 * runs (VictoriaMetrics side, HTTP side) while `TimeSeriesStore` and
 * `parseLineProtocol` are still being written; when they are missing the
 * in-process parts are skipped with the reason.
 *
 * Measures: parse + write and write-only ingest rates, bytes on disk after
 * flush + compact + close, and the one-year daily-average query.
 */
import { rmSync } from 'node:fs';
import type { TsPlan, TsPoint, TsPointColumns, TsQuery, TsQueryResult, TsWriteResult } from '../../src/tsdb/types.js';
import { dirBytes } from './measure.js';
import { median, percentile } from './tsdb-report.js';
import type { SpooledBatches } from './tsdb-data.js';
import { DAY_MS, FIELDS, MEASUREMENT, START_MS, YEAR_DAYS, YEAR_MEASUREMENT, endMsOf, yearSeriesBatches } from './tsdb-data.js';

/** What the bench uses of `TimeSeriesStore` (src/tsdb). */
export interface TsStore {
  write(points: TsPoint[]): Promise<TsWriteResult>;
  /** Points in columns (the line-protocol path), where the store has it. */
  writeColumns?(points: TsPointColumns): Promise<TsWriteResult>;
  query(q: TsQuery): Promise<TsQueryResult>;
  flush(): Promise<void>;
  compact(): Promise<void>;
  close(): Promise<void>;
  /** Opt-in float rounding per measurement, where the store has it. */
  setFloatRounding?(measurement: string, significantDigits: number | null): Promise<void>;
}

export interface TsdbModule {
  open(dir: string): Promise<TsStore>;
  /** parseLineProtocol(body, { precision: 'ns', nowMs }), normalised to points; undefined when not found. */
  parse: ((body: Buffer) => TsPoint[]) | undefined;
  /** parseLineProtocolColumns(body, { precision: 'ns', nowMs }) where exported: the servers' line-protocol path. */
  parseColumns: ((body: Buffer) => TsPointColumns) | undefined;
}

/** Loads src/tsdb/index.js; a string says why it could not. */
export async function loadTsdb(): Promise<TsdbModule | string> {
  const spec = new URL('../../src/tsdb/index.js', import.meta.url).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (err) {
    return `src/tsdb/index.js does not load (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
  }
  const Store = mod.TimeSeriesStore as { open?: (o: { dir: string }) => Promise<TsStore> } | undefined;
  if (typeof Store?.open !== 'function') return 'src/tsdb/index.js exports no TimeSeriesStore.open';
  // parseLineProtocol: from src/tsdb/index.js, else from src/tsdb/ingest/index.js where it is written.
  let parseFn = mod.parseLineProtocol as ((body: Buffer, o: { precision: 'ns'; nowMs: number }) => unknown) | undefined;
  if (typeof parseFn !== 'function') {
    try {
      const ingest = (await import(new URL('../../src/tsdb/ingest/index.js', import.meta.url).href)) as Record<string, unknown>;
      parseFn = ingest.parseLineProtocol as typeof parseFn;
    } catch {
      // Not there either: parse stays undefined.
    }
  }
  const parse =
    typeof parseFn === 'function'
      ? (body: Buffer): TsPoint[] => {
          const r = parseFn!(body, { precision: 'ns', nowMs: Date.now() });
          // Either the points, or { points, errors? }.
          const points = Array.isArray(r) ? (r as TsPoint[]) : (r as { points?: TsPoint[] } | undefined)?.points;
          const errors = Array.isArray(r) ? [] : ((r as { errors?: unknown[] } | undefined)?.errors ?? []);
          if (!Array.isArray(points)) throw new Error('parseLineProtocol returned neither points nor { points }');
          if (errors.length > 0) throw new Error(`parseLineProtocol: ${errors.length} error(s), first: ${JSON.stringify(errors[0])}`);
          return points;
        }
      : undefined;
  const columnsFn = mod.parseLineProtocolColumns as ((body: Buffer, o: { precision: 'ns'; nowMs: number }) => TsPointColumns) | undefined;
  const parseColumns = typeof columnsFn === 'function' ? (body: Buffer) => columnsFn(body, { precision: 'ns', nowMs: Date.now() }) : undefined;
  return { open: (dir) => Store.open!({ dir }), parse, parseColumns };
}

export interface InProcessIngest {
  rows: number;
  values: number;
  /** Wall clock of the whole load (read + parse + write). */
  totalMs: number;
  parseMs: number;
  writeMs: number;
  /** values / (parse + write time). */
  parseWriteValuesPerSec: number;
  /** values / write time (points already parsed). */
  writeValuesPerSec: number;
  flushCompactMs: number;
  /** Values the store counts after flush (count over the whole range, raw). */
  countedValues: number | undefined;
  disk: { apparent: number; allocated: number };
  bytesPerValue: number;
  /** With float rounding: its digits, and the largest relative error of a stored value against the line protocol's, over the first batch. */
  rounding?: { significantDigits: number; maxRelError: number; valuesChecked: number };
}

/**
 * One in-process load of a spooled variant into a fresh store at `dir`:
 * per batch, parseLineProtocol (timed) then store.write (timed separately),
 * one batch at a time. Then flush, compact, a count check, close, and the
 * size of the directory. The directory is removed afterwards.
 */
export async function ingestInProcess(
  tsdb: TsdbModule,
  spool: SpooledBatches,
  dir: string,
  progress: (rows: number) => void,
  significantDigits?: number,
): Promise<InProcessIngest> {
  if (!tsdb.parse) throw new Error('parseLineProtocol is not exported by src/tsdb/index.js');
  const store = await tsdb.open(dir);
  let closed = false;
  try {
    let firstBatch: TsPoint[] | undefined;
    if (significantDigits !== undefined) {
      if (typeof store.setFloatRounding !== 'function') throw new Error('the store has no setFloatRounding');
      await store.setFloatRounding(MEASUREMENT, significantDigits);
    }
    let rows = 0;
    let values = 0;
    let parseMs = 0;
    let writeMs = 0;
    const t0 = performance.now();
    // The columns path (what the servers' line-protocol routes use) where the store has it.
    const columns = tsdb.parseColumns !== undefined && typeof store.writeColumns === 'function' ? tsdb.parseColumns : undefined;
    for await (const b of spool.read()) {
      // The first batch's exact values, to measure what rounding kept (untimed).
      if (significantDigits !== undefined && firstBatch === undefined) firstBatch = tsdb.parse(b.body);
      const p0 = performance.now();
      const parsed = columns ? columns(b.body) : tsdb.parse(b.body);
      const p1 = performance.now();
      const r = columns ? await store.writeColumns!(parsed as TsPointColumns) : await store.write(parsed as TsPoint[]);
      const p2 = performance.now();
      parseMs += p1 - p0;
      writeMs += p2 - p1;
      rows += r.points;
      values += r.values;
      progress(rows);
    }
    const totalMs = performance.now() - t0;
    const f0 = performance.now();
    await store.flush();
    await store.compact();
    const flushCompactMs = performance.now() - f0;
    const countedValues = await countValues(store, spool.spec.days);
    const rounding = significantDigits !== undefined && firstBatch !== undefined ? { significantDigits, ...(await roundingError(store, firstBatch)) } : undefined;
    await store.close();
    closed = true;
    const disk = dirBytes(dir);
    return {
      rows,
      values,
      totalMs,
      parseMs,
      writeMs,
      parseWriteValuesPerSec: values / ((parseMs + writeMs) / 1000),
      writeValuesPerSec: values / (writeMs / 1000),
      flushCompactMs,
      countedValues,
      disk,
      bytesPerValue: disk.apparent / values,
      ...(rounding ? { rounding } : {}),
    };
  } finally {
    if (!closed) await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The largest relative difference between `points` (exact, as parsed) and what the store returns for them. */
async function roundingError(store: TsStore, points: TsPoint[]): Promise<{ maxRelError: number; valuesChecked: number }> {
  let from = Infinity;
  let to = -Infinity;
  for (const p of points) {
    from = Math.min(from, p.timeMs);
    to = Math.max(to, p.timeMs);
  }
  const r = await store.query({ measurement: MEASUREMENT, fromMs: from, toMs: to + 1, level: 'raw' });
  const stored = new Map<string, number>();
  for (const s of r.series) {
    const tags = Object.entries(s.tags).sort().map(([k, v]) => `${k}=${v}`).join(',');
    for (let i = 0; i < s.times.length; i++) stored.set(`${tags}|${s.field}|${s.times[i]}`, s.values[i] as number);
  }
  let maxRelError = 0;
  let valuesChecked = 0;
  for (const p of points) {
    const tags = [...p.tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(',');
    for (const f of p.fields) {
      const got = stored.get(`${tags}|${f.name}|${p.timeMs}`);
      const want = f.value as number;
      if (got === undefined) throw new Error(`rounding check: no stored value for ${tags} ${f.name} at ${p.timeMs}`);
      if (want !== 0) maxRelError = Math.max(maxRelError, Math.abs(got - want) / Math.abs(want));
      else if (got !== 0) throw new Error(`rounding check: 0 came back as ${got}`);
      valuesChecked++;
    }
  }
  return { maxRelError, valuesChecked };
}

/** count of every field over the whole data set, all series merged (raw level): should be rows × 10. */
async function countValues(store: TsStore, days: number): Promise<number | undefined> {
  const r = await store.query({
    measurement: MEASUREMENT,
    fields: [...FIELDS],
    fromMs: START_MS,
    toMs: endMsOf({ days }),
    aggregate: { fn: 'count' },
    groupBy: [],
    level: 'raw',
  });
  return sumValues(r);
}

export function sumValues(r: TsQueryResult): number {
  let n = 0;
  for (const s of r.series) for (const v of s.values) n += typeof v === 'number' ? v : 0;
  return n;
}

// ------------------------------------------------------------------ one year, one series

export interface YearResult {
  points: number;
  writeMs: number;
  flushMs: number;
  repetitions: number;
  /** Median / p99 latency per level, ms. */
  auto: { medianMs: number; p99Ms: number; plan: TsPlan; buckets: number };
  raw: { medianMs: number; p99Ms: number; plan: TsPlan; buckets: number };
  /** Largest |auto − raw| over the daily averages. */
  maxAbsDiff: number;
}

/**
 * 52,560 points (one per 10 minutes for 365 days) of one series into a
 * fresh store, flush, then `avg` by 1 day over the year, `rounds` times per
 * level (after one untimed warm-up each), alternating auto and raw.
 */
export async function yearDailyAverage(tsdb: TsdbModule, dir: string, seed: number, rounds: number): Promise<YearResult> {
  const store = await tsdb.open(dir);
  try {
    const w0 = performance.now();
    let points = 0;
    for (const batch of yearSeriesBatches(seed)) points += (await store.write(batch)).points;
    const writeMs = performance.now() - w0;
    const f0 = performance.now();
    await store.flush();
    const flushMs = performance.now() - f0;
    const q = (level: 'auto' | 'raw'): TsQuery => ({
      measurement: YEAR_MEASUREMENT,
      matchers: [{ tag: 'sensor', op: '=', value: 's1' }],
      fields: ['temp'],
      fromMs: START_MS,
      toMs: START_MS + YEAR_DAYS * DAY_MS,
      aggregate: { fn: 'avg', every: { ms: DAY_MS } },
      level,
    });
    const warmAuto = await store.query(q('auto'));
    const warmRaw = await store.query(q('raw'));
    const times = { auto: [] as number[], raw: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      for (const level of i % 2 === 0 ? (['auto', 'raw'] as const) : (['raw', 'auto'] as const)) {
        const t0 = performance.now();
        await store.query(q(level));
        times[level].push(performance.now() - t0);
      }
    }
    let maxAbsDiff = 0;
    const a = warmAuto.series[0];
    const r = warmRaw.series[0];
    if (!a || !r || a.values.length !== r.values.length) maxAbsDiff = Infinity;
    else for (let i = 0; i < a.values.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(Number(a.values[i]) - Number(r.values[i])));
    return {
      points,
      writeMs,
      flushMs,
      repetitions: rounds,
      auto: { medianMs: median(times.auto), p99Ms: percentile(times.auto, 99), plan: warmAuto.plan, buckets: a?.values.length ?? 0 },
      raw: { medianMs: median(times.raw), p99Ms: percentile(times.raw, 99), plan: warmRaw.plan, buckets: r?.values.length ?? 0 },
      maxAbsDiff,
    };
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

