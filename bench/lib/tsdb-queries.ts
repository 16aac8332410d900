/**
 * The TSBS-style queries of `npm run bench:tsdb` (the "cpu-only" query
 * types), each as a StrataDB TsQuery and as the closest VictoriaMetrics
 * MetricsQL request, plus the code that turns both answers into the same
 * shape so they can be compared value by value.
 *
 * TSBS meanings (M metrics, H hosts, T hours):
 *   single-groupby-M-H-T  max of the first M cpu fields over H random hosts
 *                         for a random T-hour window, by 1 minute (one series
 *                         per field; H > 1 merges the hosts).
 *   cpu-max-all-H         max of all 10 fields over H random hosts for a
 *                         random 8-hour window, by 1 hour.
 *   double-groupby-M      avg of the first M fields (all: 10) over every host
 *                         for a random 12-hour window, by 1 hour, grouped by
 *                         hostname (one series per host and field).
 *   high-cpu-H            the raw rows (all 10 fields) of one host (H=1) or
 *                         of every host (all) in a random 12-hour window
 *                         where usage_user > 90.
 *   lastpoint             the last row of every host (whole data set).
 *
 * Aligning the two models. StrataDB buckets are [b, b + every) labelled b.
 * A MetricsQL rollup `f_over_time(x[w])` evaluated at T covers (T − w, T],
 * so the bench evaluates VictoriaMetrics at T = b + every − 1 ms with
 * w = every: the window is [b, b + every) for millisecond timestamps, the
 * same samples as StrataDB's bucket, and answers compare exactly (up to
 * VictoriaMetrics' 12 significant decimal digits per stored value). Windows
 * start on a bucket boundary (the minute or the hour). Responses are not
 * cached (-search.disableCache and nocache=1).
 */
import { SeededRandom } from '../../src/base/index.js';
import type { TsQuery, TsQueryResult } from '../../src/tsdb/types.js';
import type { CpuField } from './tsdb-data.js';
import { DAY_MS, FIELDS, INTERVAL_MS, MEASUREMENT, START_MS, endMsOf, hostName } from './tsdb-data.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;

export interface QuerySpec {
  name: string;
  /** What it asks, in TSBS terms. */
  description: string;
  kind: 'aggregate' | 'high-cpu' | 'lastpoint';
  fields: CpuField[];
  /** Hosts per query; 'all' selects every host (no hostname matcher). */
  hosts: number | 'all';
  windowMs: number | 'all';
  everyMs: number | undefined;
  fn: 'max' | 'avg' | 'last' | undefined;
  /** StrataDB groupBy. */
  groupBy: string[] | undefined;
  /** How the VictoriaMetrics form differs from StrataDB's, if it does. */
  vmNote: string;
  /** Parameter draws per round at most (lastpoint has nothing to draw). */
  maxDraws: number;
}

export interface QueryParams {
  hosts: number[];
  fromMs: number;
  toMs: number;
}

/** The spec of a query name accepted by --queries (except year-daily-avg, which is in-process). */
export function querySpec(name: string): QuerySpec {
  let m: RegExpExecArray | null;
  if ((m = /^single-groupby-(\d+)-(\d+)-(\d+)$/.exec(name))) {
    const [mm, hh, tt] = [Number(m[1]), Number(m[2]), Number(m[3])];
    return {
      name,
      description: `max of ${mm} metric(s), ${hh} random host(s), random ${tt} h window, by 1 min`,
      kind: 'aggregate',
      fields: FIELDS.slice(0, mm),
      hosts: hh,
      windowMs: tt * HOUR,
      everyMs: MINUTE,
      fn: 'max',
      groupBy: hh === 1 ? undefined : [],
      vmNote: '',
      maxDraws: Infinity,
    };
  }
  if ((m = /^cpu-max-all-(\d+)$/.exec(name))) {
    const hh = Number(m[1]);
    return {
      name,
      description: `max of all 10 metrics, ${hh} random host(s), random 8 h window, by 1 h`,
      kind: 'aggregate',
      fields: [...FIELDS],
      hosts: hh,
      windowMs: 8 * HOUR,
      everyMs: HOUR,
      fn: 'max',
      groupBy: hh === 1 ? undefined : [],
      vmNote: '',
      maxDraws: Infinity,
    };
  }
  if ((m = /^double-groupby-(\d+|all)$/.exec(name))) {
    const mm = m[1] === 'all' ? FIELDS.length : Number(m[1]);
    return {
      name,
      description: `avg of ${mm} metric(s), all hosts, random 12 h window, by 1 h and hostname`,
      kind: 'aggregate',
      fields: FIELDS.slice(0, mm),
      hosts: 'all',
      windowMs: 12 * HOUR,
      everyMs: HOUR,
      fn: 'avg',
      groupBy: ['hostname'],
      vmNote: '',
      maxDraws: Infinity,
    };
  }
  if ((m = /^high-cpu-(1|all)$/.exec(name))) {
    const all = m[1] === 'all';
    return {
      name,
      description: `raw rows (all 10 metrics) of ${all ? 'every host' : '1 random host'} in a random 12 h window where usage_user > 90`,
      kind: 'high-cpu',
      fields: [...FIELDS],
      hosts: all ? 'all' : 1,
      windowMs: 12 * HOUR,
      everyMs: undefined,
      fn: undefined,
      groupBy: undefined,
      vmNote:
        'MetricsQL has no row filter on another field: `{__name__=~"cpu_usage_…"} and on(hostname) (cpu_usage_user > 90)` ' +
        'over query_range with step 10 s (the sample interval), which returns the same samples',
      maxDraws: Infinity,
    };
  }
  if (name === 'lastpoint') {
    return {
      name,
      description: 'last row (all 10 metrics) of every host',
      kind: 'lastpoint',
      fields: [...FIELDS],
      hosts: 'all',
      windowMs: 'all',
      everyMs: undefined,
      fn: 'last',
      groupBy: undefined,
      vmNote: 'last_over_time(…[whole data set]) as an instant query at the end of the data',
      maxDraws: 1,
    };
  }
  throw new Error(`unknown query ${name}`);
}

