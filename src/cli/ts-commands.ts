import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { parseDurationMs } from '../node/index.js';
import { ROLLUP_LEVELS, parseRfc3339 } from '../tsdb/index.js';
import type { AggregateFn, FieldValue, Interval, TsPlan, TsQuery, TsSeriesResult } from '../tsdb/index.js';
import { authHeaders, httpError } from './http-client.js';
import type { ClientFlags } from './http-client.js';
import { ProgressLine } from './progress.js';

/**
 * `strata ts write|query`: a client of a running node's time-series HTTP
 * routes (POST /v1/ts/write, /v1/ts/query, /v1/ts/explain), with the same
 * connection and credential flags as `strata kv`.
 */

/** Lines of line protocol per request of `strata ts write`. */
export const TS_WRITE_BATCH_LINES = 5000;

interface WriteFlags extends ClientFlags {
  precision: string;
}

interface QueryFlags extends ClientFlags {
  measurement: string;
  from: string;
  to: string;
  match: string[];
  fields: string[];
  agg?: string;
  percentile?: string;
  every?: string;
  groupBy?: string;
  level?: string;
  limit?: string;
  order?: string;
  format: string;
  explain?: boolean;
}

const PRECISIONS = ['ns', 'us', 'ms', 's'];
const FORMATS = ['table', 'json', 'csv'];
const AGGREGATES: readonly AggregateFn[] = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'percentile'];

async function request(f: ClientFlags, method: string, path: string, body: string | undefined, headers: Record<string, string> = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(new URL(path, f.url), { method, headers: { ...authHeaders(f), ...headers }, ...(body !== undefined ? { body } : {}) });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
    throw new Error(`cannot reach ${f.url}: ${cause}`);
  }
  if (!res.ok) throw await httpError(res);
  return res;
}

// ------------------------------------------------------------------ write

/** Lines of a file, or of stdin for '-' or no file. */
function linesOf(file: string | undefined): AsyncIterable<string> {
  const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
  return createInterface({ input, crlfDelay: Infinity });
}

/** Turns "line 2, column 5: ..." of one batch into the line number of the whole input. */
function withAbsoluteLine(err: Error, linesBefore: number): Error {
  const m = /^(HTTP \d+ [A-Z_]+: )line (\d+), column (\d+): ([\s\S]*)$/.exec(err.message);
  if (m === null) return err;
  return new Error(`${m[1]!}line ${Number(m[2]) + linesBefore}, column ${m[3]!}: ${m[4]!}`);
}

async function runWrite(file: string | undefined, f: WriteFlags): Promise<void> {
  if (!PRECISIONS.includes(f.precision)) throw new Error(`--precision must be one of ${PRECISIONS.join(', ')}`);
  const path = `/v1/ts/write?precision=${f.precision}`;
  const progress = new ProgressLine('ts write');
  let batch: string[] = [];
  let sent = 0;
  let points = 0;
  let requests = 0;
  const started = performance.now();
  const flush = async () => {
    if (batch.length === 0) return;
    try {
      await request(f, 'POST', path, batch.join('\n'), { 'content-type': 'text/plain; charset=utf-8' });
    } catch (err) {
      throw err instanceof Error ? withAbsoluteLine(err, sent) : err;
    }
    requests++;
    sent += batch.length;
    for (const l of batch) {
      const t = l.trimStart();
      if (t !== '' && !t.startsWith('#')) points++;
    }
    batch = [];
    // Only inputs of more than one request get a progress line.
    if (requests > 1 || sent >= TS_WRITE_BATCH_LINES) progress.update(`${sent} lines, ${points} points sent`);
  };
  for await (const line of linesOf(file)) {
    batch.push(line);
    if (batch.length >= TS_WRITE_BATCH_LINES) await flush();
  }
  await flush();
  const seconds = (performance.now() - started) / 1000;
  progress.done(`wrote ${points} point${points === 1 ? '' : 's'} in ${requests} request${requests === 1 ? '' : 's'} (${seconds.toFixed(2)} s)`);
}

// ------------------------------------------------------------------ query

