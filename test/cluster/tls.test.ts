// Mutual TLS between nodes (cluster.tls): a 3-node cluster whose peer
// traffic is all TLS forms, routes and replicates; a plain-TCP peer is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalCluster } from '../../src/cli/local-cluster.js';
import { FrameKind, PEER_PROTOCOL_VERSION, decodeFrame, encodeFrame } from '../../src/cluster/index.js';
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
    // A plain-TCP peer sending a well-formed HELLO of this cluster (which a node without TLS would answer
    // with its own HELLO) gets no frame back: the TLS handshake fails and the socket closes.
    const hello = encodeFrame({ kind: FrameKind.Hello, nodeId: 'intruder', clusterId: 'strata', protocolVersion: PEER_PROTOCOL_VERSION });
    const got = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const s = connect(cluster.nodes[1]!.ports.peer, '127.0.0.1', () => s.write(hello));
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', () => undefined);
      s.on('close', () => resolve(Buffer.concat(chunks)));
    });
    assert.throws(() => decodeFrame(got), 'no HELLO comes back over plain TCP');
    assert.equal(await (await fetch(cluster.url(2, '/v1/kv/secret'))).text(), 'over tls', 'the cluster is unharmed');
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(certs.dir, { recursive: true, force: true });
  }
});
