/**
 * The cluster-aware TypeScript client (`import { StrataClient } from
 * 'stratadb/client'`). It talks to the nodes' HTTP API:
 *
 * - Topology-aware: it keeps the shard map (GET /api/v1/coordinator/
 *   shard-map), hashes each key to its shard as the nodes do, and sends the
 *   request straight to that shard's leader with `x-strata-forward: never`,
 *   so no node forwards it a second hop.
 * - A node that does not lead the shard answers NOT_LEADER naming the
 *   leader; the client follows the hint, refreshing its map when the hint
 *   is new to it or missing (an election), with a short backoff, until the
 *   request timeout.
 * - Writes carry a session (`x-strata-session: <client>/<seq>`): a write
 *   retried after a lost answer or a dead connection is applied once by the
 *   shard, and the retry gets the first attempt's answer.
 */
import { ERROR_CODES, StrataError } from '../base/index.js';
import type { ErrorCode } from '../base/index.js';
import { ShardRouter } from '../cluster/index.js';

export interface StrataClientOptions {
  /** HTTP base URLs of one or more nodes (e.g. http://127.0.0.1:8080); more are learned from the shard map. */
  nodes: string[];
  /** An API token (Bearer), or user and password (Basic). */
  token?: string;
  user?: string;
  password?: string;
  /** Default read level: 'linearizable' (default) or 'stale' (any replica). */
  read?: 'linearizable' | 'stale';
  /** Default write level: 'quorum' (default) or 'all' (every replica applied it). */
  write?: 'quorum' | 'all';
  /** How long one call may take, retries included (default 10 s). */
  timeoutMs?: number;
}

interface MapShard {
  id: number;
  leader: string;
  term: number;
  replicas: string[];
  /** Hash range (routing.ts): absent on a shard never split. */
  base?: number;
  lo?: number;
  hi?: number;
  splitFrom?: number;
}

interface ShardMap {
  version: number;
  keyspaces: Array<{ name: string; shards: number }>;
  shards: MapShard[];
  nodes: Array<{ id: string; http: string; status: string }>;
}

