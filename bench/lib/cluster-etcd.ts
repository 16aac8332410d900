/**
 * A 3-member etcd on loopback for `npm run bench:cluster`: one `etcd`
 * process per member, each with its own data directory under the bench's
 * temp dir and free client and peer ports picked at first start (a killed
 * member restarts on the same ones). Heartbeat and election timeout are
 * etcd's defaults (100 ms / 1000 ms), passed explicitly so the report can
 * name them; fsync is etcd's default (the WAL is fsynced per Ready, i.e. per
 * group of committed proposals). Processes are stopped by their PIDs.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { IOptions } from 'etcd3';
import { freePort } from '../../src/cli/local-cluster.js';

export const ETCD_HEARTBEAT_MS = 100;
export const ETCD_ELECTION_MS = 1000;
const HOST = '127.0.0.1';

export interface EtcdMember {
  index: number;
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  child: ChildProcess | undefined;
  exited: Promise<number | string | null>;
  output: string;
  /** Raft member id (decimal string, as the etcd3 client prints it), learned from the member's status. */
  memberId: string;
}

export function etcdInstalled(bin: string): boolean {
  return existsSync(bin);
}

export function etcdVersion(bin: string): string {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /etcd Version:\s*(\S+)/.exec(out)?.[1] ?? out.split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
/** A pass-through fault-handling policy (cockatiel's `noop`, without importing etcd3's dependency directly): no retries, no circuit breaker. */
const PASS_THROUGH = { execute: (fn: (ctx: { signal: AbortSignal }) => unknown) => Promise.resolve(fn({ signal: new AbortController().signal })) } as unknown as Policy;

/** A client without the etcd3 default retry and circuit-breaker policies (the failover writer and status probes time their own calls). */
export function rawClient(hosts: string[], extra: Partial<IOptions> = {}): Etcd3 {
  return new Etcd3({ hosts, faultHandling: { host: () => PASS_THROUGH, global: PASS_THROUGH }, ...extra });
}

export class EtcdCluster {
  readonly members: EtcdMember[] = [];
  private readonly token = `strata-bench-${process.pid}-${Date.now()}`;
  private readonly probes = new Map<number, Etcd3>();
  /** The members die with the launcher if it exits without stop(). */
  private readonly onExit = (): void => {
    for (const m of this.members) if (m.child?.pid !== undefined && m.child.exitCode === null) m.child.kill('SIGKILL');
  };

  private constructor(
    readonly bin: string,
    readonly baseDir: string,
  ) {
    process.once('exit', this.onExit);
  }

  static async start(bin: string, baseDir: string, size = 3, healthyTimeoutMs = 60_000): Promise<EtcdCluster> {
    const c = new EtcdCluster(bin, baseDir);
    for (let i = 0; i < size; i++) {
      const dataDir = join(baseDir, `m${i + 1}`);
      mkdirSync(baseDir, { recursive: true });
      c.members.push({ index: i, name: `m${i + 1}`, dataDir, clientPort: await freePort(HOST), peerPort: await freePort(HOST), child: undefined, exited: Promise.resolve(null), output: '', memberId: '' });
    }
    try {
      await Promise.all(c.members.map((m) => c.launch(m)));
      await c.waitHealthy(healthyTimeoutMs);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  endpoint(i: number): string {
    return `http://${HOST}:${this.members[i]!.clientPort}`;
  }

  get endpoints(): string[] {
    return this.members.map((_, i) => this.endpoint(i));
  }

  /** The flags of member m (the same on a restart: with a WAL present etcd ignores the --initial-* ones). */
  argsOf(m: EtcdMember): string[] {
    const peers = this.members.map((p) => `${p.name}=http://${HOST}:${p.peerPort}`).join(',');
    return [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', `http://${HOST}:${m.clientPort}`,
      '--advertise-client-urls', `http://${HOST}:${m.clientPort}`,
      '--listen-peer-urls', `http://${HOST}:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://${HOST}:${m.peerPort}`,
      '--initial-cluster', peers,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', this.token,
      '--heartbeat-interval', String(ETCD_HEARTBEAT_MS),
      '--election-timeout', String(ETCD_ELECTION_MS),
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
    ];
  }

  private launch(m: EtcdMember): Promise<void> {
    const child = spawn(this.bin, this.argsOf(m), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    m.child = child;
    m.output = '';
    m.exited = new Promise((r) => child.on('exit', (code, signal) => r(code ?? signal)));
    const onData = (d: Buffer) => {
      m.output += d.toString();
      if (m.output.length > 200_000) m.output = m.output.slice(-100_000);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    return new Promise((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', rej);
    });
  }

  /** A status client bound to member i alone. */
  private probe(i: number): Etcd3 {
    let c = this.probes.get(i);
    if (c === undefined) {
      c = rawClient([this.endpoint(i)]);
      this.probes.set(i, c);
    }
    return c;
  }

  /** Member i's status (its id, the leader it knows, raft index/term), or undefined if it does not answer within `timeoutMs`. */
  async status(i: number, timeoutMs = 500): Promise<{ memberId: string; leader: string; raftIndex: number; raftTerm: number } | undefined> {
    if (this.members[i]!.child === undefined) return undefined;
    try {
      const s = await this.probe(i).maintenance.status({ deadline: Date.now() + timeoutMs });
      const memberId = String(s.header.member_id);
      this.members[i]!.memberId = memberId;
      return { memberId, leader: String(s.leader), raftIndex: Number(s.raftIndex), raftTerm: Number(s.raftTerm) };
    } catch {
      return undefined;
    }
  }

  /** Waits until every running member answers, all name the same leader (a running member) and their raft indexes are within 100 of each other. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      for (const m of this.members) {
        if (m.child !== undefined && m.child.exitCode !== null) throw new Error(`etcd ${m.name} exited (${String(m.child.exitCode)}):\n${m.output.slice(-4000)}`);
      }
      const running = this.members.filter((m) => m.child !== undefined);
      const st = await Promise.all(running.map((m) => this.status(m.index)));
      const leaders = new Set(st.map((s) => s?.leader));
      const ids = new Set(running.map((m) => m.memberId));
      const idx = st.map((s) => s?.raftIndex ?? 0);
      if (st.every((s) => s !== undefined && s.leader !== '0') && leaders.size === 1 && ids.has([...leaders][0]!) && Math.max(...idx) - Math.min(...idx) <= 100) return;
      last = JSON.stringify(st);
      if (Date.now() > deadline) throw new Error(`etcd not healthy within ${timeoutMs} ms; last status: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Index of the member every answering member names as leader (-1 if none or no agreement). */
  async leaderIndex(): Promise<number> {
    const st = await Promise.all(this.members.map((m) => this.status(m.index)));
    const named = st.filter((s) => s !== undefined && s.leader !== '0').map((s) => s!.leader);
    if (named.length === 0 || new Set(named).size !== 1) return -1;
    return this.members.findIndex((m) => m.memberId === named[0]);
  }

  pid(i: number): number | undefined {
    return this.members[i]!.child?.pid;
  }

  /** Sends `signal` (SIGKILL: kill -9) to member i by PID and waits for it to exit. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.members[i]!;
    const pid = m.child?.pid;
    if (pid === undefined) return;
    process.kill(pid, signal);
    await m.exited;
    m.child = undefined;
    this.probes.get(i)?.close();
    this.probes.delete(i);
  }

  async restart(i: number): Promise<void> {
    const m = this.members[i]!;
    if (m.child !== undefined) throw new Error(`${m.name} is running`);
    await this.launch(m);
  }

  /** SIGTERM by PID to every member, SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    process.removeListener('exit', this.onExit);
    for (const c of this.probes.values()) c.close();
    this.probes.clear();
    await Promise.all(
      this.members.map(async (m) => {
        const pid = m.child?.pid;
        if (pid === undefined || m.child!.exitCode !== null) {
          m.child = undefined;
          return;
        }
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
        const t = setTimeout(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }, graceMs);
        await m.exited;
        clearTimeout(t);
        m.child = undefined;
      }),
    );
  }
}
