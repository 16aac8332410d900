/**
 * The data of `npm run bench:tsdb`: a deterministic, TSBS-like "cpu-only"
 * data set (the devops use case restricted to the `cpu` measurement).
 *
 * - `hosts` hosts, one row per host every 10 s for `days` days from
 *   2016-01-01T00:00:00Z, emitted time-major (all hosts at t, then t + 10 s),
 *   as TSBS does.
 * - Tags per host (10): hostname=host_<i> plus region, datacenter, rack, os,
 *   arch, team, service, service_version, service_environment, all drawn
 *   from a PRNG seeded by the host index, so host i has the same tags
 *   whatever --hosts is.
 * - Fields (10): usage_user … usage_guest_nice. Each is a random walk with
 *   N(0, 1) steps clamped to [0, 100], starting uniformly in [0, 100] (the
 *   TSBS cpu model). Variant `tsbs` writes the walk at full precision
 *   (shortest round-trip decimal, ~17 significant digits); variant `sensor`
 *   writes the same walk rounded to two decimals.
 *
 * Line-protocol batches are generated lazily and spooled once per variant to
 * a temp file, so the timed loads only read bytes back (from the page cache)
 * and every database receives exactly the same bytes.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { SeededRandom } from '../../src/base/index.js';
import type { TsPoint } from '../../src/tsdb/types.js';

export const MEASUREMENT = 'cpu';
export const START_MS = Date.UTC(2016, 0, 1);
export const INTERVAL_MS = 10_000;
export const DAY_MS = 86_400_000;

export const FIELDS = [
  'usage_user',
  'usage_system',
  'usage_idle',
  'usage_nice',
  'usage_iowait',
  'usage_irq',
  'usage_softirq',
  'usage_steal',
  'usage_guest',
  'usage_guest_nice',
] as const;
export type CpuField = (typeof FIELDS)[number];

export const VARIANTS = ['tsbs', 'sensor'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface DataSpec {
  hosts: number;
  days: number;
  variant: Variant;
  seed: number;
  /** Lines per batch (one HTTP request / one store.write call). */
  batchLines: number;
}

export const rowsOf = (s: Pick<DataSpec, 'hosts' | 'days'>): number => s.hosts * timestampsOf(s);
export const timestampsOf = (s: Pick<DataSpec, 'days'>): number => (s.days * DAY_MS) / INTERVAL_MS;
export const endMsOf = (s: Pick<DataSpec, 'days'>): number => START_MS + s.days * DAY_MS;
export const hostName = (i: number): string => `host_${i}`;

// ------------------------------------------------------------------ tags

/** AWS-style regions and their zones (the TSBS devops model uses the same kind of names). */
const REGIONS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['us-east-1', ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1e']],
  ['us-west-1', ['us-west-1a', 'us-west-1b']],
  ['us-west-2', ['us-west-2a', 'us-west-2b', 'us-west-2c']],
  ['eu-west-1', ['eu-west-1a', 'eu-west-1b', 'eu-west-1c']],
  ['eu-central-1', ['eu-central-1a', 'eu-central-1b']],
  ['ap-southeast-1', ['ap-southeast-1a', 'ap-southeast-1b']],
  ['ap-southeast-2', ['ap-southeast-2a', 'ap-southeast-2b']],
  ['ap-northeast-1', ['ap-northeast-1a', 'ap-northeast-1c']],
  ['sa-east-1', ['sa-east-1a', 'sa-east-1b', 'sa-east-1c']],
];
const OSES = ['Ubuntu16.10', 'Ubuntu16.04LTS', 'Ubuntu15.10'];
const ARCHES = ['x64', 'x86'];
const TEAMS = ['SF', 'NYC', 'LON', 'CHI'];
const ENVIRONMENTS = ['production', 'staging', 'test'];

