import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ERROR_CODES, StrataError } from '../base/index.js';

/**
 * The node's configuration: one YAML file with sections storage, server,
 * security, limits, tsdb and log; every key can be overridden by a `STRATA_*`
 * environment variable (STRATA_<SECTION>_<KEY> in SCREAMING_SNAKE case,
 * e.g. STRATA_SERVER_RESP_PORT) and by command-line flags. Precedence:
 * defaults < file < environment < flags. Everything is validated at start;
 * an error names the bad key and where it came from.
 * `strata.example.yaml` documents every key.
 */
export interface StrataConfig {
  storage: {
    dataDir: string;
    /** 'always': fsync every write; 'periodic': fsync at most every syncIntervalMs (Redis everysec); 'none': leave it to the OS. */
    syncMode: 'always' | 'periodic' | 'none';
    syncIntervalMs: number;
    writeBufferBytes: number;
    blockCacheBytes: number;
    compression: 'snappy' | 'none';
  };
  server: {
    host: string;
    respPort: number;
    httpPort: number;
    grpcPort: number;
    /** Which front ends to run. */
    protocols: Array<'resp' | 'http' | 'grpc'>;
    /** Allow a non-loopback host without users configured (logged as a warning). */
    insecure: boolean;
    /** How long shutdown waits for in-flight requests before closing connections. */
    shutdownTimeoutMs: number;
  };
  security: {
    users: Array<{ name: string; passwordHash: string; role: 'read-only' | 'read-write'; tokenHashes: string[] }>;
    tls: {
      enabled: boolean;
      certFile: string;
      keyFile: string;
      /** When set, client certificates signed by this CA are requested. */
      caFile: string;
      requireClientCert: boolean;
    };
  };
  limits: {
    /** Largest request: a RESP command (all its arguments), an HTTP body, a gRPC message. */
    requestBytesMax: number;
    /** Largest value a client may store. */
    valueBytesMax: number;
    /** Largest key. */
    keyBytesMax: number;
    /** Concurrent client connections per front end; the next one gets an error and is closed. */
    clientsMax: number;
    /** Commands parsed but not yet answered on one RESP connection before the server stops reading from it. */
    pipelineDepthMax: number;
    /** A connection idle this long is closed (0: never). */
    idleTimeoutMs: number;
    /** Replies queued for a client that does not read: past this the server stops executing its commands; past twice this it disconnects. */
    outputBufferBytesMax: number;
    /** Largest page a scan returns. */
    scanLimitMax: number;
  };
  tsdb: {
    /** Run the time-series database (HTTP /v1/ts, /api/v2/write, /api/v1/write). */
    enabled: boolean;
    /** Span of one sealed chunk: a whole number of hours. */
    chunkWindowMs: number;
    /** A series' in-memory head is sealed into a chunk once it holds this many rows. */
    maxHeadRows: number;
    /** Rows in all heads together above which every head is sealed and writers wait (bounds memory). */
    maxHeadRowsTotal: number;
    /** Reject points older than now minus this (0: only retention limits how old). */
    acceptPastMs: number;
    /** Reject points later than now plus this. */
    acceptFutureMs: number;
    /** Chunks whose window ended this long ago move to the cold tier (0: never). */
    coldAfterMs: number;
    /** The cold tier's directory; empty: `<dataDir>/tsdb-cold`. */
    coldDir: string;
    /** Deflate sealed chunk bodies when that saves at least 10%. */
    deflateChunks: boolean;
    /** Largest decompressed write body: a Prometheus remote write (snappy) or a gzip line-protocol body. */
    remoteWriteMaxBytes: number;
    /** The time-series engine's own block cache (the key-value engine has storage.blockCacheBytes). */
    blockCacheBytes: number;
    /** Threads that parse large line-protocol write bodies off the event loop (0: parse on it). */
    parseThreads: number;
    /** Recently read chunks kept decoded for queries (bytes of decoded values; 0: none). */
    decodedCacheBytes: number;
  };
  cluster: {
    /** Run as a cluster member (also on when peerPort or join is set from flags). */
    enabled: boolean;
    /** This node's id (default: "n" + peer port). Stable across restarts: it names the node's replicas. */
    nodeId: string;
    /** The peer transport's port (node-to-node traffic). */
    peerPort: number;
    /** The address other nodes reach this node's peer port at (default server.host:peerPort). */
    advertiseHost: string;
    /** Peer addresses (host:port) of existing members to join through; empty: this node starts a new cluster. */
    join: string[];
    /** The default keyspace's shards are placed once this many nodes have registered. */
    bootstrapExpect: number;
    /** The default keyspace: shard count and replication factor. */
    shards: number;
    replicationFactor: number;
    datacenter: string;
    rack: string;
    /** Raft timing: one tick, and ticks to an election and between heartbeats. */
    tickMs: number;
    electionTicks: number;
    heartbeatTicks: number;
    /** How often a node reports to the meta leader, and how long silence makes it `down`. */
    heartbeatMs: number;
    nodeTimeoutMs: number;
    /** How long a request may wait for a leader or an answer before failing. */
    requestTimeoutMs: number;
    /** Cluster name; nodes of another cluster are refused. */
    clusterId: string;
    /** Mutual TLS between nodes (every node presents certFile/keyFile signed by caFile and checks its peer's). */
    tls: { enabled: boolean; certFile: string; keyFile: string; caFile: string };
    /** A replica snapshots its state and drops its Raft log once this many applied entries are in it. */
    snapshotEntries: number;
    /** Rebalancing: replica moves in flight at once in the cluster, and per node. */
    maxMoves: number;
    maxMovesPerNode: number;
    /** A node down this long is dead: its replicas are re-created on other nodes. */
    deadNodeMs: number;
    /** Snapshot files streamed to other nodes (replica moves, replicas behind the log), bytes/s for all transfers together; 0 = unlimited. */
    snapshotBytesPerSec: number;
    /** Tests and the Jepsen harness only: POST /api/v1/coordinator/debug/partition drops peer traffic on command. */
    faultInjection: boolean;
  };
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
    /** 'stdout', 'stderr' or a file path. */
    destination: string;
  };
}