/** An error a node answered with: its stable code and message. */
export class StrataClientError extends StrataError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Percent-encodes key bytes for /v1/kv/<key>. */
function encodeKey(key: Uint8Array): string {
  let out = '';
  for (const b of key) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function bytesOf(v: string | Uint8Array): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class StrataClient {
  private map: ShardMap | undefined;
  /** Routes by `map` (made again when the map is replaced). */
  private router: ShardRouter | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly seeds: string[];
  private readonly clientId: string;
  private readonly freeSlots: Array<{ slot: number; seq: number }> = [];
  private slots = 0;
  /** Requests sent, and how many a node answered NOT_LEADER (tests and metrics). */
  readonly stats = { requests: 0, redirects: 0, retries: 0, mapRefreshes: 0 };

  private constructor(private readonly opts: StrataClientOptions) {
    if (opts.nodes.length === 0) throw new StrataError(ERROR_CODES.INVALID_ARGUMENT, 'give at least one node URL');
    this.seeds = opts.nodes.map((u) => u.replace(/\/+$/, ''));
    this.clientId = `${Date.now().toString(36)}-${Math.floor(Math.random() * 2 ** 48).toString(36)}`;
  }

  /** Connects: reads the shard map from the first node that answers. */
  static async connect(opts: StrataClientOptions): Promise<StrataClient> {
    const c = new StrataClient(opts);
    await c.refresh();
    return c;
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? 10_000;
  }

  private headers(): Record<string, string> {
    const o = this.opts;
    if (o.token !== undefined) return { authorization: `Bearer ${o.token}` };
    if (o.user !== undefined) return { authorization: `Basic ${Buffer.from(`${o.user}:${o.password ?? ''}`).toString('base64')}` };
    return {};
  }

  /** The shard map this client routes by (a copy). */
  topology(): ShardMap | undefined {
    return this.map === undefined ? undefined : (JSON.parse(JSON.stringify(this.map)) as ShardMap);
  }

  /** Re-reads the shard map (from any node that answers). Concurrent callers share one request. */
  refresh(): Promise<void> {
    this.refreshing ??= this.loadMap().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async loadMap(): Promise<void> {
    this.stats.mapRefreshes++;
    const urls = [...new Set([...(this.map?.nodes.filter((n) => n.http !== '' && n.status === 'up').map((n) => `http://${n.http}`) ?? []), ...this.seeds])];
    let last: unknown;
    for (const base of urls) {
      try {
        const r = await fetch(`${base}/api/v1/coordinator/shard-map`, { headers: this.headers(), signal: AbortSignal.timeout(3000) });
        if (!r.ok) throw await this.errorOf(r);
        const map = (await r.json()) as ShardMap;
        if (map.keyspaces.length === 0) throw new StrataError(ERROR_CODES.UNAVAILABLE, 'the cluster is still forming');
        this.map = map;
        this.router = undefined;
        return;
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new StrataError(ERROR_CODES.UNAVAILABLE, 'no node answered');
  }

  private async errorOf(r: Response): Promise<StrataClientError> {
    let code: ErrorCode = ERROR_CODES.UNAVAILABLE;
    let message = `HTTP ${r.status}`;
    try {
      const body = (await r.json()) as { error?: { code?: string; message?: string } };
      if (body.error?.code !== undefined && body.error.code in ERROR_CODES) code = body.error.code as ErrorCode;
      if (body.error?.message !== undefined) message = body.error.message;
    } catch {
      // not JSON: keep the status
    }
    return new StrataClientError(code, message, r.status);
  }

  /** The leader's HTTP base URL for `key` (or a replica's, or a seed when the map names none). */
  private route(key: Buffer, hint: string | undefined): { base: string; shard: MapShard } {
    const map = this.map!;
    this.router ??= new ShardRouter(map.keyspaces[0]!.shards, map.shards);
    const shard = map.shards[this.router.shardOf(key)]!;
    const id = hint !== undefined && hint !== '' ? hint : shard.leader;
    const node = map.nodes.find((n) => n.id === id);
    return { base: node !== undefined && node.http !== '' ? `http://${node.http}` : this.seeds[0]!, shard };
  }

  /**
   * Sends one key's request to its leader, following NOT_LEADER hints and
   * retrying unreachable nodes until the timeout. `idempotent` requests
   * (reads; writes with a session) are retried after any failure.
   */
  private async call(key: Buffer, build: (base: string) => [string, RequestInit]): Promise<Response> {
    if (this.map === undefined) await this.refresh();
    const deadline = Date.now() + this.timeoutMs;
    let hint: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const { base, shard } = this.route(key, hint);
      const followed = hint;
      hint = undefined;
      const [url, init] = build(base);
      this.stats.requests++;
      let failure: unknown;
      try {
        const r = await fetch(url, { ...init, signal: AbortSignal.timeout(Math.max(100, deadline - Date.now())) });
        if (r.status !== 503 && r.status !== 421) {
          // The hint was right: route the shard's next keys there at once.
          if (followed !== undefined) shard.leader = followed;
          return r;
        }
        const err = await this.errorOf(r);
        if (err.code === ERROR_CODES.NOT_LEADER) {
          this.stats.redirects++;
          hint = /leader is (\S+)$/.exec(err.message)?.[1];
          if (hint === undefined || this.map!.nodes.every((n) => n.id !== hint)) void this.refresh().catch(() => undefined);
        }
        // A split moved the key's range to another shard: the shard map says where once refreshed.
        if (err.code === ERROR_CODES.WRONG_SHARD) void this.refresh().catch(() => undefined);
        failure = err;
      } catch (err) {
        failure = err; // connection refused or reset, timeout: the node may be down
        void this.refresh().catch(() => undefined);
      }
      if (Date.now() >= deadline) throw failure instanceof Error ? failure : new StrataError(ERROR_CODES.UNAVAILABLE, String(failure));
      this.stats.retries++;
      if (hint === undefined) await sleep(Math.min(25 * 2 ** Math.min(attempt, 4), 400));
    }
  }

  /** The value of `key`, or undefined when absent. */
  async get(key: string | Uint8Array, options: { consistency?: 'linearizable' | 'stale' } = {}): Promise<Buffer | undefined> {
    const k = bytesOf(key);
    const consistency = options.consistency ?? this.opts.read ?? 'linearizable';
    const r = await this.call(k, (base) => [`${base}/v1/kv/${encodeKey(k)}?consistency=${consistency}`, { headers: { ...this.headers(), 'x-strata-forward': 'never' } }]);
    if (r.status === 404) {
      await r.body?.cancel();
      return undefined;
    }
    if (!r.ok) throw await this.errorOf(r);
    return Buffer.from(await r.arrayBuffer());
  }

  /** Writes `key`; with `ttlMs` it expires. Applied once even when retried. */
  async put(key: string | Uint8Array, value: string | Uint8Array, options: { ttlMs?: number; consistency?: 'quorum' | 'all' } = {}): Promise<void> {
    const k = bytesOf(key);
    const v = bytesOf(value);
    const consistency = options.consistency ?? this.opts.write ?? 'quorum';
    const ttl = options.ttlMs !== undefined ? `&ttl_ms=${options.ttlMs}` : '';
    await this.withSession(async (session) => {
      const r = await this.call(k, (base) => [
        `${base}/v1/kv/${encodeKey(k)}?consistency=${consistency}${ttl}`,
        { method: 'PUT', body: v, headers: { ...this.headers(), 'content-type': 'application/octet-stream', 'x-strata-forward': 'never', 'x-strata-session': session } },
      ]);
      if (!r.ok) throw await this.errorOf(r);
      await r.body?.cancel();
    });
  }

  /** Deletes `key`; true when it existed. Applied once even when retried. */
  async delete(key: string | Uint8Array, options: { consistency?: 'quorum' | 'all' } = {}): Promise<boolean> {
    const k = bytesOf(key);
    const consistency = options.consistency ?? this.opts.write ?? 'quorum';
    return this.withSession(async (session) => {
      const r = await this.call(k, (base) => [
        `${base}/v1/kv/${encodeKey(k)}?consistency=${consistency}`,
        { method: 'DELETE', headers: { ...this.headers(), 'x-strata-forward': 'never', 'x-strata-session': session } },
      ]);
      if (!r.ok) throw await this.errorOf(r);
      return ((await r.json()) as { deleted: number }).deleted > 0;
    });
  }

  /** Runs `fn` with a session slot ("<client>.<slot>/<seq>"): one write in flight per slot, seq rising per slot. */
  private async withSession<T>(fn: (session: string) => Promise<T>): Promise<T> {
    const s = this.freeSlots.pop() ?? { slot: this.slots++, seq: 0 };
    s.seq++;
    try {
      return await fn(`${this.clientId}.${s.slot}/${s.seq}`);
    } finally {
      this.freeSlots.push(s);
    }
  }

  /** Nothing to release today (HTTP connections are pooled by fetch); kept for symmetry with other clients. */
  close(): void {
    this.map = undefined;
    this.router = undefined;
  }
}
