import type { KvEntry, KvScanOptions, KvUpdateResult } from '../../base/index.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, argIs, argText, parseInteger } from './arguments.js';
import { defineCommand } from './command-spec.js';
import type { CommandSpec } from './command-spec.js';
import { expireCommandAtMs } from './expiry-args.js';
import { globLiteralPrefix, globMatch, isMatchAll } from './glob.js';
import { ErrorReply, OK } from './replies.js';
import type { Reply } from './replies.js';
import { parseCursor } from './scan-cursors.js';
import type { ClientSession } from './session.js';

const ERR_INVALID_CURSOR = new ErrorReply('ERR invalid cursor');
const appliedInt = (r: KvUpdateResult): Reply => (r.applied === true ? 1 : 0);
const okReply = (): Reply => OK;
const countDefined = (values: Array<Buffer | undefined>): Reply => {
  let n = 0;
  for (const v of values) if (v !== undefined) n++;
  return n;
};

function del(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.delete(argv.slice(1));
}

/** EXISTS counts a key once per time it is named, as Redis does. */
function exists(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.getMany(argv.slice(1)).then(countDefined);
}

type ExpireCondition = 'nx' | 'xx' | 'gt' | 'lt';

/**
 * EXPIRE key n [NX|XX|GT|LT ...] and friends. Redis accepts XX together
 * with GT or LT; XX+GT is the same as GT (no expiry never counts as
 * earlier), XX+LT needs an expiry to exist first.
 */
