import { ERROR_CODES, StrataError, invalidArgument } from '../../base/index.js';
import { percentDecode } from './percent-encoding.js';

/** Query parameters one request may carry; a bound on the work a query string can cause. */
export const QUERY_PARAMS_MAX = 32;

/**
 * A query string decoded to bytes (byte-level percent-decoding, `+` is a
 * space), with typed getters that throw INVALID_ARGUMENT naming the
 * parameter. Unknown and repeated parameters are errors, so a typo
 * (`ttl=` for `ttl_ms=`) is reported rather than ignored.
 */
export class QueryParams {
  private readonly values = new Map<string, Buffer>();

  constructor(query: string, allowed: readonly string[]) {
    if (query.length === 0) return;
    const parts = query.split('&');
    if (parts.length > QUERY_PARAMS_MAX) throw invalidArgument(`too many query parameters (at most ${QUERY_PARAMS_MAX})`);
    for (const part of parts) {
      if (part.length === 0) continue;
      const eq = part.indexOf('=');
      const rawName = eq < 0 ? part : part.slice(0, eq);
      const nameBytes = percentDecode(rawName, true);
      const value = percentDecode(eq < 0 ? '' : part.slice(eq + 1), true);
      if (nameBytes === undefined || value === undefined) {
        throw new StrataError(ERROR_CODES.PROTOCOL, 'malformed percent-encoding in the query string');
      }
      const name = nameBytes.toString('latin1');
      if (!allowed.includes(name)) {
        const list = allowed.length === 0 ? 'none' : allowed.join(', ');
        throw invalidArgument(`unknown query parameter '${printable(name)}' (allowed: ${list})`);
      }
      if (this.values.has(name)) throw invalidArgument(`query parameter '${name}' given more than once`);
      this.values.set(name, value);
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  bytes(name: string): Buffer | undefined {
    return this.values.get(name);
  }

  text(name: string): string | undefined {
    return this.values.get(name)?.toString('utf8');
  }

  /** One of `choices`, or undefined when absent. */
  choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    const hit = choices.find((c) => c === v);
    if (hit === undefined) throw invalidArgument(`query parameter '${name}' must be one of ${choices.join(', ')}`);
    return hit;
  }

  /** An integer in [min, max], or undefined when absent. */
  integer(name: string, min: number, max: number): number | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    const n = /^[0-9]{1,16}$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw invalidArgument(`query parameter '${name}' must be an integer from ${min} to ${max}`);
    return n;
  }

  /** `true`, `1` or an empty value are true; `false` and `0` are false; absent is `fallback`. */
  flag(name: string, fallback: boolean): boolean {
    const v = this.text(name);
    if (v === undefined) return fallback;
    if (v === '' || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw invalidArgument(`query parameter '${name}' must be true or false`);
  }
}

/** A name fit for an error message: control and non-ASCII characters escaped, at most 64 characters. */
function printable(s: string): string {
  const cut = s.length > 64 ? `${s.slice(0, 64)}...` : s;
  return JSON.stringify(cut).slice(1, -1);
}