const pick = <T>(rng: SeededRandom, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;

/** The tags of host i, in line-protocol order (hostname first, as TSBS writes them). */
export function hostTags(i: number, seed: number): Array<[string, string]> {
  const rng = new SeededRandom(seed * 1_000_003 + i * 7 + 1);
  const [region, zones] = pick(rng, REGIONS);
  return [
    ['hostname', hostName(i)],
    ['region', region],
    ['datacenter', pick(rng, zones)],
    ['rack', String(rng.int(0, 99))],
    ['os', pick(rng, OSES)],
    ['arch', pick(rng, ARCHES)],
    ['team', pick(rng, TEAMS)],
    ['service', String(rng.int(0, 19))],
    ['service_version', String(rng.int(0, 1))],
    ['service_environment', pick(rng, ENVIRONMENTS)],
  ];
}

// ------------------------------------------------------------------ values

/** A standard normal draw (Box–Muller; the second output is kept for the next call). */
class Normal {
  private spare: number | undefined;
  constructor(private readonly rng: SeededRandom) {}
  next(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u1 = 1 - this.rng.float(); // (0, 1]: log is finite
    const u2 = this.rng.float();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
}

/**
 * The ten clamped random walks of one host. Values below 1e-6 snap to 0 so
 * that every value prints in plain decimal notation (JS would write 3e-7).
 */
class HostWalk {
  readonly values = new Float64Array(FIELDS.length);
  private readonly normal: Normal;
  constructor(host: number, seed: number) {
    const rng = new SeededRandom(seed * 1_000_003 + host * 7 + 2);
    this.normal = new Normal(rng);
    for (let f = 0; f < FIELDS.length; f++) this.values[f] = rng.float() * 100;
  }
  step(): void {
    for (let f = 0; f < FIELDS.length; f++) {
      let v = this.values[f]! + this.normal.next();
      if (v > 100) v = 100;
      if (v < 1e-6) v = 0;
      this.values[f] = v;
    }
  }
}

const formatValue = (v: number, variant: Variant): string => (variant === 'tsbs' ? String(v) : String(Math.round(v * 100) / 100));

// ------------------------------------------------------------------ batches

export interface Batch {
  body: Buffer;
  rows: number;
}

/**
 * Line-protocol batches of `batchLines` lines, lazily. The first row of
 * every host is the walk's start value; each later row is one step on.
 * Timestamps in nanoseconds (`precision=ns`).
 */
export function* lineBatches(spec: DataSpec): Generator<Batch> {
  const prefixes: string[] = [];
  const walks: HostWalk[] = [];
  for (let h = 0; h < spec.hosts; h++) {
    prefixes.push(`${MEASUREMENT},${hostTags(h, spec.seed).map(([k, v]) => `${k}=${v}`).join(',')} `);
    walks.push(new HostWalk(h, spec.seed));
  }
  const steps = timestampsOf(spec);
  let lines: string[] = [];
  for (let t = 0; t < steps; t++) {
    const ns = ` ${START_MS + t * INTERVAL_MS}000000\n`;
    for (let h = 0; h < spec.hosts; h++) {
      const w = walks[h]!;
      if (t > 0) w.step();
      let line = prefixes[h]!;
      for (let f = 0; f < FIELDS.length; f++) {
        if (f > 0) line += ',';
        line += `${FIELDS[f]}=${formatValue(w.values[f]!, spec.variant)}`;
      }
      lines.push(line + ns);
      if (lines.length === spec.batchLines) {
        yield { body: Buffer.from(lines.join(''), 'utf8'), rows: lines.length };
        lines = [];
      }
    }
  }
  if (lines.length > 0) yield { body: Buffer.from(lines.join(''), 'utf8'), rows: lines.length };
}

/** What a child process needs to read a spool file back (sent over IPC). */
export interface SpoolInfo {
  path: string;
  spec: DataSpec;
  index: Array<{ offset: number; length: number; rows: number }>;
  bytes: number;
  generateMs: number;
}

/** The batches of one variant written once to a file: offsets kept in memory, bodies read back on demand. */
export class SpooledBatches {
  private constructor(
    readonly path: string,
    readonly spec: DataSpec,
    private readonly index: ReadonlyArray<{ offset: number; length: number; rows: number }>,
    readonly bytes: number,
    readonly generateMs: number,
  ) {}

  static create(path: string, spec: DataSpec, progress?: (rows: number) => void): SpooledBatches {
    const t0 = performance.now();
    const fd = openSync(path, 'w');
    const index: Array<{ offset: number; length: number; rows: number }> = [];
    let offset = 0;
    let rows = 0;
    try {
      for (const b of lineBatches(spec)) {
        writeSync(fd, b.body);
        index.push({ offset, length: b.body.length, rows: b.rows });
        offset += b.body.length;
        rows += b.rows;
        progress?.(rows);
      }
    } finally {
      closeSync(fd);
    }
    return new SpooledBatches(path, spec, index, offset, performance.now() - t0);
  }

  info(): SpoolInfo {
    return { path: this.path, spec: this.spec, index: [...this.index], bytes: this.bytes, generateMs: this.generateMs };
  }

  static fromInfo(i: SpoolInfo): SpooledBatches {
    return new SpooledBatches(i.path, i.spec, i.index, i.bytes, i.generateMs);
  }

  get batches(): number {
    return this.index.length;
  }

  get rows(): number {
    return this.index.reduce((a, b) => a + b.rows, 0);
  }

  /** Reads the batches back in order, one buffer at a time (async reads, bounded memory). */
  async *read(): AsyncGenerator<Batch> {
    const fh = await open(this.path, 'r');
    try {
      for (const e of this.index) {
        const body = Buffer.allocUnsafe(e.length);
        let done = 0;
        while (done < e.length) {
          const { bytesRead } = await fh.read(body, done, e.length - done, e.offset + done);
          if (bytesRead === 0) throw new Error(`${this.path}: short read at ${e.offset + done}`);
          done += bytesRead;
        }
        yield { body, rows: e.rows };
      }
    } finally {
      await fh.close();
    }
  }
}

// ------------------------------------------------------------------ the one-year series

export const YEAR_MEASUREMENT = 'sensor_year';
export const YEAR_INTERVAL_MS = 600_000;
export const YEAR_DAYS = 365;
export const YEAR_POINTS = (YEAR_DAYS * DAY_MS) / YEAR_INTERVAL_MS; // 52,560

/**
 * One series, one float field `temp`, one point per 10 minutes for 365 days
 * from 2016-01-01, as TsPoint batches (written in-process, no parsing).
 */
export function* yearSeriesBatches(seed: number, batchPoints = 5_000): Generator<TsPoint[]> {
  const rng = new SeededRandom(seed * 1_000_003 + 999_983);
  const normal = new Normal(rng);
  let v = 20;
  let batch: TsPoint[] = [];
  for (let i = 0; i < YEAR_POINTS; i++) {
    v = Math.min(45, Math.max(-20, v + normal.next() * 0.2));
    batch.push({
      measurement: YEAR_MEASUREMENT,
      tags: [['sensor', 's1']],
      fields: [{ name: 'temp', type: 'float', value: Math.round(v * 100) / 100 }],
      timeMs: START_MS + i * YEAR_INTERVAL_MS,
    });
    if (batch.length === batchPoints) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
