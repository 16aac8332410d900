// `strata serve` as a user runs it: a real process with all three front
// ends on loopback; one key written over RESP is read over HTTP and gRPC;
// SIGTERM shuts down cleanly (exit 0) and the data is there after a restart;
// with syncMode always, acknowledged writes survive kill -9; a non-loopback
// host without users is refused with a message naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { CLI, serve } from '../helpers/serve-process.js';

const cli = CLI;
const root = resolve(new URL('.', import.meta.url).pathname, '../../..');

test('one key through all three front ends; SIGTERM exits 0; data survives a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-serve-'));
  let s = await serve(['--data-dir', dir]);
  const redis = new Redis({ host: '127.0.0.1', port: s.ports.resp!, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await redis.connect();
  assert.equal(await redis.set('greeting', 'hello from RESP'), 'OK');
  assert.equal(await redis.incrby('counter', 41), 41);
  redis.disconnect();
  const http = await fetch(`http://127.0.0.1:${s.ports.http}/v1/kv/greeting`);
  assert.equal(http.status, 200);
  assert.equal(await http.text(), 'hello from RESP');
  const put = await fetch(`http://127.0.0.1:${s.ports.http}/v1/kv/from-http`, { method: 'PUT', body: 'written over HTTP' });
  assert.ok(put.ok);
  const health = await fetch(`http://127.0.0.1:${s.ports.http}/health`);
  assert.equal(health.status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${s.ports.http}/metrics`)).text();
  assert.match(metrics, /strata_commands_total\{[^}]*protocol="resp"[^}]*command="set"/i);
  // gRPC: a health check through the real grpc-js client.
  const grpcOk = spawnSync(process.execPath, ['--input-type=module', '-e', grpcProbe(s.ports.grpc!)], { cwd: root, encoding: 'utf8' });
  assert.equal(grpcOk.stdout.trim(), 'SERVING hello from RESP', grpcOk.stderr);
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0, s.stderr());

  s = await serve(['--data-dir', dir, '--protocols', 'resp']);
  const again = new Redis({ host: '127.0.0.1', port: s.ports.resp!, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await again.connect();
  assert.equal(await again.get('greeting'), 'hello from RESP');
  assert.equal(await again.get('from-http'), 'written over HTTP');
  assert.equal(await again.get('counter'), '41');
  again.disconnect();
  s.child.kill('SIGINT');
  assert.equal(await s.exited, 0, s.stderr());
  // The offline tools open a stopped node's directory (expiring-value layout) too.
  const stats = spawnSync(process.execPath, [cli, 'db', 'stats', '-d', dir], { encoding: 'utf8' });
  assert.equal(stats.status, 0, stats.stderr);
  assert.match(stats.stdout, /sequence \d+/);
});

/** A tiny grpc-js client run in its own process (the package's proto files, as a user would load them). */
function grpcProbe(port: number): string {
  return `
    import * as grpc from '@grpc/grpc-js';
    import * as loader from '@grpc/proto-loader';
    const opts = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: ['proto'] };
    const h = grpc.loadPackageDefinition(loader.loadSync('grpc/health/v1/health.proto', opts));
    const kv = grpc.loadPackageDefinition(loader.loadSync('strata/v1/kv.proto', opts));
    const addr = '127.0.0.1:${port}';
    const health = new h.grpc.health.v1.Health(addr, grpc.credentials.createInsecure());
    health.check({ service: '' }, (err, res) => {
      if (err) { console.error(err); process.exit(1); }
      const client = new kv.strata.v1.KV(addr, grpc.credentials.createInsecure());
      client.get({ key: Buffer.from('greeting') }, (err2, got) => {
        if (err2) { console.error(err2); process.exit(1); }
        console.log(res.status + ' ' + Buffer.from(got.value).toString());
        process.exit(0);
      });
    });`;
}

test('time series: every acknowledged point survives kill -9 (default sync mode: the head log is in the OS before the answer)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-serve-ts-kill-'));
  let s = await serve(['--data-dir', dir, '--protocols', 'http']);
  const t0 = Date.UTC(2025, 0, 1);
  // 20 writes of 100 points (one series per write, so later writes also create series), none of them sealed yet.
  for (let w = 0; w < 20; w++) {
    const lines = Array.from({ length: 100 }, (_, i) => `m,host=h${w} v=${i} ${t0 + i * 1000}`).join('\n');
    const res = await fetch(`http://127.0.0.1:${s.ports.http}/v1/ts/write?precision=ms`, { method: 'POST', body: lines });
    assert.equal(res.status, 204);
  }
  s.child.kill('SIGKILL');
  await s.exited;
  s = await serve(['--data-dir', dir, '--protocols', 'http']);
  const res = await fetch(`http://127.0.0.1:${s.ports.http}/v1/ts/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ measurement: 'm', fromMs: t0, toMs: t0 + 3_600_000, aggregate: { fn: 'sum' }, groupBy: [] }),
  });
  const body = (await res.json()) as { series: Array<{ values: number[] }> };
  assert.equal(body.series[0]!.values[0], 20 * ((99 * 100) / 2));
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0, s.stderr());
});

test('syncMode always: every acknowledged write survives kill -9', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-serve-kill-'));
  let s = await serve(['--data-dir', dir, '--protocols', 'resp', '--sync-mode', 'always']);
  const redis = new Redis({ host: '127.0.0.1', port: s.ports.resp!, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await redis.connect();
  const pipeline = redis.pipeline();
  for (let i = 0; i < 500; i++) pipeline.set(`k${i}`, `v${i}`);
  const results = await pipeline.exec();
  assert.ok(results !== null && results.every(([err, r]) => err === null && r === 'OK'));
  redis.disconnect();
  s.child.kill('SIGKILL');
  await s.exited;
  s = await serve(['--data-dir', dir, '--protocols', 'resp']);
  const again = new Redis({ host: '127.0.0.1', port: s.ports.resp!, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await again.connect();
  const values = await again.mget(...Array.from({ length: 500 }, (_, i) => `k${i}`));
  assert.deepEqual(values, Array.from({ length: 500 }, (_, i) => `v${i}`));
  again.disconnect();
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('refuses a non-loopback host without users, and a bad config key, with clear messages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-serve-bad-'));
  const open = spawnSync(process.execPath, [cli, 'serve', '--data-dir', dir, '--host', '0.0.0.0'], { encoding: 'utf8' });
  assert.notEqual(open.status, 0);
  assert.match(open.stderr, /CONFIG.*server\.host.*refusing to listen on 0\.0\.0\.0 without authentication.*--insecure/);
  const cfg = join(dir, 'strata.yaml');
  writeFileSync(cfg, 'limits:\n  clientsMax: -1\n');
  const bad = spawnSync(process.execPath, [cli, 'serve', '--config', cfg], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /limits\.clientsMax \(file .*strata\.yaml\)/);
  const envBad = spawnSync(process.execPath, [cli, 'serve', '--data-dir', dir], { encoding: 'utf8', env: { ...process.env, STRATA_SERVER_RESP_PORT: 'six' } });
  assert.match(envBad.stderr, /server\.respPort \(environment STRATA_SERVER_RESP_PORT\)/);
  const setBad = spawnSync(process.execPath, [cli, 'serve', '--data-dir', dir, '--set', 'limits.clientsMax=0'], { encoding: 'utf8' });
  assert.match(setBad.stderr, /limits\.clientsMax \(flag\): must be an integer in \[1, 1000000\], got 0/);
  const setUnknown = spawnSync(process.execPath, [cli, 'serve', '--data-dir', dir, '--set', 'limits.clients=5'], { encoding: 'utf8' });
  assert.match(setUnknown.stderr, /limits\.clients: not a configuration key/);
});

test('strata hash-password and new-token print credentials the config accepts', () => {
  const hash = spawnSync(process.execPath, [cli, 'hash-password'], { input: 'correct horse\n', encoding: 'utf8' });
  assert.equal(hash.status, 0, hash.stderr);
  assert.match(hash.stdout.trim(), /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  const tok = spawnSync(process.execPath, [cli, 'new-token'], { encoding: 'utf8' });
  assert.match(tok.stdout, /token: +\S{40,}\ntokenHash: [0-9a-f]{64}/);
});

test('strata kv is a client of a running node, with users and roles', async () => {
  const { hashPassword, newToken } = await import('../../src/server/auth.js');
  const dir = mkdtempSync(join(tmpdir(), 'strata-serve-kv-'));
  const { token, tokenHash } = newToken();
  const cfg = join(dir, 'strata.yaml');
  writeFileSync(
    cfg,
    [
      'security:',
      '  users:',
      '    - name: app',
      `      passwordHash: "${hashPassword('s3cret')}"`,
      '      role: read-write',
      `      tokenHashes: ["${tokenHash}"]`,
      '    - name: viewer',
      `      passwordHash: "${hashPassword('look')}"`,
      '      role: read-only',
      '',
    ].join('\n'),
  );
  const s = await serve(['--config', cfg, '--data-dir', join(dir, 'data'), '--protocols', 'http,resp']);
  const url = `http://127.0.0.1:${s.ports.http}`;
  const kv = (...args: string[]) => spawnSync(process.execPath, [cli, 'kv', ...args, '--url', url], { encoding: 'utf8' });
  try {
    const denied = kv('get', 'a');
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /HTTP 401 UNAUTHENTICATED/);
    assert.equal(kv('put', 'user:1', 'ada', '--token', token).stdout.trim(), 'OK');
    assert.equal(kv('put', 'user:2', 'grace', '--user', 'app', '--password', 's3cret').stdout.trim(), 'OK');
    assert.equal(kv('get', 'user:1', '--user', 'viewer', '--password', 'look').stdout.trim(), 'ada');
    const ro = kv('put', 'user:3', 'x', '--user', 'viewer', '--password', 'look');
    assert.match(ro.stderr, /HTTP 403 PERMISSION_DENIED/);
    assert.equal(kv('scan', '--prefix', 'user:', '--token', token).stdout, 'user:1\tada\nuser:2\tgrace\n');
    assert.equal(kv('del', 'user:1', '--token', token).stdout.trim(), '1');
    const missing = kv('get', 'user:1', '--token', token);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /not found/);
    // The same users on RESP.
    const cliRedis = (...a: string[]) => {
      const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(s.ports.resp), ...a], { encoding: 'utf8' });
      return (r.stderr + r.stdout).trim();
    };
    assert.match(cliRedis('GET', 'user:2'), /NOAUTH Authentication required/);
    assert.match(cliRedis('--user', 'app', '--pass', 'wrong', '--no-auth-warning', 'GET', 'user:2'), /WRONGPASS/);
    assert.equal(cliRedis('--user', 'app', '--pass', 's3cret', '--no-auth-warning', 'GET', 'user:2'), 'grace');
    const redis = new Redis({ host: '127.0.0.1', port: s.ports.resp!, username: 'viewer', password: 'look', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await redis.connect();
    assert.equal(await redis.get('user:2'), 'grace');
    await assert.rejects(redis.set('user:2', 'x'), /NOPERM/);
    redis.disconnect();
  } finally {
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  }
});

