// Configuration: YAML file, STRATA_* environment and flag overrides, with
// validation errors that name the key; the example file documents every key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ERROR_CODES, isStrataError } from '../../src/base/errors.js';
import { configKeys, defaultConfig, envNameOf, isLoopbackHost, loadConfig, parseDurationMs, tsdbPaths } from '../../src/node/index.js';

const root = join(new URL('.', import.meta.url).pathname, '../../..');

function yamlFile(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'strata-cfg-')), 'strata.yaml');
  writeFileSync(f, text);
  return f;
}

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => isStrataError(e, ERROR_CODES.CONFIG) && pattern.test(e.message));
}

test('defaults when nothing is given', () => {
  assert.deepEqual(loadConfig(), defaultConfig());
  assert.equal(defaultConfig().server.host, '127.0.0.1');
  assert.equal(defaultConfig().storage.dataDir, './data');
});

test('precedence: file < environment < flags, with sizes and lists', () => {
  const file = yamlFile('storage:\n  dataDir: /from/file\n  writeBufferBytes: 8MiB\nserver:\n  respPort: 7001\n  httpPort: 7002\n  protocols: [resp]\n');
  const cfg = loadConfig({
    file,
    env: { STRATA_SERVER_RESP_PORT: '7101', STRATA_LIMITS_VALUE_BYTES_MAX: '1MiB', PATH: '/bin', STRATA_LONG_TESTS: '1' },
    overrides: { 'server.respPort': '7201', 'security.tls.enabled': undefined },
  });
  assert.equal(cfg.storage.dataDir, '/from/file');
  assert.equal(cfg.storage.writeBufferBytes, 8 * 1024 * 1024);
  assert.equal(cfg.server.respPort, 7201);
  assert.equal(cfg.server.httpPort, 7002);
  assert.deepEqual(cfg.server.protocols, ['resp']);
  assert.equal(cfg.limits.valueBytesMax, 1024 * 1024);
  const env = loadConfig({ env: { STRATA_SERVER_PROTOCOLS: 'http, grpc', STRATA_SERVER_INSECURE: 'yes' } });
  assert.deepEqual(env.server.protocols, ['http', 'grpc']);
  assert.equal(env.server.insecure, true);
});

test('errors name the bad key and its source', () => {
  rejects(() => loadConfig({ file: yamlFile('server:\n  respPort: 70000\n') }), /server\.respPort \(file .*strata\.yaml\).*\[0, 65535\]/);
  rejects(() => loadConfig({ file: yamlFile('server:\n  rsp_port: 1\n') }), /server\.rsp_port .*unknown key/);
  rejects(() => loadConfig({ file: yamlFile('storage:\n  syncMode: sometimes\n') }), /storage\.syncMode .*one of always, periodic, none/);
  rejects(() => loadConfig({ file: yamlFile('server: [1, 2]\n') }), /server .*must be a mapping/);
  rejects(() => loadConfig({ file: yamlFile('server:\n  respPort: "6380"\n') }), /server\.respPort .*must be a number/);
  rejects(() => loadConfig({ file: yamlFile('a: [unclosed\n') }), /not valid YAML/);
  rejects(() => loadConfig({ file: '/nonexistent/strata.yaml' }), /config file \/nonexistent/);
  rejects(() => loadConfig({ env: { STRATA_SERVER_RESP_PORT: 'abc' } }), /server\.respPort \(environment STRATA_SERVER_RESP_PORT\)/);
  rejects(() => loadConfig({ env: { STRATA_SERVR_PORT: '1' } }), /STRATA_SERVR_PORT: not a configuration key/);
  rejects(() => loadConfig({ overrides: { 'storage.blockCacheBytes': '12 parsecs' } }), /storage\.blockCacheBytes \(flag\)/);
  rejects(() => loadConfig({ overrides: { 'security.tls.enabled': 'true' } }), /security\.tls .*certFile and keyFile/);
  rejects(() => loadConfig({ overrides: { 'server.respPort': '9000', 'server.httpPort': '9000' } }), /same port/);
  rejects(() => loadConfig({ file: yamlFile('security:\n  users:\n    - name: a\n      passwordHash: x\n      role: admin\n') }), /security\.users\[0\]\.role/);
});

test('strata.example.yaml documents every key with its default, and env names are derived', () => {
  const example = parse(readFileSync(join(root, 'strata.example.yaml'), 'utf8')) as Record<string, unknown>;
  const cfg = loadConfig({ file: join(root, 'strata.example.yaml') });
  assert.deepEqual(cfg, defaultConfig());
  const text = readFileSync(join(root, 'strata.example.yaml'), 'utf8');
  for (const key of configKeys()) {
    const leaf = key.split('.').pop()!;
    assert.ok(new RegExp(`^\\s*${leaf}:`, 'm').test(text), `${key} is in strata.example.yaml`);
  }
  assert.ok(example.storage !== undefined);
  assert.equal(envNameOf('storage.dataDir'), 'STRATA_STORAGE_DATA_DIR');
  assert.equal(envNameOf('security.tls.certFile'), 'STRATA_SECURITY_TLS_CERT_FILE');
});

