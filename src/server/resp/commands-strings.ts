import type { KvSetOptions, KvSetResult, KvUpdateResult } from '../../base/index.js';
import { ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_SYNTAX, argIs, parseFloatArg, parseInt64, parseInteger } from './arguments.js';
import { defineCommand } from './command-spec.js';
import type { CommandSpec } from './command-spec.js';
import { optionExpireAtMs } from './expiry-args.js';
import type { ExpireOption } from './expiry-args.js';
import { ErrorReply, OK, SimpleReply } from './replies.js';
import type { Reply } from './replies.js';
import type { ClientSession } from './session.js';

/** Redis' words when a string would exceed proto-max-bulk-len; ours is limits.valueBytesMax. */
export const ERR_STRING_TOO_LONG = new ErrorReply('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
const TOO_LONG_WORDS = { LIMIT_EXCEEDED: ERR_STRING_TOO_LONG.text } as const;
const INT64_MIN = -9223372036854775808n;

function checkValue(s: ClientSession, value: Buffer): void {
  if (value.length > s.server.limits.valueBytesMax) throw ERR_STRING_TOO_LONG;
}

// Result mappers are module functions (no closure per command).
const writtenOk = (r: KvSetResult): Reply => (r.written ? OK : undefined);
const writtenInt = (r: KvSetResult): Reply => (r.written ? 1 : 0);
const previousValue = (r: KvSetResult): Reply => r.previous;
const updatedValue = (r: KvUpdateResult): Reply => r.value;
const updatedInteger = (r: KvUpdateResult): Reply => r.integer;
const updatedLength = (r: KvUpdateResult): Reply => r.length;
const okReply = (): Reply => OK;
const boolInt = (b: boolean): Reply => (b ? 1 : 0);
const lengthOf = (v: Buffer | undefined): Reply => (v === undefined ? 0 : v.length);
const TYPE_STRING = new SimpleReply('string');
const TYPE_NONE = new SimpleReply('none');
const typeOf = (v: Buffer | undefined): Reply => (v === undefined ? TYPE_NONE : TYPE_STRING);

function get(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.get(argv[1]!);
}

/**
 * SET key value [NX|XX|IFEQ comparison] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL],
 * parsed as Redis' parseExtendedStringArgumentsOrReply; IFEQ (Valkey 8.1)
 * writes only when the key holds exactly `comparison` (compare-and-set).
 */
function set(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  const key = argv[1]!;
  const value = argv[2]!;
  checkValue(s, value);
  if (argv.length === 3) return s.service.set(key, value).then(writtenOk);
  const options: KvSetOptions = {};
  let get = false;
  let expiry: ExpireOption | undefined;
  let expiryArg: Buffer | undefined;
  for (let j = 3; j < argv.length; j++) {
    const opt = argv[j]!;
    const hasNext = j + 1 < argv.length;
    if (argIs(opt, 'nx') && options.condition !== 'xx' && options.ifEquals === undefined) options.condition = 'nx';
    else if (argIs(opt, 'xx') && options.condition !== 'nx' && options.ifEquals === undefined) options.condition = 'xx';
    else if (argIs(opt, 'ifeq') && hasNext && options.condition === undefined && options.ifEquals === undefined) options.ifEquals = argv[++j]!;
    else if (argIs(opt, 'get')) get = true;
    else if (argIs(opt, 'keepttl') && expiry === undefined) options.keepTtl = true;
    else if (options.keepTtl !== true && hasNext && (expiry === undefined || argIs(opt, expiry))) {
      const which = argIs(opt, 'ex') ? 'ex' : argIs(opt, 'px') ? 'px' : argIs(opt, 'exat') ? 'exat' : argIs(opt, 'pxat') ? 'pxat' : undefined;
      if (which === undefined) throw ERR_SYNTAX;
      expiry = which;
      expiryArg = argv[++j]!;
    } else throw ERR_SYNTAX;
  }
  if (expiry !== undefined) options.expireAtMs = optionExpireAtMs(expiryArg!, expiry, s.service.nowMs(), 'set');
  if (get) {
    options.returnPrevious = true;
    return s.service.set(key, value, options).then(previousValue);
  }
  return s.service.set(key, value, options).then(writtenOk);
}

function setnx(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  checkValue(s, argv[2]!);
  return s.service.set(argv[1]!, argv[2]!, { condition: 'nx' }).then(writtenInt);
}

function setexGeneric(s: ClientSession, argv: Buffer[], option: ExpireOption, command: string): Promise<Reply> {
  checkValue(s, argv[3]!);
  const expireAtMs = optionExpireAtMs(argv[2]!, option, s.service.nowMs(), command);
  return s.service.set(argv[1]!, argv[3]!, { expireAtMs }).then(okReply);
}

function getset(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  checkValue(s, argv[2]!);
  return s.service.set(argv[1]!, argv[2]!, { returnPrevious: true }).then(previousValue);
}

function getdel(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.update(argv[1]!, { kind: 'getDel' }).then(updatedValue);
}

/** GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]. */
function getex(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  let expiry: ExpireOption | undefined;
  let expiryArg: Buffer | undefined;
  let persist = false;
  for (let j = 2; j < argv.length; j++) {
    const opt = argv[j]!;
    const hasNext = j + 1 < argv.length;
    if (argIs(opt, 'persist') && expiry === undefined) persist = true;
    else if (!persist && hasNext && (expiry === undefined || argIs(opt, expiry))) {
      const which = argIs(opt, 'ex') ? 'ex' : argIs(opt, 'px') ? 'px' : argIs(opt, 'exat') ? 'exat' : argIs(opt, 'pxat') ? 'pxat' : undefined;
      if (which === undefined) throw ERR_SYNTAX;
      expiry = which;
      expiryArg = argv[++j]!;
    } else throw ERR_SYNTAX;
  }
  if (expiry !== undefined) {
    const expireAtMs = optionExpireAtMs(expiryArg!, expiry, s.service.nowMs(), 'getex');
    return s.service.update(argv[1]!, { kind: 'getEx', expireAtMs }).then(updatedValue);
  }
  if (persist) return s.service.update(argv[1]!, { kind: 'getEx', persist: true }).then(updatedValue);
  return s.service.get(argv[1]!);
}

function mget(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.getMany(argv.slice(1));
}

function msetPairs(s: ClientSession, argv: Buffer[], command: string): Array<readonly [Buffer, Buffer]> {
  if (argv.length % 2 === 0) throw new ErrorReply(`ERR wrong number of arguments for '${command}' command`);
  const pairs: Array<readonly [Buffer, Buffer]> = [];
  for (let i = 1; i < argv.length; i += 2) {
    checkValue(s, argv[i + 1]!);
    pairs.push([argv[i]!, argv[i + 1]!]);
  }
  return pairs;
}

function mset(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.setMany(msetPairs(s, argv, 'mset')).then(okReply);
}

function msetnx(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.setMany(msetPairs(s, argv, 'msetnx'), { nx: true }).then(boolInt);
}

function append(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  checkValue(s, argv[2]!);
  return s.service.update(argv[1]!, { kind: 'append', data: argv[2]! }).then(updatedLength);
}

function strlen(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.get(argv[1]!).then(lengthOf);
}

function getrange(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  const start = parseInteger(argv[2]!);
  const end = parseInteger(argv[3]!);
  if (start === undefined || end === undefined) throw ERR_NOT_INTEGER;
  return s.service.get(argv[1]!).then((v) => substring(v, start, end));
}

const EMPTY = Buffer.alloc(0);

/** GETRANGE's index rules (negative from the end, clamped; an empty string when the range is empty). */
export function substring(v: Buffer | undefined, start: number, end: number): Buffer {
  if (v === undefined) return EMPTY;
  const len = v.length;
  if (start < 0 && end < 0 && start > end) return EMPTY;
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) return EMPTY;
  return v.subarray(start, end + 1);
}

