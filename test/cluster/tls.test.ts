// Mutual TLS between nodes (cluster.tls): a 3-node cluster whose peer
// traffic is all TLS forms, routes and replicates; a plain-TCP peer is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalCluster } from '../../src/cli/local-cluster.js';
import { makeTestCerts } from '../helpers/tls.js';

test('a cluster with mutual TLS between nodes', { timeout: 120_000 }, async () => {
  const certs = makeTestCerts();
  const dir = mkdtempSync(join(tmpdir(), 'strata-cluster-tls-'));
  const tls = ['cluster.tls.enabled=true', `cluster.tls.certFile=${certs.certFile}`, `cluster.tls.keyFile=${certs.keyFile}`, `cluster.tls.caFile=${certs.caFile}`].flatMap((s) => ['--set', s]);
  const cluster = await LocalCluster.start({ nodes: 3, baseDir: dir, shards: 2, args: tls });
  try {
    const put = await fetch(cluster.url(0, '/v1/kv/secret'), { method: 'PUT', body: 'over tls' });
    assert.equal(put.status, 200);
    for (let i = 0; i < 3; i++) assert.equal(await (await fetch(cluster.url(i, '/v1/kv/secret'))).text(), 'over tls');
    // A plain TCP client on a peer port gets no HELLO answer: the TLS handshake fails and the socket closes.
    const closed = await new Promise<boolean>((resolve) => {
      const s = connect(cluster.nodes[1]!.ports.peer, '127.0.0.1', () => s.write(Buffer.alloc(64, 1)));
      s.on('data', () => undefined);
      s.on('error', () => undefined);
      s.on('close', () => resolve(true));
    });
    assert.ok(closed);
    assert.equal(await (await fetch(cluster.url(2, '/v1/kv/secret'))).text(), 'over tls', 'the cluster is unharmed');
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(certs.dir, { recursive: true, force: true });
  }
});
