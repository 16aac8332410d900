import { arch, platform, release } from 'node:os';
import type { ServerState } from './session.js';
import type { KvKeyspaceInfo } from '../../base/index.js';

/** The Redis version we answer as (clients check it for features); StrataDB's own is stratadb_version. */
export const REDIS_COMPAT_VERSION = '7.2.0';
export const STRATADB_VERSION = '0.1.0';

const DEFAULT_SECTIONS = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu', 'keyspace'] as const;
type Section = (typeof DEFAULT_SECTIONS)[number];

/** Which INFO sections the arguments ask for (none: the default set; `all`/`everything`: all). Unknown names are ignored, as in Redis. */
export function infoSections(names: readonly string[]): Set<Section> {
  if (names.length === 0) return new Set(DEFAULT_SECTIONS);
  const out = new Set<Section>();
  for (const raw of names) {
    const name = raw.toLowerCase();
    if (name === 'all' || name === 'everything' || name === 'default') for (const s of DEFAULT_SECTIONS) out.add(s);
    else if ((DEFAULT_SECTIONS as readonly string[]).includes(name)) out.add(name as Section);
  }
  return out;
}

function human(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  const units = ['K', 'M', 'G', 'T'];
  let v = bytes;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)}${units[i]}`;
}

/**
 * The INFO text: `# Section` headers and `field:value` lines separated by
 * CRLF, as Redis prints them. `keys` is the live key count (only needed when
 * the keyspace section is asked for; it costs a walk of the keyspace).
 */
export function infoText(server: ServerState, sections: ReadonlySet<Section>, keys: KvKeyspaceInfo, clients: number): string {
  const nowMs = server.service.nowMs();
  const parts: string[] = [];
  const section = (title: string, fields: Array<[string, string | number]>) => {
    parts.push(`# ${title}\r\n${fields.map(([k, v]) => `${k}:${v}\r\n`).join('')}`);
  };
  if (sections.has('server')) {
    const uptimeSeconds = Math.max(0, Math.floor((nowMs - server.startedAtMs) / 1000));
    section('Server', [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['stratadb_version', STRATADB_VERSION],
      ['redis_mode', 'standalone'],
      ['os', `${platform()} ${release()} ${arch()}`],
      ['arch_bits', 64],
      ['multiplexing_api', 'libuv'],
      ['process_id', process.pid],
      ['tcp_port', server.port],
      ['tls', server.tls ? 'yes' : 'no'],
      ['server_time_usec', nowMs * 1000],
      ['uptime_in_seconds', uptimeSeconds],
      ['uptime_in_days', Math.floor(uptimeSeconds / 86400)],
      ['executable', process.execPath],
    ]);
  }
  if (sections.has('clients')) {
    section('Clients', [
      ['connected_clients', clients],
      ['maxclients', server.limits.clientsMax],
      ['blocked_clients', 0],
      ['pipeline_depth_max', server.limits.pipelineDepthMax],
    ]);
  }
  if (sections.has('memory')) {
    const mem = process.memoryUsage();
    section('Memory', [
      ['used_memory', mem.heapUsed + mem.external],
      ['used_memory_human', human(mem.heapUsed + mem.external)],
      ['used_memory_rss', mem.rss],
      ['used_memory_rss_human', human(mem.rss)],
      ['maxmemory', 0],
      ['maxmemory_human', '0B'],
      ['maxmemory_policy', 'noeviction'],
    ]);
  }
  if (sections.has('persistence')) {
    const engine = server.service.info().engine;
    const fields: Array<[string, string | number]> = [
      ['loading', 0],
      ['aof_enabled', 1],
      ['data_dir', server.service.info().dataDir],
    ];
    for (const [k, v] of Object.entries(engine)) fields.push([`engine_${k}`, v]);
    section('Persistence', fields);
  }
  if (sections.has('stats')) {
    section('Stats', [
      ['total_connections_received', server.stats.connectionsReceived],
      ['total_commands_processed', server.stats.commandsProcessed],
      ['instantaneous_ops_per_sec', server.stats.instantaneousOpsPerSec],
      ['rejected_connections', server.stats.connectionsRejected],
      ['protocol_errors', server.stats.protocolErrors],
    ]);
  }
  if (sections.has('replication')) {
    section('Replication', [
      ['role', 'master'],
      ['connected_slaves', 0],
    ]);
  }
  if (sections.has('cpu')) {
    const cpu = process.cpuUsage();
    section('CPU', [
      ['used_cpu_sys', (cpu.system / 1e6).toFixed(6)],
      ['used_cpu_user', (cpu.user / 1e6).toFixed(6)],
    ]);
  }
  if (sections.has('keyspace')) {
    section('Keyspace', keys.keys > 0 ? [['db0', `keys=${keys.keys},expires=${keys.expires},avg_ttl=${keys.avgTtlMs}`]] : []);
  }
  return parts.join('\r\n');
}

export type InfoSection = Section;