function setrange(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  const offset = parseInteger(argv[2]!);
  if (offset === undefined) throw ERR_NOT_INTEGER;
  if (offset < 0) throw new ErrorReply('ERR offset is out of range');
  const data = argv[3]!;
  if (data.length > 0 && offset + data.length > s.server.limits.valueBytesMax) throw ERR_STRING_TOO_LONG;
  return s.service.update(argv[1]!, { kind: 'setRange', offset, data }).then(updatedLength);
}

function incrByGeneric(s: ClientSession, key: Buffer, by: bigint): Promise<Reply> {
  return s.service.update(key, { kind: 'incrBy', by }).then(updatedInteger);
}

function incrbyArg(arg: Buffer): bigint {
  const by = parseInt64(arg);
  if (by === undefined) throw ERR_NOT_INTEGER;
  return by;
}

function decrby(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  const by = incrbyArg(argv[2]!);
  if (by === INT64_MIN) throw new ErrorReply('ERR decrement would overflow');
  return incrByGeneric(s, argv[1]!, -by);
}

function incrbyfloat(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  const by = parseFloatArg(argv[2]!);
  if (by === undefined) throw ERR_NOT_FLOAT;
  if (!Number.isFinite(by)) throw new ErrorReply('ERR increment would produce NaN or Infinity');
  return s.service.update(argv[1]!, { kind: 'incrByFloat', by }).then(updatedValue);
}

