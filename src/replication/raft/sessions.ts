import { corruption } from '../../base/index.js';

/**
 * Client sessions (thesis §6.3): each client numbers its commands 1, 2, 3...
 * and a retried command carries the same number. The state machine records
 * the last number applied per client and its response, so a command that
 * was committed twice (the client retried after a timeout) applies once and
 * both attempts get the first response.
 *
 * Deterministic: every replica applies the same entries, so they evict the
 * same sessions. A client must not have more than one command outstanding
 * (the usual rule); sessions idle for `maxSessions` newer registrations are
 * evicted, and a command of an evicted session is answered `expired`.
 */
export type SessionCheck =
  | { kind: 'new' }
  | { kind: 'duplicate'; response: Uint8Array }
  /** Older than the last applied command: its response is gone; the client has moved on already. */
  | { kind: 'stale' };

interface Session {
  lastSeq: number;
  response: Uint8Array;
}

export class SessionTable {
  /** Insertion order doubles as least-recently-used order (re-inserted on use). */
  private readonly sessions = new Map<string, Session>();
  constructor(readonly maxSessions = 10_000) {}

  get size(): number {
    return this.sessions.size;
  }

  check(client: string, seq: number): SessionCheck {
    const s = this.sessions.get(client);
    if (!s || seq > s.lastSeq) return { kind: 'new' };
    if (seq === s.lastSeq) return { kind: 'duplicate', response: s.response };
    return { kind: 'stale' };
  }

  /** Records the response of a newly applied command. */
  record(client: string, seq: number, response: Uint8Array): void {
    this.sessions.delete(client);
    this.sessions.set(client, { lastSeq: seq, response });
    if (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
  }

  /** Serialized form for snapshots: count, then (client, seq, response) each length-prefixed. */
  encode(): Uint8Array {
    const enc = new TextEncoder();
    const parts: Uint8Array[] = [];
    let size = 4;
    for (const [client, s] of this.sessions) {
      const c = enc.encode(client);
      parts.push(c, s.response);
      size += 4 + c.length + 8 + 4 + s.response.length;
    }
    const out = new Uint8Array(size);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, this.sessions.size, true);
    let off = 4;
    let i = 0;
    for (const s of this.sessions.values()) {
      const c = parts[i++]!;
      const r = parts[i++]!;
      dv.setUint32(off, c.length, true);
      out.set(c, off + 4);
      off += 4 + c.length;
      dv.setFloat64(off, s.lastSeq, true);
      dv.setUint32(off + 8, r.length, true);
      out.set(r, off + 12);
      off += 12 + r.length;
    }
    return out;
  }

  static decode(data: Uint8Array, maxSessions?: number, what = 'session table'): SessionTable {
    const t = new SessionTable(maxSessions);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const dec = new TextDecoder('utf-8', { fatal: true });
    const need = (off: number, n: number) => {
      if (off + n > data.length) throw corruption(what, off, `truncated (needs ${n} bytes)`);
    };
    need(0, 4);
    const count = dv.getUint32(0, true);
    let off = 4;
    for (let i = 0; i < count; i++) {
      need(off, 4);
      const cl = dv.getUint32(off, true);
      need(off + 4, cl + 12);
      const client = dec.decode(data.subarray(off + 4, off + 4 + cl));
      off += 4 + cl;
      const seq = dv.getFloat64(off, true);
      const rl = dv.getUint32(off + 8, true);
      need(off + 12, rl);
      t.sessions.set(client, { lastSeq: seq, response: data.slice(off + 12, off + 12 + rl) });
      off += 12 + rl;
    }
    if (off !== data.length) throw corruption(what, off, 'trailing bytes');
    return t;
  }
}
