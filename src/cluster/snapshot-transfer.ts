/**
 * Streams a shard checkpoint's files to a replica that needs the snapshot,
 * before the Raft snapshot message that installs them is let through.
 *
 * The leader's Raft core sends a snapshot as a small descriptor (see
 * shard-snapshot.ts). The sender holds that message back, and meanwhile:
 *   snap.begin   the receiver says how much of each file it already holds
 *                (whole files survive its restarts; a file it is still
 *                writing resumes at the byte where it stopped);
 *   snap.chunk   the rest, in chunks, each with its crc32c; a chunk at the
 *                wrong offset is answered with the offset wanted;
 *   snap.file    the whole file's crc32c: the receiver syncs the file and
 *                checks it end to end before giving it its name;
 *   snap.finish  the checkpoint is complete and durable there.
 * Then the held message goes out and the receiver's core installs it. A
 * transfer that fails is started again by the core's next resend, and
 * resumes from what the receiver holds. Bytes go through the node's
 * throttle (bytes/s shared by every transfer), so moves do not starve
 * foreground traffic.
 */
import { ERROR_CODES, StrataError, crc32c, invalidArgument } from '../base/index.js';
import type { Fs } from '../base/index.js';
import type { Message, NodeId } from '../replication/index.js';
import { decodeCheckpointDescriptor, isCheckpointDescriptor } from './shard-snapshot.js';
import type { CheckpointInfo, ReplicaSnapshots } from './shard-snapshot.js';

export const SNAPSHOT_METHODS = ['snap.begin', 'snap.chunk', 'snap.file', 'snap.finish'] as const;

/** Paces bytes to a rate (a token bucket one chunk deep); 0 means unlimited. Shared by every transfer of a node. */
export class Throttle {
  private nextFreeMs = 0;
  constructor(
    private bytesPerSec: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  setRate(bytesPerSec: number): void {
    this.bytesPerSec = bytesPerSec;
  }

  /** Resolves when `bytes` more may be sent. */
  async take(bytes: number): Promise<void> {
    if (this.bytesPerSec <= 0) return;
    const t = this.now();
    const start = Math.max(t, this.nextFreeMs);
    this.nextFreeMs = start + (bytes * 1000) / this.bytesPerSec;
    if (start > t) await this.sleep(start - t);
  }
}

export interface TransferProgress {
  group: string;
  to: NodeId;
  /** The snapshot's index. */
  index: number;
  bytesTotal: number;
  /** Bytes the receiver holds (including what it had before this transfer began). */
  bytesDone: number;
  /** Bytes sent by this transfer so far. */
  bytesSent: number;
  startedAtMs: number;
  /** Bytes/s sent by this transfer so far. */
  rate: number;
  /** Time left at the rate so far (undefined until something was sent). */
  etaMs: number | undefined;
  state: 'streaming' | 'done' | 'failed';
  error?: string;
}

/** How long a finished transfer's snapshot message is resent without checking that the receiver still has the files. */
const DONE_TRUST_MS = 10_000;

interface Transfer extends TransferProgress {
  doneAtMs: number;
  /** The newest snapshot message the core sent for it, let through once the files are there. */
  pending: Message | undefined;
  cancelled: boolean;
}

export interface SnapshotSenderOptions {
  fs: Fs;
  /** Bytes per chunk (default 1 MiB). */
  chunkBytes?: number;
  throttle: Throttle;
  request(to: NodeId, method: string, payload: Uint8Array): Promise<Uint8Array>;
  /** Sends a Raft message as usual. */
  forward(to: NodeId, group: string, msg: Message): void;
  /** The checkpoints of this node's replica of `group`. */
  snapshotsOf(group: string): ReplicaSnapshots | undefined;
  /** The files a snapshot names are gone here: the core must pick another (a new snapshot is taken). */
  onMissing(group: string, to: NodeId): void;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
  now?: () => number;
}

export class SnapshotSender {
  private readonly transfers = new Map<string, Transfer>();
  /** Chunk bytes sent by every transfer so far. */
  bytesSent = 0;
  private readonly chunkBytes: number;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly opts: SnapshotSenderOptions) {
    this.chunkBytes = opts.chunkBytes ?? 1 << 20;
    this.now = opts.now ?? Date.now;
  }

