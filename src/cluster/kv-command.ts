/**
 * The key-value operations a cluster carries: writes are Raft log entries of
 * a shard (applied by every replica, so they carry the leader's clock and
 * the client's session), reads and writes are also the payload of a request
 * a node forwards to a shard leader. Binary, versioned, every decoder
 * bounds-checked (CORRUPTION on bad input). Layout in docs/formats.md
 * ("Cluster key-value commands").
 */
import { ByteReader, ByteWriter, ERROR_CODES, StrataError, invalidArgument } from '../base/index.js';
import type { ErrorCode, KvBatchOp, KvEntry, KvKeyspaceInfo, KvMutation, KvScanOptions, KvScanPage, KvSetOptions, KvSetResult, KvUpdateResult } from '../base/index.js';

export const KV_COMMAND_VERSION = 1;
const FILE = '<kv command>';

export type KvWrite =
  | { op: 'set'; key: Uint8Array; value: Uint8Array; options: KvSetOptions }
  | { op: 'setMany'; pairs: Array<[Uint8Array, Uint8Array]>; nx: boolean }
  | { op: 'delete'; keys: Uint8Array[] }
  | { op: 'batch'; ops: KvBatchOp[] }
  | { op: 'update'; key: Uint8Array; mutation: KvMutation }
  | { op: 'clear' }
  | KvSplit;

/**
 * Cuts a shard in two (meta splitStart, carried out through the parent's
 * log so every replica splits at the same index): the parent, owning
 * [lo, hi) of base `base` in a keyspace of `n0` base shards, keeps
 * [lo, at) and shard `child` (replicas `replicas`) starts from the
 * parent's state with [at, hi). See routing.ts.
 */
export interface KvSplit {
  op: 'split';
  shard: number;
  child: number;
  n0: number;
  base: number;
  lo: number;
  at: number;
  hi: number;
  replicas: string[];
}

/** A write as a shard's log holds it. */
export interface KvCommand {
  /** The proposing leader's clock: expiry arithmetic is the same on every replica. */
  nowMs: number;
  /** Client session ('' for none): a retried command (same client and seq) applies once. */
  client: string;
  seq: number;
  write: KvWrite;
}

export type KvWriteResult =
  | { op: 'set'; result: KvSetResult }
  | { op: 'setMany'; written: boolean }
  | { op: 'delete'; deleted: number }
  | { op: 'batch' }
  | { op: 'update'; result: KvUpdateResult }
  | { op: 'clear'; deleted: number }
  | { op: 'split' };

/** An operation's outcome: its result, or the typed error it failed with (deterministic on every replica). */
export type KvOutcome<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string };

export type KvRead =
  | { op: 'get'; key: Uint8Array }
  | { op: 'getEntry'; key: Uint8Array }
  | { op: 'getMany'; keys: Uint8Array[] }
  | { op: 'scan'; options: KvScanOptions }
  | { op: 'keyspaceInfo' };

export type KvReadResult =
  | { op: 'get'; value: Buffer | undefined }
  | { op: 'getEntry'; entry: KvEntry | undefined }
  | { op: 'getMany'; values: Array<Buffer | undefined> }
  | { op: 'scan'; page: KvScanPage }
  | { op: 'keyspaceInfo'; info: KvKeyspaceInfo };

const WRITE_OPS = ['set', 'setMany', 'delete', 'batch', 'update', 'clear', 'split'] as const;
const READ_OPS = ['get', 'getEntry', 'getMany', 'scan', 'keyspaceInfo'] as const;
const MUTATIONS = ['incrBy', 'incrByFloat', 'append', 'setRange', 'getDel', 'getEx', 'expire', 'persist'] as const;
const CONDITIONS = ['', 'nx', 'xx', 'gt', 'lt'] as const;

// ---- primitives ----

function putBytes(w: ByteWriter, b: Uint8Array): void {
  w.varint(b.length);
  w.bytes(b);
}
function putString(w: ByteWriter, s: string): void {
  putBytes(w, Buffer.from(s, 'utf8'));
}
function putOptBytes(w: ByteWriter, b: Uint8Array | undefined): void {
  if (b === undefined) w.byte(0);
  else {
    w.byte(1);
    putBytes(w, b);
  }
}
function putOptNumber(w: ByteWriter, n: number | undefined): void {
  if (n === undefined) w.byte(0);
  else {
    w.byte(1);
    w.f64le(n);
  }
}

