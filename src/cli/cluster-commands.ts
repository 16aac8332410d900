import type { Command } from 'commander';
import { ERROR_CODES, StrataError } from '../base/index.js';
import { authHeaders, httpError } from './http-client.js';
import type { ClientFlags } from './http-client.js';
import { LocalCluster } from './local-cluster.js';
import { formatBytes } from './progress.js';

interface UpFlags {
  nodes: string;
  dir: string;
  shards: string;
  replicationFactor: string;
  logLevel: string;
}

function positiveInt(raw: string, flag: string, max: number, min = 1): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isInteger(n) || n < min || n > max) throw new StrataError(ERROR_CODES.CONFIG, `${flag} must be an integer in [${min}, ${max}], got ${raw}`);
  return n;
}

/** `strata cluster up`: N local nodes on loopback until Ctrl-C. */
async function up(flags: UpFlags): Promise<void> {
  const nodes = positiveInt(flags.nodes, '--nodes', 32);
  const started = Date.now();
  process.stderr.write(`starting ${nodes} nodes under ${flags.dir} ...\n`);
  const cluster = await LocalCluster.start({
    nodes,
    baseDir: flags.dir,
    shards: positiveInt(flags.shards, '--shards', 4096),
    replicationFactor: positiveInt(flags.replicationFactor, '--replication-factor', 7),
    logLevel: flags.logLevel,
    onOutput: (n, line) => process.stderr.write(`[${n.id}] ${line}\n`),
  });
  const map = await cluster.coordinator<{ shards: Array<{ id: number; leader: string; replicas: string[] }>; metaLeader: string }>(0, 'shard-map');
  console.log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${nodes} nodes, ${map.shards.length} shards, meta leader ${map.metaLeader}`);
  console.log('node  resp                 http                        grpc                 peer                 data');
  for (const n of cluster.nodes) {
    const h = cluster.host;
    const leads = map.shards.filter((s) => s.leader === n.id).length;
    console.log(
      `${n.id.padEnd(5)} ${`${h}:${n.ports.resp}`.padEnd(20)} ${`http://${h}:${n.ports.http}`.padEnd(27)} ${`${h}:${n.ports.grpc}`.padEnd(20)} ${`${h}:${n.ports.peer}`.padEnd(20)} ${n.dataDir}  (leads ${leads})`,
    );
  }
  console.log(`try: redis-cli -p ${cluster.nodes[0]!.ports.resp} SET hello world; redis-cli -p ${cluster.nodes[nodes - 1]!.ports.resp} GET hello`);
  console.log('Ctrl-C stops every node.');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('stopping ...\n');
    cluster.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // A node that dies on its own is reported (the rest keep running: that is what a cluster is for).
  for (const n of cluster.nodes) void n.exited.then((code) => !stopping && process.stderr.write(`node ${n.id} exited (${String(code)})\n`));
}

async function getJson(f: ClientFlags, path: string): Promise<unknown> {
  const res = await fetch(new URL(path, f.url), { headers: authHeaders(f) });
  if (!res.ok) throw await httpError(res);
  return res.json();
}

interface ShardMapView {
  version: number;
  metaLeader: string;
  metaVoters: string[];
  nodes: Array<{ id: string; status: string; peer: string; resp: string; http: string; rack: string }>;
  shards: Array<{ keyspace: string; id: number; replicas: string[]; leader: string; term: number; base?: number; lo?: number; hi?: number; splitFrom?: number; bytes?: number | null }>;
}

interface RebalanceView {
  moves: Array<{
    keyspace: string;
    shard: number;
    add: string;
    remove: string | null;
    reason: string;
    phase: string;
    ageMs: number;
    transfer?: { bytesTotal: number; bytesDone: number; rate: number; etaMs?: number; state: string };
  }>;
  splits?: Array<{ keyspace: string; parent: number; child: number; at: number; phase: string; ageMs: number }>;
  balanced: boolean;
}

/** `strata cluster status`: nodes, shards per node, leaders, moves in flight; `--watch` redraws every second until no move is left. */
async function status(f: ClientFlags & { json?: boolean; watch?: boolean }): Promise<void> {
  for (;;) {
    const map = (await getJson(f, '/api/v1/coordinator/shard-map')) as ShardMapView;
    const rebalance = (await getJson(f, '/api/v1/coordinator/rebalance')) as RebalanceView;
    if (f.json === true) {
      console.log(JSON.stringify({ ...map, rebalance }, null, 2));
      return;
    }
    if (f.watch === true && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
    printStatus(map, rebalance);
    if (f.watch !== true || (rebalance.moves.length === 0 && rebalance.balanced)) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function printStatus(map: ShardMapView, rebalance: RebalanceView): void {
  console.log(`shard map version ${map.version}; meta leader ${map.metaLeader || '(none)'}; meta voters ${map.metaVoters.join(', ')}`);
  console.log('node  status  replicas  leads  rack  peer                 resp                 http');
  for (const n of map.nodes) {
    const replicas = map.shards.filter((s) => s.replicas.includes(n.id)).length;
    const leads = map.shards.filter((s) => s.leader === n.id).length;
    console.log(`${n.id.padEnd(5)} ${n.status.padEnd(7)} ${String(replicas).padStart(8)} ${String(leads).padStart(6)}  ${n.rack.padEnd(5)} ${n.peer.padEnd(20)} ${n.resp.padEnd(20)} ${n.http}`);
  }
  const leaderless = map.shards.filter((s) => s.leader === '');
  console.log(`${map.shards.length} shards; ${leaderless.length === 0 ? 'every shard has a leader' : `without a leader: ${leaderless.map((s) => `${s.keyspace}/${s.id}`).join(', ')}`}`);
  const sized = map.shards.filter((s) => typeof s.bytes === 'number').sort((a, b) => b.bytes! - a.bytes!);
  if (sized.length > 0) {
    console.log(`largest shards (as their leaders report; split one with strata cluster split): ${sized.slice(0, 5).map((s) => `${s.keyspace}/${s.id} ${formatBytes(s.bytes!)}`).join(', ')}`);
  }
  for (const x of rebalance.splits ?? []) {
    console.log(`split in flight: ${x.keyspace}/${x.parent} → ${x.keyspace}/${x.child} (from hash ${x.at}) ${x.phase} ${(x.ageMs / 1000).toFixed(1)} s`);
  }
  if (rebalance.moves.length === 0) {
    console.log(rebalance.balanced ? 'no moves in flight; replicas per node are within one' : 'no moves in flight');
    return;
  }
  console.log(`${rebalance.moves.length} move(s) in flight:`);
  for (const m of rebalance.moves) {
    const t = m.transfer;
    const snap =
      t === undefined
        ? ''
        : `  snapshot ${formatBytes(t.bytesDone)} / ${formatBytes(t.bytesTotal)} (${t.bytesTotal === 0 ? 100 : Math.floor((t.bytesDone * 100) / t.bytesTotal)}%)` +
          (t.state === 'streaming' ? `, ${formatBytes(t.rate)}/s, ETA ${t.etaMs === undefined ? '?' : `${(t.etaMs / 1000).toFixed(0)} s`}` : ` ${t.state}`);
    console.log(`  ${m.keyspace}/${m.shard}  ${(m.remove ?? '(new)').padEnd(6)} → ${m.add.padEnd(6)} ${m.reason.padEnd(8)} ${m.phase.padEnd(8)} ${(m.ageMs / 1000).toFixed(1)} s${snap}`);
  }
}

/** `strata cluster remove <id>`: drains the node (its replicas move off) and removes it; `--watch` shows progress until it is gone. */
async function remove(id: string, f: ClientFlags & { watch?: boolean }): Promise<void> {
  const res = await fetch(new URL(`/api/v1/coordinator/nodes/${encodeURIComponent(id)}`, f.url), { method: 'DELETE', headers: authHeaders(f) });
  if (!res.ok) throw await httpError(res);
  const r = (await res.json()) as { removed: boolean; replicas: number };
  if (r.removed) {
    console.log(`node ${id} removed`);
    return;
  }
  console.log(`node ${id} is draining: ${r.replicas} replica(s) to move off`);
  if (f.watch !== true) return;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const map = (await getJson(f, '/api/v1/coordinator/shard-map')) as ShardMapView;
    const rebalance = (await getJson(f, '/api/v1/coordinator/rebalance')) as RebalanceView;
    if (!map.nodes.some((n) => n.id === id)) {
      console.log(`node ${id} drained and removed; stop its process`);
      return;
    }
    const left = map.shards.filter((s) => s.replicas.includes(id)).length;
    console.log(`${left} replica(s) left on ${id}; ${rebalance.moves.length} move(s) in flight`);
  }
}

/** `strata cluster split <shardId>`: splits a shard in two by hash range; `--watch` waits until the new shard serves and the split is recorded. */
async function split(raw: string, f: ClientFlags & { watch?: boolean }): Promise<void> {
  const shard = positiveInt(raw, 'shardId', 4095, 0);
  const res = await fetch(new URL(`/api/v1/coordinator/shard/${shard}/split`, f.url), { method: 'POST', headers: authHeaders(f) });
  if (!res.ok) throw await httpError(res);
  const { split: x } = (await res.json()) as { split: { keyspace: string; parent: number; child: number; at: number } };
  console.log(`splitting ${x.keyspace}/${x.parent}: shard ${x.child} takes its keys from hash ${x.at} on`);
  if (f.watch !== true) return;
  const started = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const map = (await getJson(f, '/api/v1/coordinator/shard-map')) as ShardMapView;
    const child = map.shards.find((s) => s.keyspace === x.keyspace && s.id === x.child);
    if (child !== undefined && child.splitFrom === undefined && child.leader !== '') {
      console.log(`split done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${x.keyspace}/${x.child} led by ${child.leader}; its keys still in ${x.keyspace}/${x.parent} are deleted in the background`);
      return;
    }
    console.log(`${x.keyspace}/${x.child}: ${child?.leader ? `led by ${child.leader}, recording the split` : 'cutting (waiting for the parent to apply the split and the new shard to elect a leader)'}`);
  }
}

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('run or inspect a cluster');
  cluster
    .command('up')
    .description('start a local cluster of N nodes on loopback (separate data dirs and ports); Ctrl-C stops them all')
    .option('-n, --nodes <n>', 'number of nodes', '3')
    .option('-d, --dir <dir>', 'parent of the nodes\' data directories', './cluster-data')
    .option('--shards <n>', 'shards of the default keyspace', '16')
    .option('--replication-factor <n>', 'replicas per shard', '3')
    .option('--log-level <level>', "the nodes' log level", 'warn')
    .action(up);
  cluster
    .command('status')
    .description('nodes, shards per node and shard leaders, replica moves in flight, as a node sees them')
    .option('--url <url>', 'a node HTTP address', process.env.STRATA_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'API token (or STRATA_TOKEN)')
    .option('--user <name>', 'user for basic auth (password from --password or STRATA_PASSWORD)')
    .option('--password <password>', 'password for --user')
    .option('--json', 'print the shard map and the moves in flight as JSON')
    .option('--watch', 'redraw every second until no replica move is left (progress of a rebalance)')
    .action(status);
  cluster
    .command('remove <nodeId>')
    .description('drain a node (its replicas move to the other nodes) and remove it from the cluster')
    .option('--url <url>', 'a node HTTP address', process.env.STRATA_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'API token (or STRATA_TOKEN)')
    .option('--user <name>', 'user for basic auth (password from --password or STRATA_PASSWORD)')
    .option('--password <password>', 'password for --user')
    .option('--watch', 'print progress every second until the node is gone')
    .action(remove);
  cluster
    .command('split <shardId>')
    .description('split a shard of the default keyspace in two by hash range (the new shard starts on the same nodes; rebalancing spreads it later)')
    .option('--url <url>', 'a node HTTP address', process.env.STRATA_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'API token (or STRATA_TOKEN)')
    .option('--user <name>', 'user for basic auth (password from --password or STRATA_PASSWORD)')
    .option('--password <password>', 'password for --user')
    .option('--watch', 'print progress until the split is done')
    .action(split);
}