test('loopback detection', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.com']) assert.equal(isLoopbackHost(h), false, h);
});

test('tsdb section: defaults, durations in file/env/flags, and its errors', () => {
  const d = defaultConfig().tsdb;
  assert.deepEqual(d, {
    enabled: true,
    chunkWindowMs: 2 * 3_600_000,
    maxHeadRows: 4096,
    maxHeadRowsTotal: 4_000_000,
    acceptPastMs: 0,
    acceptFutureMs: 86_400_000,
    coldAfterMs: 0,
    coldDir: '',
    deflateChunks: false,
    remoteWriteMaxBytes: 64 * 1024 * 1024,
    blockCacheBytes: 64 * 1024 * 1024,
    parseThreads: 1,
    decodedCacheBytes: 32 * 1024 * 1024,
  });
  const cfg = loadConfig({
    file: yamlFile('tsdb:\n  chunkWindowMs: 4h\n  acceptPastMs: 7d\n  coldAfterMs: 2592000000\n  remoteWriteMaxBytes: 8MiB\n  deflateChunks: true\n'),
    env: { STRATA_TSDB_ACCEPT_FUTURE_MS: '30m', STRATA_TSDB_ENABLED: 'false' },
    overrides: { 'tsdb.maxHeadRows': '100', 'tsdb.coldDir': '/cold' },
  });
  assert.equal(cfg.tsdb.chunkWindowMs, 4 * 3_600_000);
  assert.equal(cfg.tsdb.acceptPastMs, 7 * 86_400_000);
  assert.equal(cfg.tsdb.coldAfterMs, 30 * 86_400_000);
  assert.equal(cfg.tsdb.remoteWriteMaxBytes, 8 * 1024 * 1024);
  assert.equal(cfg.tsdb.deflateChunks, true);
  assert.equal(cfg.tsdb.acceptFutureMs, 30 * 60_000);
  assert.equal(cfg.tsdb.enabled, false);
  assert.equal(cfg.tsdb.maxHeadRows, 100);
  assert.deepEqual(tsdbPaths(cfg), { dir: join('./data', 'tsdb'), coldDir: '/cold' });
  assert.deepEqual(tsdbPaths(loadConfig({ overrides: { 'storage.dataDir': '/var/lib/strata' } })), { dir: '/var/lib/strata/tsdb', coldDir: '/var/lib/strata/tsdb-cold' });

  rejects(() => loadConfig({ file: yamlFile('tsdb:\n  chunkWindowMs: 90m\n') }), /tsdb\.chunkWindowMs .*whole number of hours/);
  rejects(() => loadConfig({ file: yamlFile('tsdb:\n  chunkWindowMs: 30m\n') }), /tsdb\.chunkWindowMs \(file .*\): must be from 3600000/);
  rejects(() => loadConfig({ env: { STRATA_TSDB_ACCEPT_PAST_MS: 'a week' } }), /tsdb\.acceptPastMs \(environment STRATA_TSDB_ACCEPT_PAST_MS\): must be milliseconds or a duration/);
  rejects(() => loadConfig({ overrides: { 'tsdb.maxHeadRows': '0' } }), /tsdb\.maxHeadRows \(flag\)/);
  rejects(() => loadConfig({ overrides: { 'tsdb.remoteWriteMaxBytes': '10' } }), /tsdb\.remoteWriteMaxBytes/);
  rejects(() => loadConfig({ file: yamlFile('tsdb:\n  enabled: maybe\n') }), /tsdb\.enabled/);
  rejects(() => loadConfig({ file: yamlFile('tsdb:\n  chunk_window: 2h\n') }), /tsdb\.chunk_window .*unknown key/);
});

test('durations: ms or one number with a unit; y is 365 days', () => {
  assert.equal(parseDurationMs(1500), 1500);
  assert.equal(parseDurationMs('1500'), 1500);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('30s'), 30_000);
  assert.equal(parseDurationMs('10m'), 600_000);
  assert.equal(parseDurationMs('12h'), 43_200_000);
  assert.equal(parseDurationMs(' 30d '), 30 * 86_400_000);
  assert.equal(parseDurationMs('2w'), 14 * 86_400_000);
  assert.equal(parseDurationMs('1y'), 365 * 86_400_000);
  for (const bad of ['', '1.5h', '-1s', '1M', '1 day', 'h', '1h30m', -1, 1.5, Number.NaN, '1001y']) assert.equal(parseDurationMs(bad), undefined, String(bad));
});