function type(s: ClientSession, argv: Buffer[]): Promise<Reply> {
  return s.service.get(argv[1]!).then(typeOf);
}

const INCR_WORDS = { OVERFLOW: 'ERR increment or decrement would overflow' } as const;
const READ = ['@read', '@string', '@fast'] as const;
const WRITE = ['@write', '@string', '@slow'] as const;
const WRITE_FAST = ['@write', '@string', '@fast'] as const;

export const STRING_COMMANDS: readonly CommandSpec[] = [
  defineCommand({ name: 'get', arity: 2, flags: ['readonly', 'fast'], keys: [1, 1, 1], categories: READ, group: 'string', summary: 'Returns the string value of a key.', since: '1.0.0', access: 'read', coalesce: 'get', handler: get }),
  defineCommand({ name: 'set', arity: -3, flags: ['write', 'denyoom'], keys: [1, 1, 1], categories: WRITE, group: 'string', summary: 'Sets the string value of a key, ignoring its type. The key is created if it does not exist.', since: '1.0.0', access: 'write', errors: TOO_LONG_WORDS, coalesce: 'set', handler: set }),
  defineCommand({ name: 'setnx', arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Set the string value of a key only when the key does not exist.', since: '1.0.0', access: 'write', handler: setnx }),
  defineCommand({ name: 'setex', arity: 4, flags: ['write', 'denyoom'], keys: [1, 1, 1], categories: WRITE, group: 'string', summary: 'Sets the string value and expiration time of a key. Creates the key if it does not exist.', since: '2.0.0', access: 'write', handler: (s, a) => setexGeneric(s, a, 'ex', 'setex') }),
  defineCommand({ name: 'psetex', arity: 4, flags: ['write', 'denyoom'], keys: [1, 1, 1], categories: WRITE, group: 'string', summary: 'Sets both string value and expiration time in milliseconds of a key. The key is created if it does not exist.', since: '2.6.0', access: 'write', handler: (s, a) => setexGeneric(s, a, 'px', 'psetex') }),
  defineCommand({ name: 'getset', arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Returns the previous string value of a key after setting it to a new value.', since: '1.0.0', access: 'write', handler: getset }),
  defineCommand({ name: 'getdel', arity: 2, flags: ['write', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Returns the string value of a key after deleting the key.', since: '6.2.0', access: 'write', handler: getdel }),
  defineCommand({ name: 'getex', arity: -2, flags: ['write', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Returns the string value of a key after setting its expiration time.', since: '6.2.0', access: 'write', handler: getex }),
  defineCommand({ name: 'mget', arity: -2, flags: ['readonly', 'fast'], keys: [1, -1, 1], categories: READ, group: 'string', summary: 'Atomically returns the string values of one or more keys.', since: '1.0.0', access: 'read', handler: mget }),
  defineCommand({ name: 'mset', arity: -3, flags: ['write', 'denyoom'], keys: [1, -1, 2], categories: WRITE, group: 'string', summary: 'Atomically creates or modifies the string values of one or more keys.', since: '1.0.1', access: 'write', handler: mset }),
  defineCommand({ name: 'msetnx', arity: -3, flags: ['write', 'denyoom'], keys: [1, -1, 2], categories: WRITE, group: 'string', summary: 'Atomically modifies the string values of one or more keys only when all keys don\'t exist.', since: '1.0.1', access: 'write', handler: msetnx }),
  defineCommand({ name: 'append', arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Appends a string to the value of a key. Creates the key if it doesn\'t exist.', since: '2.0.0', access: 'write', errors: TOO_LONG_WORDS, handler: append }),
  defineCommand({ name: 'strlen', arity: 2, flags: ['readonly', 'fast'], keys: [1, 1, 1], categories: READ, group: 'string', summary: 'Returns the length of a string value.', since: '2.2.0', access: 'read', handler: strlen }),
  defineCommand({ name: 'getrange', arity: 4, flags: ['readonly'], keys: [1, 1, 1], categories: ['@read', '@string', '@slow'], group: 'string', summary: 'Returns a substring of the string stored at a key.', since: '2.4.0', access: 'read', handler: getrange }),
  defineCommand({ name: 'substr', arity: 4, flags: ['readonly'], keys: [1, 1, 1], categories: ['@read', '@string', '@slow'], group: 'string', summary: 'Returns a substring from a string value.', since: '1.0.0', access: 'read', handler: getrange }),
  defineCommand({ name: 'setrange', arity: 4, flags: ['write', 'denyoom'], keys: [1, 1, 1], categories: WRITE, group: 'string', summary: 'Overwrites a part of a string value with another by an offset. Creates the key if it doesn\'t exist.', since: '2.2.0', access: 'write', errors: TOO_LONG_WORDS, handler: setrange }),
  defineCommand({ name: 'incr', arity: 2, flags: ['write', 'denyoom', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Increments the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.', since: '1.0.0', access: 'write', errors: INCR_WORDS, handler: (s, a) => incrByGeneric(s, a[1]!, 1n) }),
  defineCommand({ name: 'decr', arity: 2, flags: ['write', 'denyoom', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.', since: '1.0.0', access: 'write', errors: INCR_WORDS, handler: (s, a) => incrByGeneric(s, a[1]!, -1n) }),
  defineCommand({ name: 'incrby', arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.', since: '1.0.0', access: 'write', errors: INCR_WORDS, handler: (s, a) => incrByGeneric(s, a[1]!, incrbyArg(a[2]!)) }),
  defineCommand({ name: 'decrby', arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn\'t exist.', since: '1.0.0', access: 'write', errors: INCR_WORDS, handler: decrby }),
  defineCommand({ name: 'incrbyfloat', arity: 3, flags: ['write', 'denyoom', 'fast'], keys: [1, 1, 1], categories: WRITE_FAST, group: 'string', summary: 'Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.', since: '2.6.0', access: 'write', errors: { OVERFLOW: 'ERR increment would produce NaN or Infinity', LIMIT_EXCEEDED: ERR_STRING_TOO_LONG.text }, handler: incrbyfloat }),
  defineCommand({ name: 'type', arity: 2, flags: ['readonly', 'fast'], keys: [1, 1, 1], categories: ['@keyspace', '@read', '@fast'], group: 'generic', summary: 'Determines the type of value stored at a key.', since: '1.0.0', access: 'read', handler: type }),
];