  /** Called with every Snap message of a shard group the core sends. */
  send(to: NodeId, group: string, msg: Message): void {
    const chunk = msg.snapshot;
    if (chunk === undefined || chunk.offset !== 0 || !isCheckpointDescriptor(chunk.data)) {
      this.opts.forward(to, group, msg);
      return;
    }
    const key = `${group}\u0000${to}`;
    const index = chunk.meta.index;
    const t = this.transfers.get(key);
    // A finished transfer lets the core's resends through for a while; after that the files are offered again
    // (the receiver may have lost them: its replica was removed and re-created), which costs a snap.begin and
    // a checksum pass when it still has them.
    if (t !== undefined && t.index === index && (t.state === 'streaming' || (t.state === 'done' && this.now() - t.doneAtMs < DONE_TRUST_MS))) {
      if (t.state === 'done') this.opts.forward(to, group, msg);
      else t.pending = msg;
      return;
    }
    if (t !== undefined) t.cancelled = true;
    let info: CheckpointInfo;
    try {
      info = decodeCheckpointDescriptor(chunk.data);
    } catch (err) {
      this.opts.log('warn', `snapshot of ${group} for ${to}: bad descriptor`, { err: errText(err) });
      return;
    }
    const nt: Transfer = {
      group,
      to,
      index,
      bytesTotal: info.files.reduce((s, f) => s + f.size, 0),
      bytesDone: 0,
      bytesSent: 0,
      startedAtMs: this.now(),
      rate: 0,
      etaMs: undefined,
      state: 'streaming',
      doneAtMs: 0,
      pending: msg,
      cancelled: false,
    };
    this.transfers.set(key, nt);
    void this.run(nt, info);
  }

  /** Transfers in flight, and the last outcome of each finished one. */
  progress(): TransferProgress[] {
    return [...this.transfers.values()].map((t) => {
      const elapsed = Math.max(1, this.now() - t.startedAtMs);
      const rate = (t.bytesSent * 1000) / elapsed;
      const left = t.bytesTotal - t.bytesDone;
      return {
        group: t.group,
        to: t.to,
        index: t.index,
        bytesTotal: t.bytesTotal,
        bytesDone: t.bytesDone,
        bytesSent: t.bytesSent,
        startedAtMs: t.startedAtMs,
        rate: Math.round(rate),
        etaMs: t.state === 'done' ? 0 : rate > 0 ? Math.round((left * 1000) / rate) : undefined,
        state: t.state,
        ...(t.error !== undefined ? { error: t.error } : {}),
      };
    });
  }

  /** Forgets finished transfers of groups no longer led here (their progress is no longer news). */
  forget(keep: (group: string) => boolean): void {
    for (const [k, t] of this.transfers) if (t.state !== 'streaming' && !keep(t.group)) this.transfers.delete(k);
  }

  close(): void {
    this.closed = true;
    for (const t of this.transfers.values()) t.cancelled = true;
  }

  private async run(t: Transfer, info: CheckpointInfo): Promise<void> {
    const snaps = this.opts.snapshotsOf(t.group);
    if (snaps === undefined || snaps.info(t.index) === undefined) {
      t.state = 'failed';
      t.error = 'checkpoint files missing';
      this.opts.log('warn', `snapshot ${t.index} of ${t.group}: its checkpoint is not here; taking a new one`);
      this.opts.onMissing(t.group, t.to);
      return;
    }
    snaps.acquire(t.index);
    const fs = this.opts.fs;
    try {
      const begun = parseJson<{ have: Record<string, number> }>(await this.opts.request(t.to, 'snap.begin', json({ group: t.group, info })));
      const have = begun.have ?? {};
      t.bytesDone = info.files.reduce((s, f) => s + Math.min(f.size, have[f.name] ?? 0), 0);
      for (const f of info.files) {
        let off = Math.min(f.size, have[f.name] ?? 0);
        const path = snaps.path(t.index, f.name);
        const file = fs.openRandomAccess(path);
        try {
          if (file.size !== f.size) throw new StrataError(ERROR_CODES.CORRUPTION, `${path} has ${file.size} bytes, the checkpoint says ${f.size}`);
          // The whole file's checksum, over what the receiver holds already, then each chunk as it goes.
          let crc = 0;
          for (let p = 0; p < off; p += this.chunkBytes) crc = crc32c(file.read(p, Math.min(this.chunkBytes, off - p)), crc);
          while (off < f.size) {
            if (t.cancelled || this.closed) throw new StrataError(ERROR_CODES.UNAVAILABLE, 'transfer cancelled');
            const data = file.read(off, Math.min(this.chunkBytes, f.size - off));
            await this.opts.throttle.take(data.length);
            const head = json({ group: t.group, index: t.index, name: f.name, offset: off, crc: crc32c(data) });
            const res = parseJson<{ size: number }>(await this.opts.request(t.to, 'snap.chunk', packChunk(head, data)));
            if (res.size === off + data.length) {
              crc = crc32c(data, crc);
              t.bytesSent += data.length;
              this.bytesSent += data.length;
              t.bytesDone += data.length;
              off += data.length;
            } else {
              // The receiver wants another offset (it restarted or lost a chunk): the next attempt begins again.
              throw new StrataError(ERROR_CODES.UNAVAILABLE, `receiver holds ${res.size} bytes of ${f.name}, not ${off + data.length}`);
            }
          }
          await this.opts.request(t.to, 'snap.file', json({ group: t.group, index: t.index, name: f.name, crc }));
        } finally {
          file.close();
        }
      }
      await this.opts.request(t.to, 'snap.finish', json({ group: t.group, index: t.index }));
      t.state = 'done';
      t.doneAtMs = this.now();
      t.bytesDone = t.bytesTotal;
      this.opts.log('info', `sent snapshot ${t.index} of ${t.group} to ${t.to}`, { bytes: t.bytesSent, ms: this.now() - t.startedAtMs });
      const msg = t.pending;
      t.pending = undefined;
      if (msg !== undefined && !t.cancelled && !this.closed) this.opts.forward(t.to, t.group, msg);
    } catch (err) {
      t.state = 'failed';
      t.error = errText(err);
      if (!this.closed) this.opts.log('warn', `snapshot ${t.index} of ${t.group} to ${t.to} interrupted; the next attempt resumes`, { err: t.error, bytesSent: t.bytesSent });
    } finally {
      snaps.release(t.index);
    }
  }
}

