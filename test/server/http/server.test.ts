import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { errorOf, startHarness } from './harness.js';
import { GET_HEALTH, RawConnection } from './raw-http.js';

/** Waits (yielding to the event loop, no timers) until `cond` holds; fails after `rounds` turns. */
async function eventually(cond: () => boolean, what: string, rounds = 10_000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (cond()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  assert.fail(`never happened: ${what}`);
}

describe('HTTP server lifecycle, metrics, OpenAPI and limits', () => {
  test('GET /health is 200 while serving and 503 shutting_down once close() began; in-flight requests finish', { timeout: 10_000 }, async () => {
    const h = await startHarness();
    let closeResolved = false;
    try {
      const ok = await fetch(`${h.base}/health`);
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { status: 'ok' });

      // A: a PUT whose body is not sent yet; the server's 100 Continue shows it is in flight.
      const a = await RawConnection.open(h.port);
      a.send('PUT /v1/kv/inflight HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      assert.equal((await a.readResponse()).status, 100);
      // B: one health check answered, a second one begun (so the connection is not idle at close).
      const b = await RawConnection.open(h.port);
      b.send(`${GET_HEALTH}GET /health HTTP/1.1\r\nHost: test\r\n`);
      assert.equal((await b.readResponse()).status, 200);
      // C: the same, with a data request begun.
      const c = await RawConnection.open(h.port);
      c.send(`${GET_HEALTH}GET /v1/kv/inflight HTTP/1.1\r\nHost: test\r\n`);
      assert.equal((await c.readResponse()).status, 200);

      const closing = h.server.close().then(() => {
        closeResolved = true;
      });
      b.send('\r\n');
      const during = await b.readResponse();
      assert.equal(during.status, 503);
      assert.deepEqual(JSON.parse(during.body), { status: 'shutting_down' });
      assert.equal(during.headers['connection'], 'close');
      c.send('\r\n');
      const refused = await c.readResponse();
      assert.equal(refused.status, 503);
      assert.equal(errorOf(JSON.parse(refused.body)).code, 'UNAVAILABLE', 'new requests are refused while shutting down');
      assert.equal(closeResolved, false, 'close() waits for the request in flight');

      a.send('hello');
      const done = await a.readResponse();
      assert.equal(done.status, 200);
      assert.deepEqual(JSON.parse(done.body), { ok: true });
      assert.equal(done.headers['connection'], 'close', 'in-flight requests finish, then their connections close');
      await closing;
      assert.deepEqual(await h.service.get(Buffer.from('inflight')), Buffer.from('hello'));
      // The listener is gone.
      await assert.rejects(
        new Promise((resolve, reject) => {
          const s = connect(h.port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }),
        { code: 'ECONNREFUSED' },
      );
    } finally {
      await h.close();
    }
  });

  test('/metrics exposes per-route counters, connections and rejections in the Prometheus format', async () => {
    const h = await startHarness();
    try {
      await fetch(`${h.base}/v1/kv/m`, { method: 'PUT', body: 'v' });
      await fetch(`${h.base}/v1/kv/m`);
      await fetch(`${h.base}/v1/kv/missing`);
      await fetch(`${h.base}/v1/kv?limit=1`);
      await fetch(`${h.base}/nowhere`);
      const r = await fetch(`${h.base}/metrics`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), h.metrics.contentType);
      const text = await r.text();
      const has = (line: string) => assert.ok(text.split('\n').includes(line), `missing: ${line}`);
      has('strata_commands_total{protocol="http",command="kv.put",status="ok"} 1');
      has('strata_commands_total{protocol="http",command="kv.get",status="ok"} 1');
      has('strata_commands_total{protocol="http",command="kv.get",status="error"} 1');
      has('strata_commands_total{protocol="http",command="kv.scan",status="ok"} 1');
      has('strata_commands_total{protocol="http",command="unmatched",status="error"} 1');
      has('strata_command_duration_seconds_count{protocol="http",command="kv.put"} 1');
      assert.match(text, /^strata_connections_total\{protocol="http"\} [1-9]/m);
      assert.match(text, /^strata_engine\{stat="/m, 'engine stats are read at scrape time');
    } finally {
      await h.close();
    }
  });

  test('/openapi.json describes every registered route and nothing else; every $ref resolves', async () => {
    const h = await startHarness();
    try {
      const r = await fetch(`${h.base}/openapi.json`);
      assert.equal(r.status, 200);
      const doc = (await r.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
      assert.equal(doc.openapi, '3.1.0');
      const toOpenApi = (url: string) => url.replace('/*', '/{key}').replace(/:([A-Za-z_]+)/g, '{$1}');
      const registered = new Set(h.server.routes.map((route) => `${route.method.toLowerCase()} ${toOpenApi(route.url)}`));
      assert.ok(registered.size >= 8, 'the route list is collected');
      for (const route of registered) {
        const [method, path] = route.split(' ') as [string, string];
        assert.ok(doc.paths[path]?.[method] !== undefined, `OpenAPI lacks ${route}`);
      }
      const documented = new Set<string>();
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const method of Object.keys(item)) if (method !== 'parameters') documented.add(`${method} ${path}`);
      }
      assert.deepEqual([...documented].sort(), [...registered].sort());

      const refs: string[] = [];
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (typeof v === 'object' && v !== null) {
          for (const [k, x] of Object.entries(v)) {
            if (k === '$ref' && typeof x === 'string') refs.push(x);
            else walk(x);
          }
        }
      };
      walk(doc);
      assert.ok(refs.length > 10);
      for (const ref of refs) {
        let at: unknown = doc;
        for (const part of ref.replace(/^#\//, '').split('/')) at = (at as Record<string, unknown> | undefined)?.[part];
        assert.ok(at !== undefined, `unresolved ${ref}`);
      }
    } finally {
      await h.close();
    }
  });

  test('clientsMax: the connection over the limit gets 503 LIMIT_EXCEEDED and is closed; a slot frees when a client leaves', async () => {
    const h = await startHarness({ limits: { clientsMax: 2 } });
    try {
      const c1 = await RawConnection.open(h.port);
      const c2 = await RawConnection.open(h.port);
      for (const c of [c1, c2]) {
        c.send(GET_HEALTH);
        assert.equal((await c.readResponse()).status, 200);
      }
      assert.equal(h.server.connectionCount, 2);
      const c3 = await RawConnection.open(h.port);
      c3.send('PUT /v1/kv/refused HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nno');
      const refused = await c3.readResponse();
      assert.equal(refused.status, 503);
      assert.equal(errorOf(JSON.parse(refused.body)).code, 'LIMIT_EXCEEDED');
      await c3.closed;
      // The admitted connections keep working, and the refused write never ran.
      c2.send(GET_HEALTH);
      assert.equal((await c2.readResponse()).status, 200);
      c2.send('GET /v1/kv/refused HTTP/1.1\r\nHost: test\r\n\r\n');
      assert.equal((await c2.readResponse()).status, 404);

      c1.destroy();
      await eventually(() => h.server.connectionCount === 1, 'the server sees the client leave');
      const c4 = await RawConnection.open(h.port);
      c4.send(GET_HEALTH);
      assert.equal((await c4.readResponse()).status, 200);
      // A new connection for /metrics would be over the limit (c2 and c4 are open): ask through c2.
      c2.send('GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n');
      const m = await c2.readResponse();
      assert.match(m.body, /^strata_rejected_total\{protocol="http",reason="limit"\} [1-9]/m);
      assert.match(m.body, /^strata_connections\{protocol="http"\} 2$/m);
      c2.destroy();
      c4.destroy();
    } finally {
      await h.close();
    }
  });

  test('idleTimeoutMs closes a connection that sends nothing', { timeout: 10_000 }, async () => {
    const h = await startHarness({ limits: { idleTimeoutMs: 150 } });
    try {
      const c = await RawConnection.open(h.port);
      await c.closed; // the server closes it once idle (the test's timeout fails it otherwise)
    } finally {
      await h.close();
    }
  });

  test('a request line over the header limit is answered with a JSON error and the connection closed', async () => {
    const h = await startHarness({ limits: { keyBytesMax: 16 } });
    try {
      const c = await RawConnection.open(h.port);
      c.send(`GET /v1/kv/${'x'.repeat(20_000)} HTTP/1.1\r\nHost: test\r\n\r\n`);
      const r = await c.readResponse();
      assert.equal(r.status, 431);
      assert.equal(errorOf(JSON.parse(r.body)).code, 'LIMIT_EXCEEDED');
      await c.closed;
      const bad = await RawConnection.open(h.port);
      bad.send('GARBAGE\r\n\r\n');
      const rb = await bad.readResponse();
      assert.equal(rb.status, 400);
      assert.equal(errorOf(JSON.parse(rb.body)).code, 'PROTOCOL');
    } finally {
      await h.close();
    }
  });
});
