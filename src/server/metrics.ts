import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { KeyValueService } from '../base/index.js';
import type { TsStats } from '../tsdb/index.js';

export type Protocol = 'resp' | 'http' | 'grpc';

/** A command's counters, resolved once per (protocol, command) so the hot path does no label lookups. */
export interface CommandMetrics {
  /** Records one finished command: its duration in seconds and whether it failed. */
  observe(seconds: number, failed: boolean): void;
}

/** What the metrics read from the time-series database at scrape time. */
export interface TsdbStatsSource {
  stats(): TsStats;
}

/** TsStats counters exposed as Prometheus counters (`strata_tsdb_<name>_total`). */
const TSDB_COUNTERS: ReadonlyArray<readonly [keyof TsStats, string, string]> = [
  ['pointsWritten', 'strata_tsdb_points_written_total', 'Time-series points (rows) written.'],
  ['valuesWritten', 'strata_tsdb_values_written_total', 'Time-series field values written.'],
  ['chunksSealed', 'strata_tsdb_chunks_sealed_total', 'Head buffers sealed into chunks.'],
  ['chunksExpired', 'strata_tsdb_chunks_expired_total', 'Chunks dropped by retention.'],
  ['chunksMovedCold', 'strata_tsdb_chunks_moved_cold_total', 'Chunks moved to the cold tier.'],
  ['rollupBucketsWritten', 'strata_tsdb_rollup_buckets_written_total', 'Rollup buckets (1h, 1d, 1M, 1y) written.'],
];

/** TsStats levels exposed as gauges. */
const TSDB_GAUGES: ReadonlyArray<readonly [keyof TsStats, string, string]> = [
  ['series', 'strata_tsdb_series', 'Time series known to the index.'],
  ['measurements', 'strata_tsdb_measurements', 'Measurements with a schema.'],
  ['headPoints', 'strata_tsdb_head_points', 'Points in memory not yet sealed into chunks.'],
];

/**
 * The Prometheus registry one server process exposes on /metrics:
 * per-command counts and latency histograms for each protocol, open
 * connections, and the engine's and the time-series database's counters
 * read at scrape time.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly commands: Counter<'protocol' | 'command' | 'status'>;
  private readonly latency: CommandLatency;
  private readonly connections: Gauge<'protocol'>;
  private readonly connectionsTotal: Counter<'protocol'>;
  private readonly rejected: Counter<'protocol' | 'reason'>;
  private readonly byCommand = new Map<string, CommandMetrics>();

  constructor(service: KeyValueService | undefined, options: { defaultMetrics?: boolean; tsdb?: TsdbStatsSource | undefined } = {}) {
    const registers = [this.registry];
    this.commands = new Counter({
      name: 'strata_commands_total',
      help: 'Commands handled, by protocol, command and status (ok or error).',
      labelNames: ['protocol', 'command', 'status'],
      registers,
      collect: () => {
        for (const s of this.latency.series) s.fold();
      },
    });
    this.latency = new CommandLatency('strata_command_duration_seconds', 'Command latency from parse to reply, by protocol and command.', [
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
    ]);
    this.registry.registerMetric(this.latency as unknown as Metric);
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
    if (options.tsdb !== undefined) this.registerTsdb(options.tsdb);
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'strata_process_' });
  }

  /** Gauges and counters over the store's stats(), read once per scrape. */
  private registerTsdb(tsdb: TsdbStatsSource): void {
    const registers = [this.registry];
    // One stats() call serves every metric of a scrape (collect runs once per metric).
    let cached: { at: number; stats: TsStats } | undefined;
    const read = (): TsStats => {
      const now = Date.now();
      if (cached === undefined || now - cached.at > 100) cached = { at: now, stats: tsdb.stats() };
      return cached.stats;
    };
    for (const [stat, name, help] of TSDB_GAUGES) {
      const g: Gauge = new Gauge({
        name,
        help,
        registers,
        collect() {
          g.set(read()[stat]);
        },
      });
    }
    for (const [stat, name, help] of TSDB_COUNTERS) {
      const c: Counter = new Counter({
        name,
        help,
        registers,
        collect() {
          // The store's counters only grow; the Prometheus counter is set to them.
          c.reset();
          c.inc(read()[stat]);
        },
      });
    }
  }

  command(protocol: Protocol, command: string): CommandMetrics {
    const id = `${protocol} ${command}`;
    let m = this.byCommand.get(id);
    if (m === undefined) {
      const series = new CommandSeries(protocol, command, this.latency.bounds, this.commands.labels(protocol, command, 'ok'), this.commands.labels(protocol, command, 'error'));
      this.latency.series.push(series);
      m = series;
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

/**
 * One (protocol, command) series in plain numbers: observe() is a few
 * additions. prom-client's own Histogram.observe and Counter.inc hash the
 * labels on every call (about 1 µs together, a fifth of the CPU of a
 * pipelined RESP GET); these numbers are read at scrape time instead.
 */
class CommandSeries implements CommandMetrics {
  ok = 0;
  failed = 0;
  sum = 0;
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  readonly labels: { protocol: string; command: string };
  private okFolded = 0;
  private failedFolded = 0;

  constructor(
    protocol: Protocol,
    command: string,
    private readonly bounds: readonly number[],
    private readonly okCounter: { inc(n: number): void },
    private readonly failedCounter: { inc(n: number): void },
  ) {
    this.labels = { protocol, command };
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number, failed: boolean): void {
    if (failed) this.failed++;
    else this.ok++;
    this.sum += seconds;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
  }

  /** Moves the counts observed since the last scrape into the strata_commands_total counter. */
  fold(): void {
    if (this.ok > this.okFolded) this.okCounter.inc(this.ok - this.okFolded);
    if (this.failed > this.failedFolded) this.failedCounter.inc(this.failed - this.failedFolded);
    this.okFolded = this.ok;
    this.failedFolded = this.failed;
  }

  reset(): void {
    this.ok = this.failed = this.okFolded = this.failedFolded = this.sum = 0;
    this.counts.fill(0);
  }
}

interface SeriesValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * strata_command_duration_seconds: a histogram over CommandSeries, rendered
 * by the registry exactly as a prom-client Histogram is (it duck-types a
 * metric: name, help, type, get/getForPromString, reset).
 */
class CommandLatency {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly series: CommandSeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {}

  /** As prom-client renders histograms: series labels as shared labels, `le` first. */
  getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: SeriesValue[] }> {
    const bucket = `${this.name}_bucket`;
    const values: SeriesValue[] = [];
    for (const s of this.series) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: s.labels, value: acc, metricName: bucket });
      }
      const count = acc + s.counts[this.bounds.length]!;
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** For JSON (getMetricsAsJSON): shared labels merged into each value's labels, as prom-client does. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: SeriesValue[] }> {
    const data = await this.getForPromString();
    data.values = data.values.map((v) => ({ labels: { ...v.labels, ...v.sharedLabels }, value: v.value, metricName: v.metricName }));
    return data;
  }

  reset(): void {
    for (const s of this.series) s.reset();
  }
}