const MiB = 1024 * 1024;
const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Longest duration a configuration key or a retention may name: 1000 years of 365 days. */
export const DURATION_MS_MAX = 1000 * 365 * DAY_MS;

const DURATION = /^(\d+)\s*(ms|s|m|h|d|w|y)$/;
const DURATION_UNIT: Record<string, number> = { ms: 1, s: SECOND_MS, m: MINUTE_MS, h: HOUR_MS, d: DAY_MS, w: 7 * DAY_MS, y: 365 * DAY_MS };

/**
 * A duration as milliseconds: a non-negative integer (already ms) or text of
 * one integer and a unit: ms, s, m (minutes), h, d, w (7 d), y (365 d), e.g.
 * `500ms`, `30s`, `10m`, `12h`, `30d`, `1y`. Undefined when it is neither
 * or beyond DURATION_MS_MAX.
 */
export function parseDurationMs(raw: string | number): number | undefined {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else {
    const text = raw.trim();
    if (/^\d+$/.test(text)) n = Number(text);
    else {
      const m = DURATION.exec(text);
      if (m === null) return undefined;
      n = Number(m[1]) * DURATION_UNIT[m[2]!]!;
    }
  }
  return Number.isSafeInteger(n) && n >= 0 && n <= DURATION_MS_MAX ? n : undefined;
}

