import { ERROR_CODES, StrataError } from '../../base/index.js';
import { ANONYMOUS_ADMIN } from '../auth.js';
import type { Authenticator, Principal } from '../auth.js';

/** The challenge sent with every 401: either scheme works. */
export const WWW_AUTHENTICATE = 'Basic realm="strata", charset="UTF-8", Bearer realm="strata"';

/** Longest Authorization header we look at; real ones are far shorter. */
const AUTHORIZATION_CHARS_MAX = 4096;

function unauthenticated(message: string): StrataError {
  return new StrataError(ERROR_CODES.UNAUTHENTICATED, message);
}

/**
 * The principal an `Authorization` header names: `Bearer <token>` (an API
 * token) or `Basic base64(user:password)`. Without users configured every
 * client is the anonymous admin. Missing, malformed or wrong credentials are
 * all UNAUTHENTICATED (HTTP 401 with a challenge): the client must present
 * valid credentials, which is what 401 means. PERMISSION_DENIED (403) is
 * kept for a known user whose role does not allow the request.
 */
export function principalOf(auth: Authenticator, header: string | undefined): Principal {
  if (!auth.required) return ANONYMOUS_ADMIN;
  if (header === undefined || header.length === 0) throw unauthenticated('authentication required: send Authorization: Bearer <token> or Basic <base64(user:password)>');
  if (header.length > AUTHORIZATION_CHARS_MAX) throw unauthenticated('Authorization header too long');
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const credentials = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer') {
    if (credentials.length === 0) throw unauthenticated('empty bearer token');
    const principal = auth.verifyToken(credentials);
    if (principal === undefined) throw unauthenticated('invalid token');
    return principal;
  }
  if (scheme === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw unauthenticated('malformed Basic credentials (expected base64 of user:password)');
    const principal = auth.verify(decoded.slice(0, colon), decoded.slice(colon + 1));
    if (principal === undefined) throw unauthenticated('invalid user name or password');
    return principal;
  }
  throw unauthenticated('unsupported authorization scheme (use Bearer or Basic)');
}
