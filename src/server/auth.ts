import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { ERROR_CODES, StrataError } from '../base/index.js';

/**
 * Users and roles shared by the three front ends. Passwords are stored only
 * as scrypt hashes (`strata hash-password` prints one):
 *   scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>
 */
export type Role = 'read-only' | 'read-write';

export interface UserConfig {
  name: string;
  /** An scrypt hash in the format above; never a plain password. */
  passwordHash: string;
  role: Role;
  /**
   * SHA-256 hex digests of API tokens for HTTP `Authorization: Bearer` and
   * gRPC metadata (`strata new-token` prints a token and its digest). Tokens
   * are random 32-byte strings, so a fast hash is enough.
   */
  tokenHashes?: string[];
}

export interface Principal {
  user: string;
  role: Role;
}

/** Anyone on a server without users configured (allowed only on loopback or with --insecure). */
export const ANONYMOUS_ADMIN: Principal = Object.freeze({ user: 'default', role: 'read-write' });

/** Longest authorization value looked at; real ones are far shorter. */
const AUTHORIZATION_CHARS_MAX = 4096;

function unauthenticated(message: string): StrataError {
  return new StrataError(ERROR_CODES.UNAUTHENTICATED, message);
}

const SCRYPT_N = 16384;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const HASH_BYTES = 32;

/** A new random API token and the digest to put in the config's tokenHashes. */
export function newToken(): { token: string; tokenHash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, tokenHash: createHash('sha256').update(token).digest('hex') };
}

export function hashPassword(password: string, salt: Buffer = randomBytes(16)): string {
  const hash = scryptSync(password, salt, HASH_BYTES, { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface ParsedHash {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** Parses a stored hash; throws CONFIG naming what is wrong. */
export function parsePasswordHash(text: string, where: string): ParsedHash {
  const parts = text.split('$');
  const bad = (why: string) => new StrataError(ERROR_CODES.CONFIG, `${where}: ${why} (expected scrypt$N$r$p$salt$hash; run 'strata hash-password')`);
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw bad('not an scrypt password hash');
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!Number.isInteger(n) || n < 1024 || n > 1 << 20 || (n & (n - 1)) !== 0) throw bad('N must be a power of two between 1024 and 1048576');
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) throw bad('r or p out of range');
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16) throw bad('salt or hash too short');
  return { n, r, p, salt, hash };
}

/**
 * Checks user names and passwords. scrypt is deliberately slow, so a
 * successful check is remembered (keyed by a SHA-256 of user and password,
 * never the password itself) and HTTP requests carrying the same basic
 * credentials do not pay it again.
 */
export class Authenticator {
  private readonly users = new Map<string, { role: Role; parsed: ParsedHash }>();
  private readonly verified = new Map<string, Principal>();
  private readonly tokens = new Map<string, Principal>();
  private static readonly VERIFIED_MAX = 1024;

  constructor(users: readonly UserConfig[]) {
    users.forEach((u, i) => {
      if (this.users.has(u.name)) throw new StrataError(ERROR_CODES.CONFIG, `security.users[${i}].name: duplicate user '${u.name}'`);
      this.users.set(u.name, { role: u.role, parsed: parsePasswordHash(u.passwordHash, `security.users[${i}].passwordHash`) });
      (u.tokenHashes ?? []).forEach((h, j) => {
        if (!/^[0-9a-f]{64}$/.test(h)) throw new StrataError(ERROR_CODES.CONFIG, `security.users[${i}].tokenHashes[${j}]: not a SHA-256 hex digest (run 'strata new-token')`);
        this.tokens.set(h, Object.freeze({ user: u.name, role: u.role }));
      });
    });
  }

  /** True when users are configured: every client must authenticate. */
  get required(): boolean {
    return this.users.size > 0;
  }

  /** The principal, or undefined for a wrong user or password. */
  verify(user: string, password: string): Principal | undefined {
    const u = this.users.get(user);
    if (u === undefined) return undefined;
    const memo = createHash('sha256').update(user).update('\0').update(password).digest('base64');
    const hit = this.verified.get(memo);
    if (hit !== undefined) return hit;
    const { n, r, p, salt, hash } = u.parsed;
    const got = scryptSync(password, salt, hash.length, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 });
    if (!timingSafeEqual(got, hash)) return undefined;
    const principal = Object.freeze({ user, role: u.role });
    if (this.verified.size >= Authenticator.VERIFIED_MAX) this.verified.clear();
    this.verified.set(memo, principal);
    return principal;
  }

  /** The principal owning an API token, or undefined. */
  verifyToken(token: string): Principal | undefined {
    return this.tokens.get(createHash('sha256').update(token).digest('hex'));
  }

  /**
   * The principal an HTTP `Authorization` header or gRPC `authorization`
   * metadata value names: `Bearer <api token>` or `Basic base64(user:password)`.
   * Without users configured every client is ANONYMOUS_ADMIN. Missing,
   * malformed or wrong credentials are UNAUTHENTICATED; PERMISSION_DENIED is
   * kept for a known user whose role does not allow the request.
   */
  principalOfAuthorization(header: string | undefined): Principal {
    if (!this.required) return ANONYMOUS_ADMIN;
    if (header === undefined || header.length === 0) throw unauthenticated('authentication required: send Authorization: Bearer <token> or Basic <base64(user:password)>');
    if (header.length > AUTHORIZATION_CHARS_MAX) throw unauthenticated('authorization value too long');
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const credentials = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'bearer') {
      if (credentials.length === 0) throw unauthenticated('empty bearer token');
      const principal = this.verifyToken(credentials);
      if (principal === undefined) throw unauthenticated('invalid token');
      return principal;
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw unauthenticated('malformed Basic credentials (expected base64 of user:password)');
      const principal = this.verify(decoded.slice(0, colon), decoded.slice(colon + 1));
      if (principal === undefined) throw unauthenticated('invalid user name or password');
      return principal;
    }
    throw unauthenticated('unsupported authorization scheme (use Bearer or Basic)');
  }

  /** Throws PERMISSION_DENIED unless the principal may write. */
  static checkWrite(principal: Principal): void {
    if (principal.role !== 'read-write') {
      throw new StrataError(ERROR_CODES.PERMISSION_DENIED, `user '${principal.user}' has role ${principal.role} and may not write`);
    }
  }
}