export function defaultConfig(): StrataConfig {
  return {
    storage: { dataDir: './data', syncMode: 'periodic', syncIntervalMs: 1000, writeBufferBytes: 4 * MiB, blockCacheBytes: 64 * MiB, compression: 'snappy' },
    server: { host: '127.0.0.1', respPort: 6380, httpPort: 8080, grpcPort: 50051, protocols: ['resp', 'http', 'grpc'], insecure: false, shutdownTimeoutMs: 10_000 },
    security: { users: [], tls: { enabled: false, certFile: '', keyFile: '', caFile: '', requireClientCert: false } },
    limits: {
      requestBytesMax: 64 * MiB + 64 * 1024,
      valueBytesMax: 64 * MiB,
      keyBytesMax: 64 * 1024,
      clientsMax: 10_000,
      pipelineDepthMax: 1024,
      idleTimeoutMs: 0,
      outputBufferBytesMax: 64 * MiB,
      scanLimitMax: 100_000,
    },
    tsdb: {
      enabled: true,
      chunkWindowMs: 2 * HOUR_MS,
      maxHeadRows: 4096,
      maxHeadRowsTotal: 4_000_000,
      acceptPastMs: 0,
      acceptFutureMs: DAY_MS,
      coldAfterMs: 0,
      coldDir: '',
      deflateChunks: false,
      remoteWriteMaxBytes: 64 * MiB,
      blockCacheBytes: 64 * MiB,
      parseThreads: 1,
      decodedCacheBytes: 32 * MiB,
    },
    cluster: {
      enabled: false,
      nodeId: '',
      peerPort: 7001,
      advertiseHost: '',
      join: [],
      bootstrapExpect: 1,
      shards: 16,
      replicationFactor: 3,
      datacenter: 'dc1',
      rack: 'r1',
      tickMs: 50,
      electionTicks: 10,
      heartbeatTicks: 2,
      heartbeatMs: 500,
      nodeTimeoutMs: 10_000,
      requestTimeoutMs: 10_000,
      clusterId: 'strata',
      tls: { enabled: false, certFile: '', keyFile: '', caFile: '' },
      snapshotEntries: 50_000,
      maxMoves: 2,
      maxMovesPerNode: 1,
      deadNodeMs: 300_000,
      snapshotBytesPerSec: 64 * 1024 * 1024,
      faultInjection: false,
    },
    log: { level: 'info', destination: 'stdout' },
  };
}

type Kind =
  | { t: 'string'; nonEmpty?: boolean }
  | { t: 'int'; min: number; max: number }
  | { t: 'bytes'; min: number; max: number }
  | { t: 'duration'; min: number; max: number }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'list'; values: readonly string[] }
  | { t: 'strings' }
  | { t: 'users' };

/** Every key, its kind and range. The shape of StrataConfig, as data, so files, env and flags share one validator. */
type SchemaNode = Kind | { readonly [key: string]: SchemaNode };

