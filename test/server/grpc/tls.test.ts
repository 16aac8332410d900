// gRPC over TLS with a throwaway CA (openssl CLI), with and without client certificates.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { makeTestCerts } from '../../helpers/tls.js';
import type { TestCerts } from '../../helpers/tls.js';
import { KvTestClient, b, startServer, statusOf } from './harness.js';
import type { Harness } from './harness.js';

let certs: TestCerts;
let clientCert: { cert: Buffer; key: Buffer };
const clients: KvTestClient[] = [];
const channel: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 100,
  // The certificate names localhost; the target is an IP address.
  'grpc.ssl_target_name_override': 'localhost',
};

function client(h: Harness, credentials: grpc.ChannelCredentials): KvTestClient {
  const c = new KvTestClient(h.address, credentials, { channel });
  clients.push(c);
  return c;
}

before(() => {
  certs = makeTestCerts();
  const f = (n: string): string => join(certs.dir, n);
  const ssl = (...args: string[]): Buffer => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', '/CN=strata-test-client');
  writeFileSync(f('client-ext.cnf'), 'extendedKeyUsage=clientAuth\n');
  ssl('x509', '-req', '-in', f('client.csr'), '-CA', certs.caFile, '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.pem'), '-days', '2', '-extfile', f('client-ext.cnf'));
  clientCert = { cert: readFileSync(f('client.pem')), key: readFileSync(f('client.key')) };
});
after(() => {
  for (const c of clients) c.close();
});

test('KV and health work over TLS for a client trusting the CA', async () => {
  const h = await startServer({ tls: { cert: certs.cert, key: certs.key } });
  try {
    const c = client(h, grpc.credentials.createSsl(certs.ca));
    assert.deepEqual(await c.put({ key: b('tls/a'), value: b('secret') }), { written: true });
    assert.deepEqual((await c.get({ key: b('tls/a') })).value, b('secret'));
    assert.deepEqual((await c.scanAll({ prefix: b('tls/') })).keys, ['tls/a']);
    assert.deepEqual(await c.healthCheck(''), { status: 'SERVING' });
  } finally {
    await h.stop();
  }
});

test('a plaintext client or one not trusting the CA cannot reach a TLS server', async () => {
  const h = await startServer({ tls: { cert: certs.cert, key: certs.key } });
  try {
    const plain = client(h, grpc.credentials.createInsecure());
    assert.equal((await statusOf(plain.get({ key: b('a') }, {}))).code, grpc.status.UNAVAILABLE);
    const untrusting = client(h, grpc.credentials.createSsl());
    assert.equal((await statusOf(untrusting.get({ key: b('a') }))).code, grpc.status.UNAVAILABLE);
  } finally {
    await h.stop();
  }
});

test('with requireClientCert only clients presenting a certificate signed by the CA get in', async () => {
  const h = await startServer({ tls: { cert: certs.cert, key: certs.key, ca: certs.ca, requireClientCert: true } });
  try {
    const anonymous = client(h, grpc.credentials.createSsl(certs.ca));
    assert.equal((await statusOf(anonymous.get({ key: b('a') }))).code, grpc.status.UNAVAILABLE);
    const withCert = client(h, grpc.credentials.createSsl(certs.ca, clientCert.key, clientCert.cert));
    assert.deepEqual(await withCert.put({ key: b('mtls'), value: b('1') }), { written: true });
    assert.deepEqual((await withCert.get({ key: b('mtls') })).value, b('1'));
  } finally {
    await h.stop();
  }
});

test('clientsMax is enforced on TLS connections too (peers match through the TLS socket)', async () => {
  const h = await startServer({ tls: { cert: certs.cert, key: certs.key }, limits: { clientsMax: 1 } });
  try {
    const first = client(h, grpc.credentials.createSsl(certs.ca));
    await first.put({ key: b('a'), value: b('1') });
    const second = client(h, grpc.credentials.createSsl(certs.ca));
    assert.equal((await statusOf(second.get({ key: b('a') }))).code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual((await first.get({ key: b('a') })).value, b('1'));
  } finally {
    await h.stop();
  }
});
