import type { Metadata } from '@grpc/grpc-js';
import type { Authenticator, Principal } from '../auth.js';

/**
 * The principal a call acts as, from its `authorization` metadata (Bearer
 * or Basic, as over HTTP). Missing, malformed or wrong credentials throw
 * UNAUTHENTICATED.
 */
export function principalOf(metadata: Metadata, auth: Authenticator): Principal {
  const value = metadata.get('authorization')[0];
  return auth.principalOfAuthorization(typeof value === 'string' ? value : value === undefined ? undefined : '');
}