const SCHEMA: { readonly [key: string]: SchemaNode } = {
  storage: {
    dataDir: { t: 'string', nonEmpty: true },
    syncMode: { t: 'enum', values: ['always', 'periodic', 'none'] },
    syncIntervalMs: { t: 'int', min: 1, max: 3_600_000 },
    writeBufferBytes: { t: 'bytes', min: 64 * 1024, max: 1024 * MiB },
    blockCacheBytes: { t: 'bytes', min: 0, max: 1024 * 1024 * MiB },
    compression: { t: 'enum', values: ['snappy', 'none'] },
  },
  server: {
    host: { t: 'string', nonEmpty: true },
    respPort: { t: 'int', min: 0, max: 65535 },
    httpPort: { t: 'int', min: 0, max: 65535 },
    grpcPort: { t: 'int', min: 0, max: 65535 },
    protocols: { t: 'list', values: ['resp', 'http', 'grpc'] },
    insecure: { t: 'bool' },
    shutdownTimeoutMs: { t: 'int', min: 0, max: 600_000 },
  },
  security: {
    users: { t: 'users' },
    tls: {
      enabled: { t: 'bool' },
      certFile: { t: 'string' },
      keyFile: { t: 'string' },
      caFile: { t: 'string' },
      requireClientCert: { t: 'bool' },
    },
  },
  limits: {
    requestBytesMax: { t: 'bytes', min: 1024, max: 1024 * MiB },
    valueBytesMax: { t: 'bytes', min: 1, max: 512 * MiB },
    keyBytesMax: { t: 'bytes', min: 1, max: 16 * MiB },
    clientsMax: { t: 'int', min: 1, max: 1_000_000 },
    pipelineDepthMax: { t: 'int', min: 1, max: 1_000_000 },
    idleTimeoutMs: { t: 'int', min: 0, max: 86_400_000 },
    outputBufferBytesMax: { t: 'bytes', min: 64 * 1024, max: 16 * 1024 * MiB },
    scanLimitMax: { t: 'int', min: 1, max: 100_000 },
  },
  tsdb: {
    enabled: { t: 'bool' },
    chunkWindowMs: { t: 'duration', min: HOUR_MS, max: 7 * DAY_MS },
    maxHeadRows: { t: 'int', min: 1, max: 1_000_000 },
    maxHeadRowsTotal: { t: 'int', min: 1, max: 1_000_000_000 },
    acceptPastMs: { t: 'duration', min: 0, max: DURATION_MS_MAX },
    acceptFutureMs: { t: 'duration', min: 0, max: DURATION_MS_MAX },
    coldAfterMs: { t: 'duration', min: 0, max: DURATION_MS_MAX },
    coldDir: { t: 'string' },
    deflateChunks: { t: 'bool' },
    remoteWriteMaxBytes: { t: 'bytes', min: 1024, max: 1024 * MiB },
    blockCacheBytes: { t: 'bytes', min: 0, max: 1024 * 1024 * MiB },
    parseThreads: { t: 'int', min: 0, max: 16 },
    decodedCacheBytes: { t: 'bytes', min: 0, max: 1024 * 1024 * MiB },
  },
  cluster: {
    enabled: { t: 'bool' },
    nodeId: { t: 'string' },
    peerPort: { t: 'int', min: 0, max: 65535 },
    advertiseHost: { t: 'string' },
    join: { t: 'strings' },
    bootstrapExpect: { t: 'int', min: 1, max: 1000 },
    shards: { t: 'int', min: 1, max: 4096 },
    replicationFactor: { t: 'int', min: 1, max: 7 },
    datacenter: { t: 'string', nonEmpty: true },
    rack: { t: 'string', nonEmpty: true },
    tickMs: { t: 'int', min: 1, max: 10_000 },
    electionTicks: { t: 'int', min: 2, max: 1000 },
    heartbeatTicks: { t: 'int', min: 1, max: 1000 },
    heartbeatMs: { t: 'int', min: 10, max: 600_000 },
    nodeTimeoutMs: { t: 'int', min: 100, max: 86_400_000 },
    requestTimeoutMs: { t: 'int', min: 100, max: 600_000 },
    clusterId: { t: 'string', nonEmpty: true },
    tls: {
      enabled: { t: 'bool' },
      certFile: { t: 'string' },
      keyFile: { t: 'string' },
      caFile: { t: 'string' },
    },
    snapshotEntries: { t: 'int', min: 10, max: 100_000_000 },
    maxMoves: { t: 'int', min: 1, max: 256 },
    maxMovesPerNode: { t: 'int', min: 1, max: 64 },
    deadNodeMs: { t: 'int', min: 1000, max: 7 * 24 * 3_600_000 },
    snapshotBytesPerSec: { t: 'int', min: 0, max: 2 ** 40 },
    faultInjection: { t: 'bool' },
  },
  log: {
    level: { t: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
    destination: { t: 'string', nonEmpty: true },
  },
};

const isKind = (k: SchemaNode): k is Kind => typeof (k as { t?: unknown }).t === 'string';

function configError(key: string, source: string, why: string): StrataError {
  return new StrataError(ERROR_CODES.CONFIG, `config ${key} (${source}): ${why}`);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g|tb|tib|t)?$/i;
const UNIT: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: MiB, mb: MiB, mib: MiB, g: 1024 * MiB, gb: 1024 * MiB, gib: 1024 * MiB, t: 1024 * 1024 * MiB, tb: 1024 * 1024 * MiB, tib: 1024 * 1024 * MiB };

