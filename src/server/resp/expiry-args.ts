import { ERR_NOT_INTEGER, parseInt64 } from './arguments.js';
import { ErrorReply } from './replies.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** The `EX`/`PX`/`EXAT`/`PXAT` options of SET and GETEX (and SETEX/PSETEX). */
export type ExpireOption = 'ex' | 'px' | 'exat' | 'pxat';

export function invalidExpireTime(command: string): ErrorReply {
  return new ErrorReply(`ERR invalid expire time in '${command}' command`);
}

/**
 * The absolute expiry (ms since the epoch) an option's argument means, with
 * Redis' checks: an integer (else "value is not an integer or out of
 * range"), greater than 0, and no int64 overflow once converted to
 * milliseconds and made absolute (else "invalid expire time in '<cmd>'
 * command"). Throws the ErrorReply.
 */
export function optionExpireAtMs(arg: Uint8Array, option: ExpireOption, nowMs: number, command: string): number {
  const v = parseInt64(arg);
  if (v === undefined) throw ERR_NOT_INTEGER;
  if (v <= 0n) throw invalidExpireTime(command);
  let ms = v;
  if (option === 'ex' || option === 'exat') {
    if (v > INT64_MAX / 1000n) throw invalidExpireTime(command);
    ms = v * 1000n;
  }
  if (option === 'ex' || option === 'px') {
    const now = BigInt(nowMs);
    if (ms > INT64_MAX - now) throw invalidExpireTime(command);
    ms += now;
  }
  return Number(ms);
}

/**
 * The absolute expiry of EXPIRE/PEXPIRE (relative to `baseMs`, the current
 * time) or EXPIREAT/PEXPIREAT (`baseMs` 0). Any integer is allowed; a time
 * not after now deletes the key. Overflow is "invalid expire time".
 */
export function expireCommandAtMs(arg: Uint8Array, seconds: boolean, baseMs: number, command: string): number {
  const v = parseInt64(arg);
  if (v === undefined) throw ERR_NOT_INTEGER;
  let ms = v;
  if (seconds) {
    if (v > INT64_MAX / 1000n || v < INT64_MIN / 1000n) throw invalidExpireTime(command);
    ms = v * 1000n;
  }
  const base = BigInt(baseMs);
  if (ms > INT64_MAX - base) throw invalidExpireTime(command);
  return Number(ms + base);
}