test('TLS from the config: RESP and HTTPS with the configured certificate; a missing file names the key', async () => {
  const { makeTestCerts } = await import('../helpers/tls.js');
  const certs = makeTestCerts();
  const dir = mkdtempSync(join(tmpdir(), 'strata-serve-tls-'));
  const cfg = join(dir, 'strata.yaml');
  writeFileSync(cfg, `security:\n  tls:\n    enabled: true\n    certFile: ${certs.certFile}\n    keyFile: ${certs.keyFile}\n`);
  const s = await serve(['--config', cfg, '--data-dir', join(dir, 'data'), '--protocols', 'resp,http']);
  try {
    const redis = new Redis({ host: '127.0.0.1', port: s.ports.resp!, tls: { ca: certs.ca, servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await redis.connect();
    assert.equal(await redis.set('secure', 'yes'), 'OK');
    redis.disconnect();
    const { request } = await import('node:https');
    const body = await new Promise<string>((res, rej) => {
      const req = request({ host: '127.0.0.1', port: s.ports.http, path: '/v1/kv/secure', ca: certs.ca, servername: 'localhost' }, (r) => {
        let t = '';
        r.on('data', (d: Buffer) => (t += d.toString()));
        r.on('end', () => res(t));
      });
      req.on('error', rej);
      req.end();
    });
    assert.equal(body, 'yes');
    // Plain HTTP to the TLS port gets no answer from the API.
    await assert.rejects(fetch(`http://127.0.0.1:${s.ports.http}/v1/kv/secure`));
  } finally {
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  }
  writeFileSync(cfg, `security:\n  tls:\n    enabled: true\n    certFile: ${join(dir, 'missing.pem')}\n    keyFile: ${certs.keyFile}\n`);
  const bad = spawnSync(process.execPath, [cli, 'serve', '--config', cfg, '--data-dir', join(dir, 'data')], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /security\.tls\.certFile: cannot read .*missing\.pem/);
});