/** Converts one raw value (from YAML, or a string from env/flags) to the key's kind, or throws naming the key. */
function coerce(kind: Kind, raw: unknown, key: string, source: string): unknown {
  const fromText = typeof raw === 'string' && source !== 'file';
  switch (kind.t) {
    case 'string':
      if (typeof raw !== 'string') throw configError(key, source, `must be a string, got ${typeof raw}`);
      if (kind.nonEmpty === true && raw.length === 0) throw configError(key, source, 'must not be empty');
      return raw;
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (fromText && /^(true|1|yes|on)$/i.test(raw)) return true;
      if (fromText && /^(false|0|no|off)$/i.test(raw)) return false;
      throw configError(key, source, `must be true or false, got ${JSON.stringify(raw)}`);
    case 'int':
    case 'bytes': {
      let n: number;
      if (typeof raw === 'number') n = raw;
      else if (typeof raw === 'string' && (fromText || kind.t === 'bytes')) {
        const m = kind.t === 'bytes' ? SIZE.exec(raw.trim()) : /^-?\d+$/.exec(raw.trim());
        if (m === null) throw configError(key, source, `must be ${kind.t === 'bytes' ? 'a size like 4096, 64KiB or 8MiB' : 'an integer'}, got ${JSON.stringify(raw)}`);
        n = kind.t === 'bytes' ? Math.round(Number(m[1]) * UNIT[(m[2] ?? 'b').toLowerCase()]!) : Number(raw);
      } else throw configError(key, source, `must be a number, got ${typeof raw}`);
      if (!Number.isInteger(n) || n < kind.min || n > kind.max) throw configError(key, source, `must be an integer in [${kind.min}, ${kind.max}], got ${String(raw)}`);
      return n;
    }
    case 'duration': {
      const n = typeof raw === 'number' || typeof raw === 'string' ? parseDurationMs(raw) : undefined;
      if (n === undefined) {
        if (typeof raw !== 'number' && typeof raw !== 'string') throw configError(key, source, `must be a duration, got ${typeof raw}`);
        throw configError(key, source, `must be milliseconds or a duration like 30s, 10m, 2h, 1d, got ${JSON.stringify(raw)}`);
      }
      if (n < kind.min || n > kind.max) throw configError(key, source, `must be from ${kind.min} to ${kind.max} ms, got ${String(raw)}`);
      return n;
    }
    case 'enum':
      if (typeof raw !== 'string' || !kind.values.includes(raw)) throw configError(key, source, `must be one of ${kind.values.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' && fromText ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
      if (items === undefined) throw configError(key, source, 'must be a list');
      for (const it of items) if (typeof it !== 'string' || !kind.values.includes(it)) throw configError(key, source, `entries must be among ${kind.values.join(', ')}, got ${JSON.stringify(it)}`);
      return [...new Set(items as string[])];
    }
    case 'strings': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' && fromText ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
      if (items === undefined || items.some((it) => typeof it !== 'string' || it === '')) throw configError(key, source, 'must be a list of non-empty strings');
      return [...new Set(items as string[])];
    }
    case 'users': {
      let list = raw;
      if (typeof raw === 'string' && fromText) {
        try {
          list = JSON.parse(raw);
        } catch {
          throw configError(key, source, 'must be a JSON list of users when given as text');
        }
      }
      if (!Array.isArray(list)) throw configError(key, source, 'must be a list of users');
      return list.map((u: unknown, i) => {
        const k = `${key}[${i}]`;
        if (u === null || typeof u !== 'object' || Array.isArray(u)) throw configError(k, source, 'must be a mapping with name, passwordHash and role');
        const o = u as Record<string, unknown>;
        for (const f of Object.keys(o)) if (!['name', 'passwordHash', 'role', 'tokenHashes'].includes(f)) throw configError(`${k}.${f}`, source, 'unknown key');
        if (typeof o.name !== 'string' || !/^[A-Za-z0-9_.@-]{1,64}$/.test(o.name)) throw configError(`${k}.name`, source, 'must be 1-64 characters of letters, digits, _ . @ -');
        if (typeof o.passwordHash !== 'string') throw configError(`${k}.passwordHash`, source, "must be an scrypt hash from 'strata hash-password'");
        if (o.role !== 'read-only' && o.role !== 'read-write') throw configError(`${k}.role`, source, 'must be read-only or read-write');
        const tokens = o.tokenHashes ?? [];
        if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== 'string')) throw configError(`${k}.tokenHashes`, source, 'must be a list of strings');
        return { name: o.name, passwordHash: o.passwordHash, role: o.role, tokenHashes: tokens as string[] };
      });
    }
  }
}

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** The environment variable for a dotted key: storage.dataDir → STRATA_STORAGE_DATA_DIR. */
export function envNameOf(dotted: string): string {
  return `STRATA_${dotted.split('.').map(snake).join('_')}`;
}

/** Every settable dotted key (security.tls.certFile, ...). */
export function configKeys(): string[] {
  const out: string[] = [];
  const walk = (node: { readonly [key: string]: SchemaNode }, prefix: string) => {
    for (const [k, v] of Object.entries(node)) {
      if (isKind(v)) out.push(prefix + k);
      else walk(v, `${prefix}${k}.`);
    }
  };
  walk(SCHEMA, '');
  return out;
}

function kindOf(dotted: string): Kind | undefined {
  let node: SchemaNode = SCHEMA;
  for (const part of dotted.split('.')) {
    if (isKind(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part]!;
  }
  return isKind(node) ? node : undefined;
}

function setPath(cfg: StrataConfig, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let o = cfg as unknown as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) o = o[p] as Record<string, unknown>;
  o[parts[parts.length - 1]!] = value;
}

/** Applies a parsed YAML document, rejecting unknown keys by name. */
function applyFile(cfg: StrataConfig, doc: unknown, file: string): void {
  if (doc === null || doc === undefined) return;
  const source = `file ${file}`;
  const walk = (node: unknown, prefix: string) => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) throw configError(prefix.slice(0, -1) || '(top level)', source, 'must be a mapping');
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      const dotted = prefix + k;
      const kind = kindOf(dotted);
      if (kind !== undefined) {
        setPath(cfg, dotted, coerce(kind, v, dotted, 'file'));
        continue;
      }
      const isSection = configKeys().some((key) => key.startsWith(`${dotted}.`));
      if (!isSection) throw configError(dotted, source, 'unknown key (see strata.example.yaml)');
      walk(v, `${dotted}.`);
    }
  };
  try {
    walk(doc, '');
  } catch (err) {
    if (err instanceof StrataError) throw new StrataError(ERROR_CODES.CONFIG, err.message.replace('(file)', `(${source})`));
    throw err;
  }
}

export interface ConfigSources {
  /** Path of the YAML file, if any. */
  file?: string | undefined;
  /** Environment (process.env); only STRATA_* variables are read, and unknown STRATA_* names are errors. */
  env?: Record<string, string | undefined>;
  /** Overrides by dotted key, e.g. {'server.respPort': '7000'} (from flags). */
  overrides?: Record<string, unknown>;
}

/** Names in the environment that are not configuration keys but are allowed (test switches and the like). */
const ENV_ALLOWED = new Set(['STRATA_LONG_TESTS', 'STRATA_SEED', 'STRATA_MODEL_RUNS', 'STRATA_CONFIG', 'STRATA_URL', 'STRATA_TOKEN', 'STRATA_PASSWORD', 'STRATA_PRINT_PORTS']);

/** Loads and validates the configuration. Throws StrataError CONFIG naming the bad key. */
export function loadConfig(sources: ConfigSources = {}): StrataConfig {
  const cfg = defaultConfig();
  if (sources.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(sources.file, 'utf8');
    } catch (err) {
      throw new StrataError(ERROR_CODES.CONFIG, `config file ${sources.file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new StrataError(ERROR_CODES.CONFIG, `config file ${sources.file}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
    }
    applyFile(cfg, doc, sources.file);
  }
  const byEnv = new Map(configKeys().map((k) => [envNameOf(k), k]));
  for (const [name, value] of Object.entries(sources.env ?? {})) {
    if (!name.startsWith('STRATA_') || value === undefined || ENV_ALLOWED.has(name)) continue;
    const key = byEnv.get(name);
    if (key === undefined) throw new StrataError(ERROR_CODES.CONFIG, `environment variable ${name}: not a configuration key (see strata.example.yaml)`);
    setPath(cfg, key, coerce(kindOf(key)!, value, key, `environment ${name}`));
  }
  for (const [key, value] of Object.entries(sources.overrides ?? {})) {
    if (value === undefined) continue;
    const kind = kindOf(key);
    if (kind === undefined) throw new StrataError(ERROR_CODES.CONFIG, `config ${key}: not a configuration key`);
    setPath(cfg, key, coerce(kind, value, key, 'flag'));
  }
  validateWhole(cfg);
  return cfg;
}

/** Checks that involve more than one key. */
function validateWhole(cfg: StrataConfig): void {
  const t = cfg.security.tls;
  if (t.enabled && (t.certFile === '' || t.keyFile === '')) throw configError('security.tls', 'combined', 'enabled needs certFile and keyFile');
  if (!t.enabled && t.requireClientCert) throw configError('security.tls.requireClientCert', 'combined', 'needs security.tls.enabled');
  if (t.requireClientCert && t.caFile === '') throw configError('security.tls.requireClientCert', 'combined', 'needs security.tls.caFile');
  if (cfg.server.protocols.length === 0) throw configError('server.protocols', 'combined', 'must name at least one of resp, http, grpc');
  if (cfg.limits.valueBytesMax + cfg.limits.keyBytesMax > cfg.limits.requestBytesMax) {
    throw configError('limits.requestBytesMax', 'combined', 'must be at least valueBytesMax + keyBytesMax');
  }
  if (cfg.tsdb.chunkWindowMs % HOUR_MS !== 0) throw configError('tsdb.chunkWindowMs', 'combined', `must be a whole number of hours, got ${cfg.tsdb.chunkWindowMs} ms`);
  const c = cfg.cluster;
  if (c.enabled) {
    if (c.nodeId === '') c.nodeId = `n${c.peerPort}`;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(c.nodeId)) throw configError('cluster.nodeId', 'combined', 'must be 1-64 characters of letters, digits, _ . -');
    if (c.tls.enabled && (c.tls.certFile === '' || c.tls.keyFile === '' || c.tls.caFile === '')) throw configError('cluster.tls', 'combined', 'enabled needs certFile, keyFile and caFile');
    if (c.heartbeatTicks >= c.electionTicks) throw configError('cluster.heartbeatTicks', 'combined', 'must be below cluster.electionTicks');
    for (const j of c.join) if (!/^[^\s:]+:\d{1,5}$/.test(j)) throw configError('cluster.join', 'combined', `entries must be host:port, got ${JSON.stringify(j)}`);
  }
  const ports = cfg.server.protocols.map((p) => cfg.server[`${p}Port`]).filter((p) => p !== 0);
  if (new Set(ports).size !== ports.length) throw configError('server', 'combined', 'two front ends are configured on the same port');
}

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
