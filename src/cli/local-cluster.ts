/**
 * A cluster of `strata serve` processes on loopback: what `strata cluster
 * up` runs, and what the multi-process tests, the Jepsen-style harness and
 * the cluster benchmark start. Every node gets its own data directory and
 * fixed ports chosen free at first start, so a killed node restarts on the
 * same addresses its peers know. Processes are stopped by their PIDs.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** The compiled CLI (dist/src/cli/main.js). */
export const CLI_PATH = resolve(HERE, 'main.js');

export interface LocalNodePorts {
  resp: number;
  http: number;
  grpc: number;
  peer: number;
}

export interface LocalNode {
  index: number;
  id: string;
  dataDir: string;
  ports: LocalNodePorts;
  child: ChildProcess | undefined;
  /** Resolves with the exit code (or signal name) when the current process exits. */
  exited: Promise<number | string | null>;
  /** The node's stderr and stdout so far (for failure messages). */
  output: string;
}

export interface LocalClusterOptions {
  nodes: number;
  /** Parent of the nodes' data directories (node i uses `<baseDir>/n<i>`). */
  baseDir: string;
  shards?: number;
  replicationFactor?: number;
  /** More `strata serve` arguments for every node (e.g. ['--sync-mode', 'always']). */
  args?: string[];
  env?: Record<string, string>;
  logLevel?: string;
  /** Serve the coordinator's debug partition route (cluster.faultInjection) so `partition`/`heal` work. */
  faultInjection?: boolean;
  /** Loopback address to bind (default 127.0.0.1). */
  host?: string;
  /** Called with each line a node logs (cluster up prints them). */
  onOutput?: (node: LocalNode, line: string) => void;
}

/** Listens on `port` (0: any) and closes again; resolves the port, or undefined when it is taken. */
function tryPort(host: string, port: number): Promise<number | undefined> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(undefined));
    s.listen(port, host, () => {
      const addr = s.address();
      const got = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => res(got));
    });
  });
}

/**
 * A free TCP port on the host, for a process started later. Picked at
 * random below Linux's ephemeral range (32768–60999): a port the kernel
 * handed out by `listen(0)` and released may be taken in the meantime by any
 * outgoing connection (a test's clients make many), which then fails the
 * node's start with EADDRINUSE. Falls back to `listen(0)`.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await tryPort(host, 20_000 + Math.floor(Math.random() * 12_000));
    if (port !== undefined) return port;
  }
  const any = await tryPort(host, 0);
  if (any === undefined) throw new Error(`no free port on ${host}`);
  return any;
}

/** Free ports for a node's four listeners. */
async function freePorts(host: string): Promise<LocalNodePorts> {
  return { resp: await freePort(host), http: await freePort(host), grpc: await freePort(host), peer: await freePort(host) };
}

export class LocalCluster {
  readonly nodes: LocalNode[] = [];
  private constructor(readonly opts: LocalClusterOptions) {
    // The nodes run in their own process groups; if the launcher exits without stop(), they go with it.
    process.once('exit', () => {
      for (const n of this.nodes) n.child?.kill('SIGKILL');
    });
  }

  /** `faultInjection`, or (for callers written against an environment switch) env STRATA_FAULT_INJECTION=1. */
  private get faultInjection(): boolean {
    return this.opts.faultInjection === true || this.opts.env?.STRATA_FAULT_INJECTION === '1';
  }

