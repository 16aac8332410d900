import type { Metadata } from '@grpc/grpc-js';
import { ERROR_CODES, StrataError } from '../../base/index.js';
import { ANONYMOUS_ADMIN } from '../auth.js';
import type { Authenticator, Principal } from '../auth.js';

/** The longest `authorization` metadata value looked at (a token or basic credentials are far shorter). */
const AUTHORIZATION_CHARS_MAX = 4096;

/**
 * The principal a call acts as, from its `authorization` metadata:
 * `Bearer <api token>` or `Basic base64(user:password)`. Without users
 * configured every call is ANONYMOUS_ADMIN. Missing, malformed or wrong
 * credentials throw UNAUTHENTICATED.
 */
export function principalOf(metadata: Metadata, auth: Authenticator): Principal {
  if (!auth.required) return ANONYMOUS_ADMIN;
  const values = metadata.get('authorization');
  const header = values[0];
  if (header === undefined) throw unauthenticated('missing authorization metadata (Bearer <token> or Basic <base64 user:password>)');
  if (typeof header !== 'string' || header.length > AUTHORIZATION_CHARS_MAX) throw unauthenticated('malformed authorization metadata');
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  const rest = space < 0 ? '' : header.slice(space + 1).trim();
  let principal: Principal | undefined;
  switch (scheme.toLowerCase()) {
    case 'bearer':
      principal = rest === '' ? undefined : auth.verifyToken(rest);
      break;
    case 'basic': {
      const decoded = Buffer.from(rest, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      principal = colon < 0 ? undefined : auth.verify(decoded.slice(0, colon), decoded.slice(colon + 1));
      break;
    }
    default:
      throw unauthenticated(`unsupported authorization scheme '${scheme.slice(0, 32)}' (use Bearer or Basic)`);
  }
  if (principal === undefined) throw unauthenticated('invalid credentials');
  return principal;
}

function unauthenticated(message: string): StrataError {
  return new StrataError(ERROR_CODES.UNAUTHENTICATED, message);
}