/**
 * The receiving side: serves the snap.* requests into the checkpoints of
 * this node's replica of the named group.
 */
export async function serveSnapshotRequest(method: string, payload: Uint8Array, snapshotsOf: (group: string) => ReplicaSnapshots | undefined): Promise<Uint8Array> {
  const target = (group: unknown): ReplicaSnapshots => {
    if (typeof group !== 'string') throw new StrataError(ERROR_CODES.PROTOCOL, 'snapshot transfer: no group');
    const s = snapshotsOf(group);
    if (s === undefined) throw new StrataError(ERROR_CODES.UNAVAILABLE, `snapshot transfer: no replica of ${group} here (yet)`);
    return s;
  };
  switch (method) {
    case 'snap.begin': {
      const req = parseJson<{ group: unknown; info: CheckpointInfo }>(payload);
      return json({ have: target(req.group).beginReceive(req.info) });
    }
    case 'snap.chunk': {
      const { head, data } = unpackChunk(payload);
      const h = parseJson<{ group: unknown; index: unknown; name: unknown; offset: unknown; crc: unknown }>(head);
      if (!isUint(h.index) || typeof h.name !== 'string' || !isUint(h.offset) || !isUint(h.crc)) throw new StrataError(ERROR_CODES.PROTOCOL, 'snapshot transfer: malformed chunk');
      return json({ size: target(h.group).writeChunk(h.index, h.name, h.offset, data, h.crc) });
    }
    case 'snap.file': {
      const h = parseJson<{ group: unknown; index: unknown; name: unknown; crc: unknown }>(payload);
      if (!isUint(h.index) || typeof h.name !== 'string' || !isUint(h.crc)) throw new StrataError(ERROR_CODES.PROTOCOL, 'snapshot transfer: malformed file end');
      await target(h.group).finishFile(h.index, h.name, h.crc);
      return json({});
    }
    case 'snap.finish': {
      const h = parseJson<{ group: unknown; index: unknown }>(payload);
      if (!isUint(h.index)) throw new StrataError(ERROR_CODES.PROTOCOL, 'snapshot transfer: malformed finish');
      await target(h.group).finishReceive(h.index);
      return json({});
    }
    default:
      throw invalidArgument(`unknown method ${method}`);
  }
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A chunk request: header length u32 LE | header (JSON) | data. */
function packChunk(head: Uint8Array, data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(4 + head.length + data.length);
  out.writeUInt32LE(head.length, 0);
  out.set(head, 4);
  out.set(data, 4 + head.length);
  return out;
}

function unpackChunk(payload: Uint8Array): { head: Uint8Array; data: Uint8Array } {
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (b.length < 4) throw new StrataError(ERROR_CODES.PROTOCOL, 'snapshot transfer: truncated chunk');
  const n = b.readUInt32LE(0);
  if (4 + n > b.length) throw new StrataError(ERROR_CODES.PROTOCOL, 'snapshot transfer: chunk header runs past the end');
  return { head: b.subarray(4, 4 + n), data: b.subarray(4 + n) };
}

function json(v: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

function parseJson<T>(b: Uint8Array): T {
  try {
    return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as T;
  } catch {
    throw new StrataError(ERROR_CODES.PROTOCOL, 'snapshot transfer: malformed JSON');
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
