import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KeyValueService } from '../base/index.js';

export type Protocol = 'resp' | 'http' | 'grpc';

/** A command's counters, resolved once per (protocol, command) so the hot path does no label lookups. */
export interface CommandMetrics {
  /** Records one finished command: its duration in seconds and whether it failed. */
  observe(seconds: number, failed: boolean): void;
}

/**
 * The Prometheus registry one server process exposes on /metrics:
 * per-command counts and latency histograms for each protocol, open
 * connections, and the engine's counters read at scrape time.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly commands: Counter<'protocol' | 'command' | 'status'>;
  private readonly latency: Histogram<'protocol' | 'command'>;
  private readonly connections: Gauge<'protocol'>;
  private readonly connectionsTotal: Counter<'protocol'>;
  private readonly rejected: Counter<'protocol' | 'reason'>;
  private readonly byCommand = new Map<string, CommandMetrics>();

  constructor(service: KeyValueService | undefined, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.commands = new Counter({ name: 'strata_commands_total', help: 'Commands handled, by protocol, command and status (ok or error).', labelNames: ['protocol', 'command', 'status'], registers });
    this.latency = new Histogram({
      name: 'strata_command_duration_seconds',
      help: 'Command latency from parse to reply, by protocol and command.',
      labelNames: ['protocol', 'command'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.connections = new Gauge({ name: 'strata_connections', help: 'Open client connections, by protocol.', labelNames: ['protocol'], registers });
    this.connectionsTotal = new Counter({ name: 'strata_connections_total', help: 'Client connections accepted, by protocol.', labelNames: ['protocol'], registers });
    this.rejected = new Counter({ name: 'strata_rejected_total', help: 'Requests or connections refused by a limit or auth, by protocol and reason.', labelNames: ['protocol', 'reason'], registers });
    if (service !== undefined) {
      const engine = new Gauge({
        name: 'strata_engine',
        help: 'Engine statistics (stat label: bytes, counts) read at scrape time.',
        labelNames: ['stat'],
        registers,
        collect() {
          engine.reset();
          for (const [stat, v] of Object.entries(service.info().engine)) engine.set({ stat }, v);
        },
      });
    }
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'strata_process_' });
  }

  command(protocol: Protocol, command: string): CommandMetrics {
    const id = `${protocol} ${command}`;
    let m = this.byCommand.get(id);
    if (m === undefined) {
      const ok = this.commands.labels(protocol, command, 'ok');
      const err = this.commands.labels(protocol, command, 'error');
      const hist = this.latency.labels(protocol, command);
      m = {
        observe(seconds: number, failed: boolean) {
          (failed ? err : ok).inc();
          hist.observe(seconds);
        },
      };
      this.byCommand.set(id, m);
    }
    return m;
  }

  connectionOpened(protocol: Protocol): void {
    this.connections.inc({ protocol });
    this.connectionsTotal.inc({ protocol });
  }

  connectionClosed(protocol: Protocol): void {
    this.connections.dec({ protocol });
  }

  rejectedRequest(protocol: Protocol, reason: 'auth' | 'limit' | 'protocol'): void {
    this.rejected.inc({ protocol, reason });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
