import type { FastifyRequest } from 'fastify';
import { ERROR_CODES, StrataError, invalidArgument } from '../../base/index.js';
import type { ClusterNode } from '../../cluster/index.js';
import { DEFAULT_KEYSPACE, shardGroupName } from '../../cluster/index.js';
import { parseJsonBody } from './batch-request.js';
import type { HttpApp } from './http-app.js';
import { splitTarget } from './percent-encoding.js';
import { QueryParams } from './query-params.js';
import type { RouteMeta } from './route-meta.js';

/**
 * The coordinator API (seed: LSMTree), served by every cluster node; what
 * changes cluster metadata is forwarded to the meta leader:
 *
 *   GET    /api/v1/coordinator/health                 this node's view: nodes, meta leader, shards without a leader
 *   GET    /api/v1/coordinator/shard-map              keyspaces, shards with replicas and leaders, nodes
 *   GET    /api/v1/coordinator/leader?key=|metric=    the shard of a key (or a series' metric) and its leader
 *   GET    /api/v1/coordinator/rebalance              moves in flight, replicas per node, whether balanced
 *   POST   /api/v1/coordinator/nodes                  register a node {id, peer, resp?, http?, grpc?, datacenter?, rack?}
 *   DELETE /api/v1/coordinator/nodes/{nodeId}         remove a node (200), or drain it first when it holds replicas (202)
 *   POST   /api/v1/coordinator/shard/{shardId}/election   transfer the shard's leadership {target?}
 *   POST   /api/v1/coordinator/shard/{shardId}/split      split the shard in two by hash range (202; runs in the background)
 *
 * With cluster.faultInjection (tests and the Jepsen harness only) `POST /api/v1/coordinator/debug/partition
 * {"nodes": [...]}` makes this node drop all peer traffic to and from those
 * nodes (`[]` heals).
 */
export function registerCoordinatorRoutes(app: HttpApp, node: ClusterNode): void {
  const meta = (name: string, write: boolean): { config: { strata: RouteMeta } } => ({ config: { strata: { name: `coordinator.${name}`, write, public: false } } });
  const queryOf = (request: FastifyRequest, allowed: readonly string[]) => new QueryParams(splitTarget(request.originalUrl).query, allowed);

  app.get('/api/v1/coordinator/health', meta('health', false), async (request) => {
    queryOf(request, []);
    return node.health();
  });

  app.get('/api/v1/coordinator/shard-map', meta('shard_map', false), async (request) => {
    queryOf(request, []);
    return node.shardMap();
  });

  app.get('/api/v1/coordinator/rebalance', meta('rebalance', false), async (request) => {
    queryOf(request, []);
    return node.rebalanceStatus();
  });

  app.get('/api/v1/coordinator/leader', meta('leader', false), async (request) => {
    const q = queryOf(request, ['key', 'metric']);
    const key = q.text('key');
    const metric = q.text('metric');
    if ((key === undefined) === (metric === undefined)) throw invalidArgument("give exactly one of the query parameters 'key' and 'metric'");
    const { shards } = node.keyspace();
    const shard = node.router().shardOf(Buffer.from((key ?? metric)!, 'utf8'));
    const group = shardGroupName(DEFAULT_KEYSPACE, shard);
    const entry = node.shardMap().shards.find((s) => shardGroupName(s.keyspace, s.id) === group);
    const leader = entry?.leader ?? '';
    const nodes = node.shardMap().nodes;
    return {
      keyspace: DEFAULT_KEYSPACE,
      shard,
      leader,
      term: entry?.term ?? 0,
      replicas: shards[shard]!.replicas,
      leaderAddresses: nodes.find((n) => n.id === leader) ?? null,
    };
  });

  app.post('/api/v1/coordinator/nodes', meta('register_node', true), async (request, reply) => {
    queryOf(request, []);
    const body = parseJsonBody(bodyBuffer(request));
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidArgument('the body must be a JSON object');
    const o = body as Record<string, unknown>;
    const text = (k: string, required: boolean, fallback = ''): string => {
      const v = o[k];
      if (v === undefined && !required) return fallback;
      if (typeof v !== 'string' || v.length === 0 || v.length > 256) throw invalidArgument(`'${k}' must be a non-empty string`);
      return v;
    };
    const id = text('id', true);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw invalidArgument("'id' must be 1-64 characters of letters, digits, _ . -");
    const peer = text('peer', true);
    if (!/^[^\s:]+:\d{1,5}$/.test(peer)) throw invalidArgument("'peer' must be host:port");
    await node.registerNode({ id, peer, resp: text('resp', false), http: text('http', false), grpc: text('grpc', false), datacenter: text('datacenter', false, 'dc1'), rack: text('rack', false, 'r1') });
    return reply.code(201).send({ ok: true, id });
  });

  app.delete('/api/v1/coordinator/nodes/:nodeId', meta('remove_node', true), async (request, reply) => {
    queryOf(request, []);
    const id = (request.params as { nodeId: string }).nodeId;
    const r = await node.removeNode(id);
    // 202: its replicas are moving off; the meta leader removes it once it holds none.
    return reply.code(r.removed ? 200 : 202).send({ ok: true, id, ...r });
  });

  app.post('/api/v1/coordinator/shard/:shardId/election', meta('election', true), async (request) => {
    queryOf(request, []);
    const raw = (request.params as { shardId: string }).shardId;
    if (!/^\d{1,6}$/.test(raw)) throw invalidArgument('shardId must be a shard number');
    let target = '';
    const buf = bodyBuffer(request);
    if (buf.length > 0) {
      const body = parseJsonBody(buf) as { target?: unknown };
      if (body.target !== undefined) {
        if (typeof body.target !== 'string') throw invalidArgument("'target' must be a node id");
        target = body.target;
      }
    }
    return node.transferLeadership(Number(raw), target);
  });

  app.post('/api/v1/coordinator/shard/:shardId/split', meta('split', true), async (request, reply) => {
    queryOf(request, []);
    const raw = (request.params as { shardId: string }).shardId;
    if (!/^\d{1,6}$/.test(raw)) throw invalidArgument('shardId must be a shard number');
    const split = await node.splitShard(Number(raw));
    return reply.code(202).send({ split });
  });

  if (node.opts.faultInjection === true) {
    app.post('/api/v1/coordinator/debug/partition', meta('debug_partition', true), async (request) => {
      const body = parseJsonBody(bodyBuffer(request)) as { nodes?: unknown };
      if (!Array.isArray(body.nodes) || body.nodes.some((n) => typeof n !== 'string')) throw invalidArgument("'nodes' must be a list of node ids");
      node.setBlocked(body.nodes as string[]);
      return { ok: true, blocked: body.nodes };
    });
  }
}

function bodyBuffer(request: FastifyRequest): Buffer {
  const body: unknown = request.body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (!Buffer.isBuffer(body)) throw new StrataError(ERROR_CODES.PROTOCOL, 'unexpected request body');
  return body;
}
