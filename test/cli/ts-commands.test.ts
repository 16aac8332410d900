// `strata ts write|query` against a real server: a file of 12,000 lines goes
// in three requests with a progress line; queries print as table, JSON and
// CSV; --explain prints the plan; a bad line names its line in the whole
// input; credentials flags work; argument parsing helpers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { buildQuery, formatTime, parseEveryArg, parseTimeArg } from '../../src/cli/ts-commands.js';
import { loadConfig } from '../../src/node/index.js';
import { hashPassword, newToken } from '../../src/server/auth.js';
import { StrataServer } from '../../src/server/strata-server.js';

const root = resolve(new URL('.', import.meta.url).pathname, '../../..');
const cli = join(root, 'dist/src/cli/main.js');
/** A fixed time in the past: the server accepts any past time (tsdb.acceptPastMs 0). */
const T0 = 1_700_000_000_000;

/** Runs the CLI without blocking the event loop (the server runs in this process). */
function run(args: string[], input?: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['STRATA_TOKEN', 'STRATA_PASSWORD', 'STRATA_URL'].includes(k)));
    const child = spawn(process.execPath, [cli, ...args], { env: { ...clean, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => res({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

describe('strata ts', () => {
  let server: StrataServer;
  let url: string;
  const token = newToken();
  const dir = mkdtempSync(join(tmpdir(), 'strata-ts-cli-'));

  before(async () => {
    const config = loadConfig({ overrides: { 'storage.dataDir': join(dir, 'data'), 'server.protocols': 'http', 'server.httpPort': '0' } });
    config.security.users = [{ name: 'w', passwordHash: hashPassword('pw'), role: 'read-write', tokenHashes: [token.tokenHash] }];
    server = await StrataServer.start(config, { logger: pino({ level: 'silent' }) });
    url = `http://127.0.0.1:${server.ports.http!}`;
  });
  after(async () => {
    await server.close();
  });

  const auth = () => ['--url', url, '--token', token.token];

  test('write: a big file in batches of 5,000 lines with progress; query table, json, csv, explain', async () => {
    const lines: string[] = ['# a comment line'];
    for (let i = 0; i < 12_000; i++) lines.push(`cpu,host=${i % 2 === 0 ? 'a' : 'b'} usage_user=${i % 100},n=${i}i ${(BigInt(T0 + i * 1000) * 1_000_000n).toString()}`);
    const file = join(dir, 'cpu.lp');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const w = await run(['ts', 'write', file, ...auth()]);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /wrote 12000 points in 3 requests/);
    assert.match(w.stderr, /ts write: \d+ lines, \d+ points sent/, 'a progress line on stderr');

    const from = String(T0);
    const to = String(T0 + 12_000 * 1000);
    const table = await run(['ts', 'query', '-m', 'cpu', '--from', from, '--to', to, '--match', 'host=a', '--fields', 'usage_user', '--agg', 'avg', '--every', '1h', ...auth()]);
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.trim().split('\n');
    assert.match(rows[0]!, /^time\s+series\s+field\s+value$/);
    assert.ok(rows.length >= 2);
    assert.match(rows[1]!, /^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z\s+cpu,host=a\s+usage_user\s+\d+(\.\d+)?$/);

    const json = await run(['ts', 'query', '-m', 'cpu', '--from', from, '--to', to, '--agg', 'count', '--group-by', '', '--format', 'json', ...auth()]);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as { series: Array<{ field: string; values: number[] }>; plan: { series: number } };
    assert.equal(doc.plan.series, 2);
    assert.deepEqual(Object.fromEntries(doc.series.map((x) => [x.field, x.values])), { usage_user: [12_000], n: [12_000] });

    const csv = await run(['ts', 'query', '-m', 'cpu', `--from=${from}`, '--to', String(T0 + 3000), '--match', 'host=~a|b', '--fields', 'n', '--format', 'csv', ...auth()]);
    assert.equal(csv.code, 0, csv.stderr);
    assert.deepEqual(csv.stdout.trim().split('\n'), [
      'time,measurement,tags,field,value',
      `${formatTime(T0)},cpu,host=a,n,0`,
      `${formatTime(T0 + 2000)},cpu,host=a,n,2`,
      `${formatTime(T0 + 1000)},cpu,host=b,n,1`,
    ]);

    const explain = await run(['ts', 'query', '-m', 'cpu', '--from', from, '--to', to, '--agg', 'max', '--every', '1h', '--explain', ...auth()]);
    assert.equal(explain.code, 0, explain.stderr);
    assert.match(explain.stdout, /^series: 2$/m);
    assert.match(explain.stdout, /^reason: /m);
  });

  test('write from stdin; a bad line names its line in the whole input; exit code 1', async () => {
    const good = Array.from({ length: 6000 }, (_, i) => `stdin v=${i} ${(BigInt(T0 + i) * 1_000_000n).toString()}`);
    const ok = await run(['ts', 'write', '-', ...auth()], `${good.join('\n')}\n`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /wrote 6000 points in 2 requests/);

    const bad = [...good.slice(0, 5002), 'stdin v=oops', ...good.slice(5002)];
    const r = await run(['ts', 'write', ...auth()], `${bad.join('\n')}\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTP 400 INVALID_ARGUMENT: line 5003, column \d+: /);

    const seconds = await run(['ts', 'write', '--precision', 's', ...auth()], `secs v=1 ${T0 / 1000}\n`);
    assert.equal(seconds.code, 0, seconds.stderr);
    assert.match(seconds.stdout, /wrote 1 point in 1 request/);
  });

  test('credentials: without them 401; basic auth works', async () => {
    const none = await run(['ts', 'query', '-m', 'cpu', '--url', url, '--from', String(T0), '--to', String(T0 + 1)]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /HTTP 401 UNAUTHENTICATED/);
    const basic = await run(['ts', 'query', '-m', 'secs', '--url', url, '--user', 'w', '--password', 'pw', '--from', String(T0), '--to', String(T0 + 1), '--format', 'csv']);
    assert.equal(basic.code, 0, basic.stderr);
    assert.equal(basic.stdout.trim().split('\n')[1], `${formatTime(T0)},secs,,v,1`);
  });
});

test('argument helpers: times, intervals, query building', () => {
  const now = 1_700_000_000_000;
  assert.equal(parseTimeArg('now', now, '--to'), now);
  assert.equal(parseTimeArg('-1h', now, '--from'), now - 3_600_000);
  assert.equal(parseTimeArg('-7d', now, '--from'), now - 7 * 86_400_000);
  assert.equal(parseTimeArg('1700000000000', now, '--from'), 1_700_000_000_000);
  assert.equal(parseTimeArg('2023-11-14T22:13:20Z', now, '--from'), 1_700_000_000_000);
  assert.equal(parseTimeArg('2023-11-14T23:13:20.5+01:00', now, '--from'), 1_700_000_000_500);
  assert.throws(() => parseTimeArg('yesterday', now, '--from'), /--from/);
  assert.throws(() => parseTimeArg('-1 fortnight', now, '--from'), /--from/);
  assert.deepEqual(parseEveryArg('1m'), { ms: 60_000 });
  assert.deepEqual(parseEveryArg('1mo'), { months: 1 });
  assert.deepEqual(parseEveryArg('2y'), { months: 24 });
  assert.throws(() => parseEveryArg('0s'), /--every/);
  const q = buildQuery(
    { url: '', measurement: 'cpu', from: '-1h', to: 'now', match: ['host=a', 'dc!~eu.*', 'x!=y', 'r=~a|b'], fields: ['a,b', 'c'], agg: 'p99', every: '5m', groupBy: 'host,dc', level: 'raw', limit: '10', order: 'desc', format: 'table' },
    now,
  );
  assert.deepEqual(q, {
    measurement: 'cpu',
    fromMs: now - 3_600_000,
    toMs: now,
    matchers: [
      { tag: 'host', op: '=', value: 'a' },
      { tag: 'dc', op: '!~', value: 'eu.*' },
      { tag: 'x', op: '!=', value: 'y' },
      { tag: 'r', op: '=~', value: 'a|b' },
    ],
    fields: ['a', 'b', 'c'],
    aggregate: { fn: 'percentile', percentile: 99, every: { ms: 300_000 } },
    groupBy: ['host', 'dc'],
    level: 'raw',
    limit: 10,
    order: 'desc',
  });
  assert.deepEqual(buildQuery({ url: '', measurement: 'cpu', from: '0', to: '10', match: [], fields: [], groupBy: '', format: 'csv' }, now).groupBy, []);
  assert.throws(() => buildQuery({ url: '', measurement: 'cpu', from: '0', to: '10', match: [], fields: [], every: '1m', format: 'csv' }, now), /--every needs --agg/);
  assert.equal(formatTime(T0, 1234), '2023-11-14T22:13:20.000001234Z');
});