/** A time: RFC 3339, ms since the epoch, `now`, or `now` minus a duration (`-1h`, `-30m`, `-7d`). */
export function parseTimeArg(text: string, nowMs: number, flag: string): number {
  const t = text.trim();
  if (t === 'now') return nowMs;
  if (/^-?\d+$/.test(t)) {
    const n = Number(t);
    if (!Number.isSafeInteger(n)) throw new Error(`${flag}: ${t} is out of range`);
    return n;
  }
  if (t.startsWith('-')) {
    const d = parseDurationMs(t.slice(1));
    if (d === undefined) throw new Error(`${flag}: expected RFC 3339, ms, now or -<duration> like -1h, got ${JSON.stringify(text)}`);
    return nowMs - d;
  }
  try {
    return parseRfc3339(t, flag).timeMs;
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; also accepted: ms since the epoch, now, -<duration> like -1h`);
  }
}

/** `--every`: a duration (`30s`, `1m`, `1h`, `1d`, `1w`) or calendar months/years (`1mo`, `3mo`, `1y`). */
export function parseEveryArg(text: string): Interval {
  const t = text.trim();
  const months = /^(\d+)\s*(mo|y)$/.exec(t);
  if (months !== null) {
    const n = Number(months[1]) * (months[2] === 'y' ? 12 : 1);
    if (n < 1) throw new Error('--every must be positive');
    return { months: n };
  }
  const ms = parseDurationMs(t);
  if (ms === undefined || ms < 1) throw new Error(`--every: expected a duration like 30s, 1m, 1h, 1d or months like 1mo, 1y, got ${JSON.stringify(text)}`);
  return { ms };
}

/** The matcher syntax of the series route: tag=value, tag!=value, tag=~regex, tag!~regex. */
function matcherArg(text: string): { tag: string; op: '=' | '!=' | '=~' | '!~'; value: string } {
  const eq = text.indexOf('=');
  const bang = text.search(/![=~]/);
  if (bang >= 0 && (eq < 0 || bang < eq)) return { tag: text.slice(0, bang), op: text[bang + 1] === '=' ? '!=' : '!~', value: text.slice(bang + 2) };
  if (eq < 0) throw new Error(`--match ${text}: expected tag=value, tag!=value, tag=~regex or tag!~regex`);
  if (text[eq + 1] === '~') return { tag: text.slice(0, eq), op: '=~', value: text.slice(eq + 2) };
  return { tag: text.slice(0, eq), op: '=', value: text.slice(eq + 1) };
}

export function buildQuery(f: QueryFlags, nowMs: number): TsQuery {
  const out: TsQuery = {
    measurement: f.measurement,
    fromMs: parseTimeArg(f.from, nowMs, '--from'),
    toMs: parseTimeArg(f.to, nowMs, '--to'),
  };
  if (f.match.length > 0) out.matchers = f.match.map(matcherArg);
  const fields = f.fields.flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
  if (fields.length > 0) out.fields = fields;
  if (f.agg !== undefined) {
    const p = /^p(\d+(?:\.\d+)?)$/.exec(f.agg);
    const fn = p !== null ? 'percentile' : AGGREGATES.find((a) => a === f.agg);
    if (fn === undefined) throw new Error(`--agg must be one of ${AGGREGATES.join(', ')} or pNN (a percentile, e.g. p99)`);
    const agg: { fn: AggregateFn; percentile?: number; every?: Interval } = { fn };
    const pct = p !== null ? Number(p[1]) : f.percentile !== undefined ? Number(f.percentile) : undefined;
    if (fn === 'percentile') {
      if (pct === undefined || !(pct >= 0 && pct <= 100)) throw new Error('a percentile needs --agg pNN or --percentile from 0 to 100');
      agg.percentile = pct;
    }
    if (f.every !== undefined) agg.every = parseEveryArg(f.every);
    out.aggregate = agg;
  } else if (f.every !== undefined) {
    throw new Error('--every needs --agg');
  }
  if (f.groupBy !== undefined) {
    out.groupBy = f.groupBy
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  }
  if (f.level !== undefined) {
    const levels = ['auto', 'raw', ...ROLLUP_LEVELS];
    const level = levels.find((l) => l === f.level);
    if (level === undefined) throw new Error(`--level must be one of ${levels.join(', ')}`);
    out.level = level as TsQuery['level'];
  }
  if (f.limit !== undefined) {
    const n = Number(f.limit);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error('--limit must be a non-negative integer');
    out.limit = n;
  }
  if (f.order !== undefined) {
    if (f.order !== 'asc' && f.order !== 'desc') throw new Error('--order must be asc or desc');
    out.order = f.order;
  }
  return out;
}

/** RFC 3339 in UTC with the sub-millisecond digits when there are any. */
export function formatTime(ms: number, nanos = 0): string {
  const iso = new Date(ms).toISOString();
  return nanos === 0 ? iso : `${iso.slice(0, -1)}${String(nanos).padStart(6, '0')}Z`;
}

function seriesName(r: TsSeriesResult): string {
  const tags = Object.entries(r.tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return tags === '' ? r.measurement : `${r.measurement},${tags}`;
}

function valueText(v: FieldValue): string {
  return typeof v === 'string' ? v : String(v);
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function printPlan(plan: TsPlan): void {
  console.log(`series: ${plan.series}`);
  for (const seg of plan.segments) console.log(`  ${seg.level.padEnd(4)} ${formatTime(seg.fromMs)} .. ${formatTime(seg.toMs)}`);
  console.log(`reason: ${plan.reason}`);
}

function printTable(series: readonly TsSeriesResult[]): void {
  const rows: string[][] = [['time', 'series', 'field', 'value']];
  for (const r of series) {
    const name = seriesName(r);
    for (let i = 0; i < r.times.length; i++) rows.push([formatTime(r.times[i]!, r.nanos?.[i] ?? 0), name, r.field, valueText(r.values[i]!)]);
  }
  if (rows.length === 1) {
    console.error('(no points)');
    return;
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
}

/** Reads an NDJSON response line by line. */
async function* ndjson(res: Response): AsyncIterable<unknown> {
  if (res.body === null) return;
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim() !== '') yield JSON.parse(line);
    }
  }
  pending += decoder.decode();
  if (pending.trim() !== '') yield JSON.parse(pending);
}

async function runQuery(f: QueryFlags): Promise<void> {
  if (!FORMATS.includes(f.format)) throw new Error(`--format must be one of ${FORMATS.join(', ')}`);
  const q = buildQuery(f, Date.now());
  const json = { 'content-type': 'application/json' };
  if (f.explain === true) {
    const { plan } = (await (await request(f, 'POST', '/v1/ts/explain', JSON.stringify(q), json)).json()) as { plan: TsPlan };
    if (f.format === 'json') console.log(JSON.stringify({ plan }, null, 2));
    else printPlan(plan);
    return;
  }
  if (f.format === 'table') {
    const result = (await (await request(f, 'POST', '/v1/ts/query', JSON.stringify(q), json)).json()) as { series: TsSeriesResult[] };
    printTable(result.series);
    return;
  }
  if (f.format === 'json') {
    // The server's JSON as it comes (non-finite floats are "NaN", "+Inf", "-Inf").
    const res = await request(f, 'POST', '/v1/ts/query', JSON.stringify(q), json);
    process.stdout.write(await res.text());
    process.stdout.write('\n');
    return;
  }
  // CSV streams: one row per point as the pieces arrive.
  const res = await request(f, 'POST', '/v1/ts/query?format=ndjson', JSON.stringify(q), json);
  console.log('time,measurement,tags,field,value');
  for await (const item of ndjson(res)) {
    const obj = item as { plan?: TsPlan; error?: { code: string; message: string } } & Partial<TsSeriesResult>;
    if (obj.error !== undefined) throw new Error(`${obj.error.code}: ${obj.error.message}`);
    if (obj.plan !== undefined || obj.times === undefined) continue;
    const r = obj as TsSeriesResult;
    const tags = csvCell(
      Object.entries(r.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(';'),
    );
    const lines: string[] = [];
    for (let i = 0; i < r.times.length; i++) lines.push(`${formatTime(r.times[i]!, r.nanos?.[i] ?? 0)},${csvCell(r.measurement)},${tags},${csvCell(r.field)},${csvCell(valueText(r.values[i]!))}`);
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerTsCommands(program: Command): void {
  const ts = program.command('ts').description('time series on a running node (HTTP API): write line protocol, query');
  const clientOptions = (c: Command) =>
    c
      .option('--url <url>', 'the node HTTP address', process.env.STRATA_URL ?? 'http://127.0.0.1:8080')
      .option('--token <token>', 'API token (or STRATA_TOKEN)')
      .option('--user <name>', 'user for basic auth (password from --password or STRATA_PASSWORD)')
      .option('--password <password>', 'password for --user');

  clientOptions(
    ts
      .command('write [file]')
      .description(`send InfluxDB line protocol from a file or stdin ('-' or no file), ${TS_WRITE_BATCH_LINES} lines a request`)
      .option('--precision <unit>', 'timestamp unit of the input: ns, us, ms or s', 'ns'),
  ).action(runWrite);

  clientOptions(
    ts
      .command('query')
      .description('query raw points or aggregates and print them (table, json or csv)')
      .requiredOption('-m, --measurement <name>', 'the measurement')
      .option('--from <time>', 'start (inclusive): RFC 3339, ms since the epoch, now, or -<duration> like -1h', '-1h')
      .option('--to <time>', 'end (exclusive), same forms', 'now')
      .option('--match <tag=value>', 'tag selector (repeatable): tag=value, tag!=value, tag=~regex, tag!~regex', collect, [])
      .option('--fields <names>', 'fields to return, comma separated (repeatable); default all', collect, [])
      .option('--agg <fn>', `aggregate: ${AGGREGATES.join(', ')}, or pNN (percentile NN)`)
      .option('--percentile <p>', 'for --agg percentile: 0..100')
      .option('--every <interval>', 'bucket width: 30s, 1m, 1h, 1d, 1w, or calendar 1mo, 1y (needs --agg)')
      .option('--group-by <tags>', 'merge series per value of these tags (comma separated); "" merges all series')
      .option('--level <level>', 'storage level for aggregates: auto, raw, 1h, 1d, 1M, 1y')
      .option('--limit <n>', 'points (raw) or buckets (aggregates) per series')
      .option('--order <order>', 'asc or desc')
      .option('--format <format>', 'table, json or csv', 'table')
      .option('--explain', 'print which storage levels would answer the query instead of running it'),
  ).action(runQuery);
}