function expireGeneric(s: ClientSession, argv: Buffer[], seconds: boolean, absolute: boolean, command: string): Promise<Reply> {
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  for (let j = 3; j < argv.length; j++) {
    const opt = argv[j]!;
    if (argIs(opt, 'nx')) nx = true;
    else if (argIs(opt, 'xx')) xx = true;
    else if (argIs(opt, 'gt')) gt = true;
    else if (argIs(opt, 'lt')) lt = true;
    else throw new ErrorReply(`ERR Unsupported option ${argText(opt)}`);
  }
  if (nx && (xx || gt || lt)) throw new ErrorReply('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) throw new ErrorReply('ERR GT and LT options at the same time are not compatible');
  const expireAtMs = expireCommandAtMs(argv[2]!, seconds, absolute ? 0 : s.service.nowMs(), command);
  const condition: ExpireCondition | undefined = nx ? 'nx' : gt ? 'gt' : lt ? 'lt' : xx ? 'xx' : undefined;
  const key = argv[1]!;
  if (xx && lt) {
    // Two steps: only with an expiry, then LT. A concurrent PERSIST in between is the only race, and it leaves a valid state.
    return s.service.getEntry(key).then((e) => (e === undefined || e.expireAtMs === undefined ? 0 : s.service.update(key, { kind: 'expire', expireAtMs, condition: 'lt' }).then(appliedInt)));
  }
  return s.service.update(key, condition === undefined ? { kind: 'expire', expireAtMs } : { kind: 'expire', expireAtMs, condition }).then(appliedInt);
}

function ttlGeneric(s: ClientSession, argv: Buffer[], ms: boolean): Promise<Reply> {
  return s.service.getEntry(argv[1]!).then((e) => ttlOf(e, s.service.nowMs(), ms));
}

/** TTL/PTTL: -2 absent, -1 without expiry, else the time left (TTL rounds to the nearest second, as Redis does). */
export function ttlOf(e: KvEntry | undefined, nowMs: number, ms: boolean): number {
  if (e === undefined) return -2;
  if (e.expireAtMs === undefined) return -1;
  const left = Math.max(0, e.expireAtMs - nowMs);
  return ms ? left : Math.floor((left + 500) / 1000);
}

function expireTimeGeneric(s: ClientSession, argv: Buffer[], ms: boolean): Promise<Reply> {
  return s.service.getEntry(argv[1]!).then((e) => (e === undefined ? -2 : e.expireAtMs === undefined ? -1 : ms ? e.expireAtMs : Math.floor(e.expireAtMs / 1000)));
}

function persist(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.update(argv[1]!, { kind: 'persist' }).then(appliedInt);
}

/** KEYS pattern: every matching key, read in pages (narrowed to the pattern's literal prefix). */
async function keys(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  const pattern = argv[1]!;
  const all = isMatchAll(pattern);
  const prefix = globLiteralPrefix(pattern);
  const out: Buffer[] = [];
  const options: KvScanOptions = { limit: s.limits.scanLimitMax, keysOnly: true };
  if (prefix.length > 0) options.prefix = prefix;
  for (;;) {
    const page = await s.service.scan(options);
    for (const e of page.entries) if (all || globMatch(pattern, e.key)) out.push(e.key);
    if (page.nextAfter === undefined) return out;
    options.after = page.nextAfter;
  }
}

/**
 * SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. One service page per
 * call (COUNT entries, default 10, at most limits.scanLimitMax); the
 * returned cursor maps to the page's last key in the server's cursor table.
 */
async function scan(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  const cursor = parseCursor(argv[1]!);
  if (cursor === undefined) throw ERR_INVALID_CURSOR;
  let count = 10;
  let pattern: Buffer | undefined;
  let stringsOnly = true;
  for (let i = 2; i < argv.length; i += 2) {
    const opt = argv[i]!;
    if (i + 1 >= argv.length) throw ERR_SYNTAX;
    const value = argv[i + 1]!;
    if (argIs(opt, 'count')) {
      const n = parseInteger(value);
      if (n === undefined) throw ERR_NOT_INTEGER;
      if (n < 1) throw ERR_SYNTAX;
      count = n;
    } else if (argIs(opt, 'match')) {
      pattern = isMatchAll(value) ? undefined : value;
    } else if (argIs(opt, 'type')) {
      stringsOnly = argIs(value, 'string');
    } else {
      throw ERR_SYNTAX;
    }
  }
  const options: KvScanOptions = { limit: Math.min(count, s.limits.scanLimitMax), keysOnly: true };
  if (cursor !== 0) {
    const after = s.server.cursors.lookup(cursor);
    if (after === undefined) throw ERR_INVALID_CURSOR;
    options.after = after;
  }
  if (pattern !== undefined) {
    const prefix = globLiteralPrefix(pattern);
    if (prefix.length > 0) options.prefix = prefix;
  }
  const page = await s.service.scan(options);
  const keys: Buffer[] = [];
  if (stringsOnly) for (const e of page.entries) if (pattern === undefined || globMatch(pattern, e.key)) keys.push(e.key);
  const next = page.nextAfter === undefined ? 0 : s.server.cursors.issue(page.nextAfter);
  return [String(next), keys];
}

function flush(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  if (argv.length > 2 || (argv.length === 2 && !argIs(argv[1]!, 'async') && !argIs(argv[1]!, 'sync'))) throw ERR_SYNTAX;
  return s.service.clear().then(okReply);
}

function dbsize(s: ClientSession): Promise<Reply> {
  return s.service.count();
}

const KEYSPACE_WRITE = ['@keyspace', '@write', '@fast'] as const;
const KEYSPACE_READ = ['@keyspace', '@read', '@fast'] as const;

export const KEY_COMMANDS: readonly CommandSpec[] = [
  defineCommand({ name: 'del', arity: -2, flags: ['write'], keys: [1, -1, 1], categories: ['@keyspace', '@write', '@slow'], group: 'generic', summary: 'Deletes one or more keys.', since: '1.0.0', access: 'write', handler: del }),
  defineCommand({ name: 'unlink', arity: -2, flags: ['write', 'fast'], keys: [1, -1, 1], categories: KEYSPACE_WRITE, group: 'generic', summary: 'Asynchronously deletes one or more keys.', since: '4.0.0', access: 'write', handler: del }),
  defineCommand({ name: 'exists', arity: -2, flags: ['readonly', 'fast'], keys: [1, -1, 1], categories: KEYSPACE_READ, group: 'generic', summary: 'Determines whether one or more keys exist.', since: '1.0.0', access: 'read', handler: exists }),
  defineCommand({ name: 'expire', arity: -3, flags: ['write', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_WRITE, group: 'generic', summary: 'Sets the expiration time of a key in seconds.', since: '1.0.0', access: 'write', handler: (s, a) => expireGeneric(s, a, true, false, 'expire') }),
  defineCommand({ name: 'pexpire', arity: -3, flags: ['write', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_WRITE, group: 'generic', summary: 'Sets the expiration time of a key in milliseconds.', since: '2.6.0', access: 'write', handler: (s, a) => expireGeneric(s, a, false, false, 'pexpire') }),
  defineCommand({ name: 'expireat', arity: -3, flags: ['write', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_WRITE, group: 'generic', summary: 'Sets the expiration time of a key to a Unix timestamp.', since: '1.2.0', access: 'write', handler: (s, a) => expireGeneric(s, a, true, true, 'expireat') }),
  defineCommand({ name: 'pexpireat', arity: -3, flags: ['write', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_WRITE, group: 'generic', summary: 'Sets the expiration time of a key to a Unix milliseconds timestamp.', since: '2.6.0', access: 'write', handler: (s, a) => expireGeneric(s, a, false, true, 'pexpireat') }),
  defineCommand({ name: 'ttl', arity: 2, flags: ['readonly', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_READ, group: 'generic', summary: 'Returns the expiration time in seconds of a key.', since: '1.0.0', access: 'read', handler: (s, a) => ttlGeneric(s, a, false) }),
  defineCommand({ name: 'pttl', arity: 2, flags: ['readonly', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_READ, group: 'generic', summary: 'Returns the expiration time in milliseconds of a key.', since: '2.6.0', access: 'read', handler: (s, a) => ttlGeneric(s, a, true) }),
  defineCommand({ name: 'expiretime', arity: 2, flags: ['readonly', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_READ, group: 'generic', summary: 'Returns the expiration time of a key as a Unix timestamp.', since: '7.0.0', access: 'read', handler: (s, a) => expireTimeGeneric(s, a, false) }),
  defineCommand({ name: 'pexpiretime', arity: 2, flags: ['readonly', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_READ, group: 'generic', summary: 'Returns the expiration time of a key as a Unix milliseconds timestamp.', since: '7.0.0', access: 'read', handler: (s, a) => expireTimeGeneric(s, a, true) }),
  defineCommand({ name: 'persist', arity: 2, flags: ['write', 'fast'], keys: [1, 1, 1], categories: KEYSPACE_WRITE, group: 'generic', summary: 'Removes the expiration time of a key.', since: '2.2.0', access: 'write', handler: persist }),
  defineCommand({ name: 'keys', arity: 2, flags: ['readonly'], categories: ['@keyspace', '@read', '@slow', '@dangerous'], group: 'generic', summary: 'Returns all key names that match a pattern.', since: '1.0.0', access: 'barrier', handler: keys }),
  defineCommand({ name: 'scan', arity: -2, flags: ['readonly'], categories: ['@keyspace', '@read', '@slow'], group: 'generic', summary: 'Iterates over the key names in the database.', since: '2.8.0', access: 'barrier', handler: scan }),
  defineCommand({ name: 'flushdb', arity: -1, flags: ['write'], categories: ['@keyspace', '@write', '@slow', '@dangerous'], group: 'server', summary: 'Remove all keys from the current database.', since: '1.0.0', access: 'barrier', handler: flush }),
  defineCommand({ name: 'flushall', arity: -1, flags: ['write'], categories: ['@keyspace', '@write', '@slow', '@dangerous'], group: 'server', summary: 'Removes all keys from all databases.', since: '1.0.0', access: 'barrier', handler: flush }),
  defineCommand({ name: 'dbsize', arity: 1, flags: ['readonly', 'fast'], categories: KEYSPACE_READ, group: 'server', summary: 'Returns the number of keys in the database.', since: '1.0.0', access: 'barrier', handler: dbsize }),
];
