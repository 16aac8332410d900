import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ERROR_CODES, StrataError } from '../base/index.js';
import { loadConfig } from '../node/index.js';
import { percentEncode } from '../server/http/index.js';
import { StrataServer, hashPassword, newToken } from '../server/index.js';
import { authHeaders, httpError } from './http-client.js';
import type { ClientFlags } from './http-client.js';

interface ServeFlags {
  config?: string;
  dataDir?: string;
  host?: string;
  respPort?: string;
  httpPort?: string;
  grpcPort?: string;
  protocols?: string;
  syncMode?: string;
  logLevel?: string;
  insecure?: boolean;
  set?: string[];
  nodeId?: string;
  peerPort?: string;
  join?: string;
  bootstrapExpect?: string;
  shards?: string;
  replicationFactor?: string;
  rack?: string;
  datacenter?: string;
}

/** `--set key=value` pairs (any configuration key, dotted) as overrides. */
function setOverrides(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new StrataError(ERROR_CODES.CONFIG, `--set ${p}: expected key=value, e.g. --set limits.clientsMax=100`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

async function runServe(flags: ServeFlags): Promise<void> {
  const config = loadConfig({
    file: flags.config ?? process.env.STRATA_CONFIG,
    env: process.env,
    overrides: {
      ...setOverrides(flags.set ?? []),
      'storage.dataDir': flags.dataDir,
      'server.host': flags.host,
      'server.respPort': flags.respPort,
      'server.httpPort': flags.httpPort,
      'server.grpcPort': flags.grpcPort,
      'server.protocols': flags.protocols,
      'storage.syncMode': flags.syncMode,
      'log.level': flags.logLevel,
      'server.insecure': flags.insecure === true ? 'true' : undefined,
      'cluster.nodeId': flags.nodeId,
      'cluster.peerPort': flags.peerPort,
      'cluster.join': flags.join,
      'cluster.bootstrapExpect': flags.bootstrapExpect,
      'cluster.shards': flags.shards,
      'cluster.replicationFactor': flags.replicationFactor,
      'cluster.rack': flags.rack,
      'cluster.datacenter': flags.datacenter,
      // Naming a peer port or a node to join makes this node a cluster member.
      'cluster.enabled': flags.peerPort !== undefined || flags.join !== undefined ? 'true' : undefined,
    },
  });
  const server = await StrataServer.start(config);
  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      server.logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    server.logger.info({ signal }, 'signal received');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Tests and supervisors read the bound ports from this line.
  if (process.env.STRATA_PRINT_PORTS === '1') {
    const ports = server.cluster !== undefined ? { ...server.ports, peer: server.cluster.peerPort, nodeId: server.cluster.id } : server.ports;
    process.stdout.write(`STRATA_PORTS ${JSON.stringify(ports)}\n`);
  }
}

async function call(f: ClientFlags, method: string, path: string, body?: Buffer): Promise<Response> {
  const res = await fetch(new URL(path, f.url), { method, headers: { ...authHeaders(f), ...(body ? { 'content-type': 'application/octet-stream' } : {}) }, ...(body ? { body } : {}) });
  if (!res.ok && res.status !== 404) throw await httpError(res);
  return res;
}

async function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  process.stderr.write(prompt);
  // Hide what is typed.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

export function registerServerCommands(program: Command): void {
  program
    .command('serve')
    .description('run a node: Redis protocol, HTTP/JSON and gRPC over the data directory (loopback only unless configured)')
    .option('-c, --config <file>', 'YAML configuration (see strata.example.yaml); also STRATA_CONFIG')
    .option('-d, --data-dir <dir>', 'data directory (storage.dataDir, default ./data)')
    .option('--host <host>', 'address to bind (server.host, default 127.0.0.1)')
    .option('--resp-port <port>', 'Redis protocol port (server.respPort, default 6380; 0 picks a free one)')
    .option('--http-port <port>', 'HTTP port (server.httpPort, default 8080)')
    .option('--grpc-port <port>', 'gRPC port (server.grpcPort, default 50051)')
    .option('--protocols <list>', 'front ends to run, comma separated (server.protocols, default resp,http,grpc)')
    .option('--sync-mode <mode>', 'always | periodic | none (storage.syncMode, default periodic: fsync every second)')
    .option('--log-level <level>', 'trace | debug | info | warn | error | silent (log.level)')
    .option('--insecure', 'allow a non-loopback host without users (server.insecure); logs a warning')
    .option('--node-id <id>', 'cluster: this node\'s id (cluster.nodeId, default n<peer port>)')
    .option('--peer-port <port>', 'cluster: node-to-node port (cluster.peerPort); makes this node a cluster member')
    .option('--join <addresses>', 'cluster: peer addresses (host:port, comma separated) of members to join through (cluster.join)')
    .option('--bootstrap-expect <n>', 'cluster: place the default keyspace once n nodes are up (cluster.bootstrapExpect, default 1)')
    .option('--shards <n>', 'cluster: shards of the default keyspace (cluster.shards, default 16)')
    .option('--replication-factor <n>', 'cluster: replicas per shard (cluster.replicationFactor, default 3)')
    .option('--rack <rack>', 'cluster: this node\'s rack (cluster.rack)')
    .option('--datacenter <dc>', 'cluster: this node\'s datacenter (cluster.datacenter)')
    .option('-s, --set <key=value...>', 'set any configuration key, e.g. --set limits.clientsMax=100 --set storage.syncIntervalMs=200')
    .action(runServe);

  const kv = program.command('kv').description('a client of a running node (HTTP API)');
  const clientOptions = (c: Command) =>
    c
      .option('--url <url>', 'the node HTTP address', process.env.STRATA_URL ?? 'http://127.0.0.1:8080')
      .option('--token <token>', 'API token (or STRATA_TOKEN)')
      .option('--user <name>', 'user for basic auth (password from --password or STRATA_PASSWORD)')
      .option('--password <password>', 'password for --user');
  clientOptions(kv.command('get <key>').description('print the value of a key'))
    .action(async (key: string, f: ClientFlags) => {
      const res = await call(f, 'GET', `/v1/kv/${percentEncode(Buffer.from(key))}`);
      if (res.status === 404) {
        console.error('(not found)');
        process.exitCode = 1;
        return;
      }
      process.stdout.write(Buffer.from(await res.arrayBuffer()));
      process.stdout.write('\n');
    });
  clientOptions(kv.command('put <key> <value>').description('set a key').option('--ttl-ms <ms>', 'expire after this many milliseconds'))
    .action(async (key: string, value: string, f: ClientFlags & { ttlMs?: string }) => {
      const q = f.ttlMs !== undefined ? `?ttl_ms=${encodeURIComponent(f.ttlMs)}` : '';
      await call(f, 'PUT', `/v1/kv/${percentEncode(Buffer.from(key))}${q}`, Buffer.from(value));
      console.log('OK');
    });
  clientOptions(kv.command('del <key>').description('delete a key'))
    .action(async (key: string, f: ClientFlags) => {
      const res = await call(f, 'DELETE', `/v1/kv/${percentEncode(Buffer.from(key))}`);
      console.log(res.status === 404 ? '0' : String(((await res.json()) as { deleted?: number }).deleted ?? 0));
    });
  clientOptions(
    kv
      .command('scan')
      .description('print entries in key order, following pages')
      .option('-p, --prefix <prefix>', 'only keys with this prefix')
      .option('--start <key>', 'first key (inclusive)')
      .option('--end <key>', 'end key (exclusive)')
      .option('-l, --limit <n>', 'at most n entries in all', '100')
      .option('-r, --reverse', 'largest keys first'),
  ).action(async (f: ClientFlags & { prefix?: string; start?: string; end?: string; limit: string; reverse?: boolean }) => {
    let left = Number(f.limit);
    if (!Number.isInteger(left) || left < 1) throw new Error('--limit must be a positive integer');
    let after: string | undefined;
    while (left > 0) {
      const q = new URLSearchParams({ limit: String(Math.min(left, 1000)) });
      if (f.prefix !== undefined) q.set('prefix', f.prefix);
      if (f.start !== undefined) q.set('start', f.start);
      if (f.end !== undefined) q.set('end', f.end);
      if (f.reverse === true) q.set('reverse', 'true');
      if (after !== undefined) q.set('after', after);
      const page = (await (await call(f, 'GET', `/v1/kv?${q.toString()}`)).json()) as {
        entries: Array<{ key: string; value: string; keyEncoding?: string; valueEncoding?: string }>;
        next?: string;
      };
      for (const e of page.entries) console.log(`${e.keyEncoding === 'base64' ? `base64:${e.key}` : e.key}\t${e.valueEncoding === 'base64' ? `base64:${e.value}` : e.value}`);
      left -= page.entries.length;
      if (page.next === undefined || page.entries.length === 0) break;
      after = page.next;
    }
  });

  program
    .command('hash-password')
    .description('print the scrypt hash of a password for security.users[].passwordHash (reads the password from the terminal or stdin)')
    .action(async () => {
      const pw = await readSecret('password: ');
      if (pw.length === 0) throw new Error('empty password');
      console.log(hashPassword(pw));
    });

  program
    .command('new-token')
    .description('print a new random API token and the hash to put in security.users[].tokenHashes')
    .action(() => {
      const { token, tokenHash } = newToken();
      console.log(`token:     ${token}`);
      console.log(`tokenHash: ${tokenHash}`);
    });
}