/** A stable small hash of the query name, to seed its draws. */
function nameSeed(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h % 1_000_000;
}

/** `n` parameter draws for a query, the same for every database (seeded by --seed and the query name). */
export function drawParams(spec: QuerySpec, n: number, totalHosts: number, days: number, seed: number): QueryParams[] {
  const rng = new SeededRandom(seed * 1_000_003 + nameSeed(spec.name));
  const span = days * DAY_MS;
  const out: QueryParams[] = [];
  const draws = Math.min(n, spec.maxDraws);
  for (let d = 0; d < draws; d++) {
    let fromMs = START_MS;
    let toMs = endMsOf({ days });
    if (spec.windowMs !== 'all') {
      const align = spec.everyMs ?? HOUR;
      const slots = Math.floor((span - spec.windowMs) / align);
      fromMs = START_MS + rng.int(0, Math.max(0, slots)) * align;
      toMs = fromMs + spec.windowMs;
    }
    let hosts: number[] = [];
    if (spec.hosts !== 'all') {
      const want = Math.min(spec.hosts, totalHosts);
      const pool = Array.from({ length: totalHosts }, (_, i) => i);
      for (let i = 0; i < want; i++) {
        const j = rng.int(i, totalHosts - 1);
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      hosts = pool.slice(0, want).sort((a, b) => a - b);
    }
    out.push({ hosts, fromMs, toMs });
  }
  return out;
}

// ------------------------------------------------------------------ StrataDB

export function strataQuery(spec: QuerySpec, p: QueryParams, level: 'auto' | 'raw'): TsQuery {
  const q: TsQuery = {
    measurement: MEASUREMENT,
    fields: spec.fields,
    fromMs: p.fromMs,
    toMs: p.toMs,
    level,
    ...(p.hosts.length === 1 ? { matchers: [{ tag: 'hostname', op: '=' as const, value: hostName(p.hosts[0]!) }] } : {}),
    ...(p.hosts.length > 1 ? { matchers: [{ tag: 'hostname', op: '=~' as const, value: p.hosts.map(hostName).join('|') }] } : {}),
    ...(spec.groupBy !== undefined ? { groupBy: spec.groupBy } : {}),
  };
  if (spec.fn !== undefined) q.aggregate = { fn: spec.fn, ...(spec.everyMs !== undefined ? { every: { ms: spec.everyMs } } : {}) };
  if (spec.kind === 'high-cpu') q.where = { field: 'usage_user', op: '>', value: 90 };
  return q;
}

// ------------------------------------------------------------------ VictoriaMetrics

const vmName = (f: string) => `${MEASUREMENT}_${f}`;
const secs = (ms: number) => (ms / 1000).toFixed(3);

function vmSelector(fields: readonly string[], hosts: number[]): string {
  const name = fields.length === 1 ? `__name__="${vmName(fields[0]!)}"` : `__name__=~"${MEASUREMENT}_(${fields.join('|')})"`;
  const host = hosts.length === 0 ? '' : hosts.length === 1 ? `,hostname="${hostName(hosts[0]!)}"` : `,hostname=~"${hosts.map(hostName).join('|')}"`;
  return `{${name}${host}}`;
}

/** The path + query string of the VictoriaMetrics request for one draw. */
export function vmRequest(spec: QuerySpec, p: QueryParams): string {
  const sel = vmSelector(spec.fields, p.hosts);
  const qs = new URLSearchParams();
  if (spec.kind === 'aggregate') {
    const every = spec.everyMs!;
    const rollup = `${spec.fn}_over_time(${sel}[${every / 1000}s]) keep_metric_names`;
    let expr = rollup;
    if (spec.groupBy !== undefined) expr = `${spec.fn} by (__name__${spec.groupBy.map((g) => `, ${g}`).join('')}) (${rollup})`;
    qs.set('query', expr);
    qs.set('start', secs(p.fromMs + every - 1));
    qs.set('end', secs(p.toMs - 1));
    qs.set('step', `${every / 1000}s`);
    qs.set('nocache', '1');
    return `/api/v1/query_range?${qs.toString()}`;
  }
  if (spec.kind === 'high-cpu') {
    const user = vmSelector(['usage_user'], p.hosts);
    qs.set('query', `${sel} and on(hostname) (${user} > 90)`);
    qs.set('start', secs(p.fromMs));
    qs.set('end', secs(p.toMs - 1));
    qs.set('step', `${INTERVAL_MS / 1000}s`);
    qs.set('nocache', '1');
    return `/api/v1/query_range?${qs.toString()}`;
  }
  // lastpoint
  qs.set('query', `last_over_time(${sel}[${(p.toMs - p.fromMs) / 1000}s]) keep_metric_names`);
  qs.set('time', secs(p.toMs - 1));
  return `/api/v1/query?${qs.toString()}`;
}

// ------------------------------------------------------------------ comparable answers

/** field|hostname|bucket-or-point time → value ('*' when hosts are merged; time 0 for lastpoint). */
export type Answer = Map<string, number>;

const key = (field: string, host: string | undefined, t: number) => `${field}|${host ?? '*'}|${t}`;

export function strataAnswer(spec: QuerySpec, r: TsQueryResult): Answer {
  const out: Answer = new Map();
  for (const s of r.series) {
    for (let i = 0; i < s.times.length; i++) {
      const v = s.values[i];
      if (typeof v !== 'number') continue;
      out.set(key(s.field, s.tags.hostname, spec.kind === 'lastpoint' ? 0 : s.times[i]!), v);
    }
  }
  return out;
}

interface VmSeries {
  metric: Record<string, string>;
  values?: Array<[number, string]>;
  value?: [number, string];
}

export function vmAnswer(spec: QuerySpec, body: unknown): Answer {
  const out: Answer = new Map();
  const data = (body as { data?: { result?: VmSeries[] } } | undefined)?.data;
  for (const s of data?.result ?? []) {
    const name = s.metric.__name__ ?? vmName(spec.fields[0]!);
    const field = name.startsWith(`${MEASUREMENT}_`) ? name.slice(MEASUREMENT.length + 1) : name;
    const samples = s.values ?? (s.value ? [s.value] : []);
    for (const [t, v] of samples) {
      const ms = Math.round(t * 1000);
      const time = spec.kind === 'aggregate' ? ms - spec.everyMs! + 1 : spec.kind === 'lastpoint' ? 0 : ms;
      out.set(key(field, s.metric.hostname, time), Number(v));
    }
  }
  return out;
}

export interface Comparison {
  /** Keys in both. */
  common: number;
  onlyA: number;
  onlyB: number;
  /** Common keys whose values differ by more than the tolerance. */
  mismatched: number;
  maxRelDiff: number;
  /** A few differing keys, for the report. */
  examples: string[];
}

/** Relative tolerance: VictoriaMetrics keeps 12 significant decimal digits per value. */
export const REL_TOLERANCE = 1e-9;

export function compareAnswers(a: Answer, b: Answer): Comparison {
  const c: Comparison = { common: 0, onlyA: 0, onlyB: 0, mismatched: 0, maxRelDiff: 0, examples: [] };
  for (const [k, va] of a) {
    const vb = b.get(k);
    if (vb === undefined) {
      c.onlyA++;
      if (c.examples.length < 3) c.examples.push(`${k}: ${va} vs (none)`);
      continue;
    }
    c.common++;
    const rel = Math.abs(va - vb) / Math.max(Math.abs(va), Math.abs(vb), 1e-12);
    if (rel > c.maxRelDiff) c.maxRelDiff = rel;
    if (rel > REL_TOLERANCE) {
      c.mismatched++;
      if (c.examples.length < 3) c.examples.push(`${k}: ${va} vs ${vb}`);
    }
  }
  for (const [k, vb] of b) {
    if (!a.has(k)) {
      c.onlyB++;
      if (c.examples.length < 3) c.examples.push(`${k}: (none) vs ${vb}`);
    }
  }
  return c;
}

export const agrees = (c: Comparison): boolean => c.onlyA === 0 && c.onlyB === 0 && c.mismatched === 0 && c.common > 0;