  /** The nodes' environment (without STRATA_FAULT_INJECTION, which is a flag, not a configuration variable). */
  private get env(): Record<string, string> {
    const { STRATA_FAULT_INJECTION: _omit, ...rest } = this.opts.env ?? {};
    return rest;
  }

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }

  /** Starts every node (the first starts the cluster, the rest join it) and waits until every shard has a leader. */
  static async start(opts: LocalClusterOptions, healthyTimeoutMs = 60_000): Promise<LocalCluster> {
    const c = new LocalCluster(opts);
    for (let i = 0; i < opts.nodes; i++) {
      const ports = await freePorts(c.host);
      const dataDir = join(opts.baseDir, `n${i + 1}`);
      mkdirSync(dataDir, { recursive: true });
      c.nodes.push({ index: i, id: `n${i + 1}`, dataDir, ports, child: undefined, exited: Promise.resolve(null), output: '' });
    }
    try {
      for (const n of c.nodes) await c.launchFresh(n);
      await c.waitHealthy(healthyTimeoutMs);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** Starts one more node, which joins the cluster (rebalancing then moves replicas to it). */
  async addNode(): Promise<LocalNode> {
    const i = this.nodes.length;
    const ports = await freePorts(this.host);
    const dataDir = join(this.opts.baseDir, `n${i + 1}`);
    mkdirSync(dataDir, { recursive: true });
    const n: LocalNode = { index: i, id: `n${i + 1}`, dataDir, ports, child: undefined, exited: Promise.resolve(null), output: '' };
    this.nodes.push(n);
    await this.launchFresh(n);
    return n;
  }

  /**
   * A new node's first start. A port found free can still be taken before
   * the node binds it (another test's cluster picking the same one): the
   * node then exits with EADDRINUSE, and starts again, from an empty data
   * directory, on other ports.
   */
  private async launchFresh(n: LocalNode): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.launch(n);
        return;
      } catch (err) {
        if (attempt >= 5 || !/EADDRINUSE/.test(err instanceof Error ? err.message : String(err))) throw err;
        rmSync(n.dataDir, { recursive: true, force: true });
        mkdirSync(n.dataDir, { recursive: true });
        n.ports = await freePorts(this.host);
      }
    }
  }

  /** The `strata serve` arguments of node `n`. */
  private argsOf(n: LocalNode): string[] {
    const o = this.opts;
    const first = this.nodes[0]!;
    return [
      CLI_PATH,
      'serve',
      '--data-dir', n.dataDir,
      '--host', this.host,
      '--node-id', n.id,
      '--peer-port', String(n.ports.peer),
      '--resp-port', String(n.ports.resp),
      '--http-port', String(n.ports.http),
      '--grpc-port', String(n.ports.grpc),
      '--bootstrap-expect', String(o.nodes),
      '--shards', String(o.shards ?? 16),
      '--replication-factor', String(o.replicationFactor ?? 3),
      '--log-level', o.logLevel ?? 'warn',
      ...(n === first ? [] : ['--join', `${this.host}:${first.ports.peer}`]),
      ...(this.faultInjection ? ['--set', 'cluster.faultInjection=true'] : []),
      ...(o.args ?? []),
    ];
  }

  /** Starts node `n`'s process and waits until it prints its ports (it is listening). */
  private launch(n: LocalNode): Promise<void> {
    // Its own process group: a Ctrl-C at the terminal reaches the launcher, which stops the nodes itself.
    const child = spawn(process.execPath, this.argsOf(n), { env: { ...process.env, ...this.env, STRATA_PRINT_PORTS: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    n.child = child;
    n.output = '';
    // 'close' (not 'exit'): by then stdout and stderr are read, so a node that dies at start says why.
    n.exited = new Promise((r) => child.on('close', (code, signal) => r(code ?? signal)));
    let pending = '';
    const onData = (d: Buffer) => {
      const text = d.toString();
      n.output += text;
      if (n.output.length > 200_000) n.output = n.output.slice(-100_000);
      if (this.opts.onOutput !== undefined) {
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const l of lines) if (l !== '' && !l.startsWith('STRATA_PORTS')) this.opts.onOutput(n, l);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    return new Promise((res, rej) => {
      const check = () => {
        if (n.output.includes('STRATA_PORTS')) {
          child.stdout!.off('data', check);
          res();
        }
      };
      child.stdout!.on('data', check);
      void n.exited.then((code) => rej(new Error(`node ${n.id} exited (${String(code)}) before it was ready:\n${n.output.slice(-4000)}`)));
    });
  }

  url(i: number, path: string): string {
    return `http://${this.host}:${this.nodes[i]!.ports.http}${path}`;
  }

  /** GET a coordinator route of node i as JSON. */
  async coordinator<T = Record<string, unknown>>(i: number, route: string): Promise<T> {
    const r = await fetch(this.url(i, `/api/v1/coordinator/${route}`));
    if (!r.ok) throw new Error(`${this.nodes[i]!.id} ${route}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  }

  /** Waits until every running node reports every shard with a leader and every running node up. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      let ok = true;
      for (const n of this.nodes) {
        if (n.child === undefined) continue;
        try {
          const h = await this.coordinator<{ status: string; shardsWithoutLeader: number; nodes: Record<string, string>; replicasHere: number; replicasAssigned: number }>(n.index, 'health');
          const running = this.nodes.filter((m) => m.child !== undefined).map((m) => m.id);
          if (h.status === 'forming' || h.shardsWithoutLeader > 0 || h.replicasHere < h.replicasAssigned || running.some((id) => h.nodes[id] !== 'up')) {
            ok = false;
            last = `${n.id}: ${JSON.stringify(h)}`;
          }
        } catch (err) {
          ok = false;
          last = `${n.id}: ${err instanceof Error ? err.message : String(err)}`;
        }
      }
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`cluster not healthy within ${timeoutMs} ms; last: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Waits until every shard is led by its preferred replica (the first in
   * the shard map), where leader balancing puts it: after that no leader
   * moves unless something fails, so a test that counts redirects starts
   * from a settled cluster.
   */
  async waitLeadersSettled(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const map = await this.coordinator<{ shards: Array<{ id: number; leader: string; replicas: string[] }> }>(this.nodes.findIndex((n) => n.child !== undefined), 'shard-map');
        const off = map.shards.filter((s) => s.leader !== s.replicas[0]);
        if (off.length === 0) return;
        last = off.map((s) => `shard ${s.id}: leader ${s.leader || '-'}, preferred ${s.replicas[0]}`).join('; ');
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) throw new Error(`leaders not settled within ${timeoutMs} ms; ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends a signal to node i's process and waits for it to exit (SIGKILL by default: kill -9). */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.nodes[i]!;
    const child = n.child;
    if (child === undefined) return;
    child.kill(signal);
    await n.exited;
    n.child = undefined;
  }

  /** Restarts a stopped node on its data directory and ports. */
  async restart(i: number): Promise<void> {
    const n = this.nodes[i]!;
    if (n.child !== undefined) throw new Error(`${n.id} is running`);
    await this.launch(n);
  }

  /** SIGSTOP / SIGCONT: the process freezes (its sockets stay open, its timers stop). */
  pause(i: number): void {
    this.nodes[i]!.child?.kill('SIGSTOP');
  }

  resume(i: number): void {
    this.nodes[i]!.child?.kill('SIGCONT');
  }

  /**
   * Makes node i drop all peer traffic to and from `blocked` (needs the
   * cluster started with faultInjection). A partition is both
   * sides blocking each other; `[]` heals.
   */
  async block(i: number, blocked: readonly string[]): Promise<void> {
    const r = await fetch(this.url(i, '/api/v1/coordinator/debug/partition'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nodes: blocked }) });
    if (!r.ok) throw new Error(`${this.nodes[i]!.id} partition: HTTP ${r.status} ${await r.text()}`);
  }

  /** Splits the cluster into groups of node indexes (each node blocks every node outside its group). */
  async partition(groups: number[][]): Promise<void> {
    for (const g of groups) {
      const outside = this.nodes.filter((n) => !g.includes(n.index)).map((n) => n.id);
      for (const i of g) if (this.nodes[i]!.child !== undefined) await this.block(i, outside);
    }
  }

  async heal(): Promise<void> {
    for (const n of this.nodes) if (n.child !== undefined) await this.block(n.index, []);
  }

  /** Stops every node: SIGTERM (graceful), then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        const child = n.child;
        if (child === undefined) return;
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await n.exited;
        clearTimeout(t);
        n.child = undefined;
      }),
    );
  }
}
