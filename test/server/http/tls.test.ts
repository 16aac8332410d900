import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestCerts } from '../../helpers/tls.js';
import type { TestCerts } from '../../helpers/tls.js';
import { startHarness } from './harness.js';
import type { Harness } from './harness.js';

interface HttpsResult {
  status: number;
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

function httpsRequest(url: string, ca: Buffer, method = 'GET', body?: Buffer | string): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// One CA and server certificate (plus a client certificate from the same CA) for the whole file.
let certs: TestCerts;
let clientKey: Buffer;
let clientCert: Buffer;
before(() => {
  certs = makeTestCerts();
  const f = (n: string) => join(certs.dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', '/CN=strata-test-client');
  ssl('x509', '-req', '-in', f('client.csr'), '-CA', certs.caFile, '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.pem'), '-days', '2');
  clientKey = readFileSync(f('client.key'));
  clientCert = readFileSync(f('client.pem'));
});
after(() => {
  rmSync(certs.dir, { recursive: true, force: true });
});

describe('HTTPS', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ tls: { cert: certs.cert, key: certs.key } });
  });
  after(async () => {
    await h.close();
  });

  test('serves the API over TLS to a client that trusts the CA', async () => {
    const health = await httpsRequest(`${h.base}/health`, certs.ca);
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body.toString()), { status: 'ok' });
    const value = Buffer.from([0, 1, 2, 0xff]);
    assert.equal((await httpsRequest(`${h.base}/v1/kv/secure%00key`, certs.ca, 'PUT', value)).status, 200);
    const got = await httpsRequest(`${h.base}/v1/kv/secure%00key`, certs.ca);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, value);
    assert.deepEqual(await h.service.get(Buffer.from('secure\0key')), value);
  });

  test('a client that does not trust the certificate is refused, and so is plain HTTP', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const req = request(`${h.base}/health`, { agent: false }, resolve);
        req.on('error', reject);
        req.end();
      }),
      (err: Error & { code?: string }) => err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || err.code === 'SELF_SIGNED_CERT_IN_CHAIN',
    );
    await assert.rejects(fetch(`http://127.0.0.1:${h.port}/health`));
  });
});

describe('HTTPS with client certificates (requireClientCert)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ tls: { cert: certs.cert, key: certs.key, ca: certs.ca, requireClientCert: true } });
  });
  after(async () => {
    await h.close();
  });

  const get = (withCert: boolean) =>
    new Promise<number>((resolve, reject) => {
      const req = request(`${h.base}/health`, { ca: certs.ca, agent: false, ...(withCert ? { key: clientKey, cert: clientCert } : {}) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });

  test('a client with a certificate from the CA is served; one without is refused', async () => {
    assert.equal(await get(true), 200);
    await assert.rejects(get(false));
  });
});