function getBytes(r: ByteReader): Buffer {
  const n = r.varint();
  const v = r.bytes(n);
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
function getString(r: ByteReader): string {
  return getBytes(r).toString('utf8');
}
function getFlag(r: ByteReader): boolean {
  const b = r.byte();
  if (b > 1) r.fail(`flag byte ${b}`);
  return b === 1;
}
function getOptBytes(r: ByteReader): Buffer | undefined {
  return getFlag(r) ? getBytes(r) : undefined;
}
function getF64(r: ByteReader): number {
  const b = r.bytes(8);
  return Buffer.from(b.buffer, b.byteOffset, 8).readDoubleLE(0);
}
function getOptNumber(r: ByteReader): number | undefined {
  return getFlag(r) ? getF64(r) : undefined;
}
function getCount(r: ByteReader, what: string): number {
  const n = r.varint();
  // Every element takes at least one byte: a count beyond the bytes left is corrupt.
  if (n > r.remaining) r.fail(`${what} count ${n} beyond the data`);
  return n;
}
function getEnum<T extends string>(r: ByteReader, values: readonly T[], what: string): T {
  const b = r.byte();
  const v = values[b];
  if (v === undefined) r.fail(`unknown ${what} ${b}`);
  return v;
}
function header(r: ByteReader): void {
  const v = r.byte();
  if (v !== KV_COMMAND_VERSION) r.fail(`unsupported kv command version ${v}`);
}

// ---- writes ----

function putWrite(w: ByteWriter, c: KvWrite): void {
  w.byte(WRITE_OPS.indexOf(c.op));
  switch (c.op) {
    case 'set': {
      putBytes(w, c.key);
      putBytes(w, c.value);
      const o = c.options;
      putOptNumber(w, o.expireAtMs);
      w.byte((o.keepTtl === true ? 1 : 0) | (o.returnPrevious === true ? 2 : 0) | (o.ifEquals !== undefined ? 4 : 0));
      w.byte(CONDITIONS.indexOf(o.condition ?? ''));
      if (o.ifEquals !== undefined) putBytes(w, o.ifEquals);
      break;
    }
    case 'setMany':
      w.byte(c.nx ? 1 : 0);
      w.varint(c.pairs.length);
      for (const [k, v] of c.pairs) {
        putBytes(w, k);
        putBytes(w, v);
      }
      break;
    case 'delete':
      w.varint(c.keys.length);
      for (const k of c.keys) putBytes(w, k);
      break;
    case 'batch':
      w.varint(c.ops.length);
      for (const op of c.ops) {
        if (op.type === 'del') {
          w.byte(0);
          putBytes(w, op.key);
        } else {
          w.byte(1);
          putBytes(w, op.key);
          putBytes(w, op.value);
          putOptNumber(w, op.expireAtMs);
        }
      }
      break;
    case 'update':
      putBytes(w, c.key);
      putMutation(w, c.mutation);
      break;
    case 'clear':
      break;
    case 'split':
      for (const n of [c.shard, c.child, c.n0, c.base, c.lo, c.at, c.hi]) w.f64le(n);
      w.varint(c.replicas.length);
      for (const id of c.replicas) putString(w, id);
      break;
  }
}

function putMutation(w: ByteWriter, m: KvMutation): void {
  w.byte(MUTATIONS.indexOf(m.kind));
  switch (m.kind) {
    case 'incrBy':
      putString(w, m.by.toString());
      break;
    case 'incrByFloat':
      w.f64le(m.by);
      break;
    case 'append':
      putBytes(w, m.data);
      break;
    case 'setRange':
      w.f64le(m.offset);
      putBytes(w, m.data);
      break;
    case 'getDel':
    case 'persist':
      break;
    case 'getEx':
      putOptNumber(w, m.expireAtMs);
      w.byte(m.persist === true ? 1 : 0);
      break;
    case 'expire':
      w.f64le(m.expireAtMs);
      w.byte(CONDITIONS.indexOf(m.condition ?? ''));
      break;
  }
}

function getWrite(r: ByteReader): KvWrite {
  const op = getEnum(r, WRITE_OPS, 'write op');
  switch (op) {
    case 'set': {
      const key = getBytes(r);
      const value = getBytes(r);
      const options: KvSetOptions = {};
      const at = getOptNumber(r);
      if (at !== undefined) options.expireAtMs = at;
      const flags = r.byte();
      if (flags > 7) r.fail(`set flags ${flags}`);
      if ((flags & 1) !== 0) options.keepTtl = true;
      if ((flags & 2) !== 0) options.returnPrevious = true;
      const cond = getEnum(r, CONDITIONS, 'condition');
      if (cond === 'nx' || cond === 'xx') options.condition = cond;
      else if (cond !== '') r.fail(`set condition ${cond}`);
      if ((flags & 4) !== 0) options.ifEquals = getBytes(r);
      return { op, key, value, options };
    }
    case 'setMany': {
      const nx = getFlag(r);
      const n = getCount(r, 'pair');
      const pairs: Array<[Uint8Array, Uint8Array]> = [];
      for (let i = 0; i < n; i++) pairs.push([getBytes(r), getBytes(r)]);
      return { op, pairs, nx };
    }
    case 'delete': {
      const n = getCount(r, 'key');
      const keys: Uint8Array[] = [];
      for (let i = 0; i < n; i++) keys.push(getBytes(r));
      return { op, keys };
    }
    case 'batch': {
      const n = getCount(r, 'batch op');
      const ops: KvBatchOp[] = [];
      for (let i = 0; i < n; i++) {
        if (getFlag(r)) {
          const key = getBytes(r);
          const value = getBytes(r);
          const at = getOptNumber(r);
          ops.push(at === undefined ? { type: 'put', key, value } : { type: 'put', key, value, expireAtMs: at });
        } else ops.push({ type: 'del', key: getBytes(r) });
      }
      return { op, ops };
    }
    case 'update':
      return { op, key: getBytes(r), mutation: getMutation(r) };
    case 'clear':
      return { op };
    case 'split': {
      const [shard, child, n0, base, lo, at, hi] = Array.from({ length: 7 }, () => getF64(r));
      const ints = [shard, child, n0, base, lo, at, hi] as number[];
      if (ints.some((n) => !Number.isSafeInteger(n) || n < 0) || !(n0! > 0 && base! < n0! && lo! < at! && at! < hi!)) r.fail('split: malformed range');
      const n = getCount(r, 'replica');
      const replicas: string[] = [];
      for (let i = 0; i < n; i++) replicas.push(getString(r));
      return { op, shard: shard!, child: child!, n0: n0!, base: base!, lo: lo!, at: at!, hi: hi!, replicas };
    }
  }
}

function getMutation(r: ByteReader): KvMutation {
  const kind = getEnum(r, MUTATIONS, 'mutation');
  switch (kind) {
    case 'incrBy': {
      const text = getString(r);
      if (!/^-?\d{1,40}$/.test(text)) r.fail(`incrBy amount ${text.slice(0, 40)}`);
      return { kind, by: BigInt(text) };
    }
    case 'incrByFloat':
      return { kind, by: getF64(r) };
    case 'append':
      return { kind, data: getBytes(r) };
    case 'setRange':
      return { kind, offset: getF64(r), data: getBytes(r) };
    case 'getDel':
    case 'persist':
      return { kind };
    case 'getEx': {
      const at = getOptNumber(r);
      const persist = getFlag(r);
      const m: KvMutation = { kind };
      if (at !== undefined) m.expireAtMs = at;
      if (persist) m.persist = true;
      return m;
    }
    case 'expire': {
      const expireAtMs = getF64(r);
      const cond = getEnum(r, CONDITIONS, 'condition');
      return cond === '' ? { kind, expireAtMs } : { kind, expireAtMs, condition: cond };
    }
  }
}

export function encodeKvCommand(c: KvCommand): Buffer {
  const w = new ByteWriter(64);
  w.byte(KV_COMMAND_VERSION);
  w.f64le(c.nowMs);
  putString(w, c.client);
  w.f64le(c.seq);
  putWrite(w, c.write);
  return w.finish();
}

/**
 * A copy of an encoded command carrying `nowMs` as its time (the leader
 * stamps its clock into a command it is about to propose; the time is the
 * fixed field right after the version byte, so nothing else is re-encoded).
 */
export function withCommandTime(data: Uint8Array, nowMs: number): Buffer {
  if (data.length < 10 || data[0] !== KV_COMMAND_VERSION) throw corruptCommand('not a kv command of a known version');
  const out = Buffer.from(data);
  out.writeDoubleLE(nowMs, 1);
  return out;
}

function corruptCommand(what: string): Error {
  return new ByteReader(new Uint8Array(0), 0, 0, FILE).fail(what);
}

export function decodeKvCommand(data: Uint8Array): KvCommand {
  const r = new ByteReader(data, 0, data.length, FILE);
  header(r);
  const nowMs = getF64(r);
  const client = getString(r);
  const seq = getF64(r);
  const write = getWrite(r);
  r.expectEnd('kv command');
  return { nowMs, client, seq, write };
}

// ---- outcomes ----

function putOutcomeHeader(w: ByteWriter, o: KvOutcome<unknown>): boolean {
  w.byte(KV_COMMAND_VERSION);
  if (o.ok) {
    w.byte(1);
    return true;
  }
  w.byte(0);
  putString(w, o.code);
  putString(w, o.message);
  return false;
}

function getOutcomeHeader(r: ByteReader): { ok: false; code: ErrorCode; message: string } | undefined {
  header(r);
  if (getFlag(r)) return undefined;
  const code = getString(r);
  const message = getString(r);
  if (!Object.prototype.hasOwnProperty.call(ERROR_CODES, code)) r.fail(`unknown error code ${code.slice(0, 40)}`);
  return { ok: false, code: code as ErrorCode, message };
}

export function encodeWriteOutcome(o: KvOutcome<KvWriteResult>): Buffer {
  const w = new ByteWriter(16);
  if (putOutcomeHeader(w, o) && o.ok) {
    const v = o.value;
    w.byte(WRITE_OPS.indexOf(v.op));
    switch (v.op) {
      case 'set':
        w.byte(v.result.written ? 1 : 0);
        putOptBytes(w, v.result.previous);
        break;
      case 'setMany':
        w.byte(v.written ? 1 : 0);
        break;
      case 'delete':
      case 'clear':
        w.varint(v.deleted);
        break;
      case 'batch':
      case 'split':
        break;
      case 'update': {
        const u = v.result;
        putOptBytes(w, u.value);
        if (u.integer === undefined) w.byte(0);
        else {
          w.byte(1);
          putString(w, u.integer.toString());
        }
        putOptNumber(w, u.length);
        w.byte(u.applied === undefined ? 0 : u.applied ? 2 : 1);
        break;
      }
    }
  }
  return w.finish();
}

export function decodeWriteOutcome(data: Uint8Array): KvOutcome<KvWriteResult> {
  const r = new ByteReader(data, 0, data.length, FILE);
  const err = getOutcomeHeader(r);
  if (err !== undefined) {
    r.expectEnd('kv outcome');
    return err;
  }
  const op = getEnum(r, WRITE_OPS, 'write op');
  let value: KvWriteResult;
  switch (op) {
    case 'set':
      value = { op, result: { written: getFlag(r), previous: getOptBytes(r) } };
      break;
    case 'setMany':
      value = { op, written: getFlag(r) };
      break;
    case 'delete':
    case 'clear':
      value = { op, deleted: r.varint() };
      break;
    case 'batch':
    case 'split':
      value = { op };
      break;
    case 'update': {
      const result: KvUpdateResult = {};
      const v = getOptBytes(r);
      if (v !== undefined) result.value = v;
      if (getFlag(r)) {
        const text = getString(r);
        if (!/^-?\d{1,20}$/.test(text)) r.fail('integer result');
        result.integer = BigInt(text);
      }
      const len = getOptNumber(r);
      if (len !== undefined) result.length = len;
      const applied = r.byte();
      if (applied > 2) r.fail(`applied byte ${applied}`);
      if (applied !== 0) result.applied = applied === 2;
      value = { op, result };
      break;
    }
  }
  r.expectEnd('kv outcome');
  return { ok: true, value };
}

// ---- reads ----

export function encodeKvRead(q: KvRead): Buffer {
  const w = new ByteWriter(32);
  w.byte(KV_COMMAND_VERSION);
  w.byte(READ_OPS.indexOf(q.op));
  switch (q.op) {
    case 'get':
    case 'getEntry':
      putBytes(w, q.key);
      break;
    case 'getMany':
      w.varint(q.keys.length);
      for (const k of q.keys) putBytes(w, k);
      break;
    case 'scan': {
      const o = q.options;
      putOptBytes(w, o.prefix);
      putOptBytes(w, o.start);
      putOptBytes(w, o.end);
      putOptBytes(w, o.after);
      w.varint(o.limit);
      w.byte((o.reverse === true ? 1 : 0) | (o.keysOnly === true ? 2 : 0));
      break;
    }
    case 'keyspaceInfo':
      break;
  }
  return w.finish();
}

export function decodeKvRead(data: Uint8Array): KvRead {
  const r = new ByteReader(data, 0, data.length, FILE);
  header(r);
  const op = getEnum(r, READ_OPS, 'read op');
  let q: KvRead;
  switch (op) {
    case 'get':
    case 'getEntry':
      q = { op, key: getBytes(r) };
      break;
    case 'getMany': {
      const n = getCount(r, 'key');
      const keys: Uint8Array[] = [];
      for (let i = 0; i < n; i++) keys.push(getBytes(r));
      q = { op, keys };
      break;
    }
    case 'scan': {
      const options: KvScanOptions = { limit: 0 };
      const prefix = getOptBytes(r);
      const start = getOptBytes(r);
      const end = getOptBytes(r);
      const after = getOptBytes(r);
      if (prefix !== undefined) options.prefix = prefix;
      if (start !== undefined) options.start = start;
      if (end !== undefined) options.end = end;
      if (after !== undefined) options.after = after;
      options.limit = r.varint();
      const flags = r.byte();
      if (flags > 3) r.fail(`scan flags ${flags}`);
      if ((flags & 1) !== 0) options.reverse = true;
      if ((flags & 2) !== 0) options.keysOnly = true;
      q = { op, options };
      break;
    }
    case 'keyspaceInfo':
      q = { op };
      break;
  }
  r.expectEnd('kv read');
  return q;
}

export function encodeReadOutcome(o: KvOutcome<KvReadResult>): Buffer {
  const w = new ByteWriter(64);
  if (putOutcomeHeader(w, o) && o.ok) {
    const v = o.value;
    w.byte(READ_OPS.indexOf(v.op));
    switch (v.op) {
      case 'get':
        putOptBytes(w, v.value);
        break;
      case 'getEntry':
        putOptBytes(w, v.entry?.value);
        if (v.entry !== undefined) putOptNumber(w, v.entry.expireAtMs);
        break;
      case 'getMany':
        w.varint(v.values.length);
        for (const x of v.values) putOptBytes(w, x);
        break;
      case 'scan':
        w.varint(v.page.entries.length);
        for (const e of v.page.entries) {
          putBytes(w, e.key);
          putBytes(w, e.value);
          putOptNumber(w, e.expireAtMs);
        }
        putOptBytes(w, v.page.nextAfter);
        break;
      case 'keyspaceInfo':
        w.f64le(v.info.keys);
        w.f64le(v.info.expires);
        w.f64le(v.info.avgTtlMs);
        break;
    }
  }
  return w.finish();
}

export function decodeReadOutcome(data: Uint8Array): KvOutcome<KvReadResult> {
  const r = new ByteReader(data, 0, data.length, FILE);
  const err = getOutcomeHeader(r);
  if (err !== undefined) {
    r.expectEnd('kv outcome');
    return err;
  }
  const op = getEnum(r, READ_OPS, 'read op');
  let value: KvReadResult;
  switch (op) {
    case 'get':
      value = { op, value: getOptBytes(r) };
      break;
    case 'getEntry': {
      const v = getOptBytes(r);
      value = { op, entry: v === undefined ? undefined : { value: v, expireAtMs: getOptNumber(r) } };
      break;
    }
    case 'getMany': {
      const n = getCount(r, 'value');
      const values: Array<Buffer | undefined> = [];
      for (let i = 0; i < n; i++) values.push(getOptBytes(r));
      value = { op, values };
      break;
    }
    case 'scan': {
      const n = getCount(r, 'entry');
      const entries = [];
      for (let i = 0; i < n; i++) entries.push({ key: getBytes(r), value: getBytes(r), expireAtMs: getOptNumber(r) });
      value = { op, page: { entries, nextAfter: getOptBytes(r) } };
      break;
    }
    case 'keyspaceInfo':
      value = { op, info: { keys: getF64(r), expires: getF64(r), avgTtlMs: getF64(r) } };
      break;
  }
  r.expectEnd('kv outcome');
  return { ok: true, value };
}

/** The outcome of a failed operation (a StrataError keeps its code; anything else is UNAVAILABLE). */
export function failure(err: unknown): { ok: false; code: ErrorCode; message: string } {
  if (err instanceof StrataError) return { ok: false, code: err.code, message: err.message };
  return { ok: false, code: ERROR_CODES.UNAVAILABLE, message: err instanceof Error ? err.message : String(err) };
}

/** Unwraps an outcome: its value, or its error thrown as a StrataError with the same code. */
export function unwrap<T>(o: KvOutcome<T>): T {
  if (o.ok) return o.value;
  throw new StrataError(o.code, o.message);
}

/** Checks a scan limit the same way the local service does, before a page is split across shards. */
export function checkScanLimit(limit: number, max: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw invalidArgument(`scan limit must be an integer in [1, ${max}]`);
}
