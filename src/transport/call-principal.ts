import type { Metadata } from '@grpc/grpc-js';

/**
 * Who a client call is from, as the authentication interceptor (client-auth.ts) hands it to
 * the handlers: in the call's metadata under a key of ours, set only by the interceptor (it
 * replaces whatever a client sent under that key). Percent-encoded, since metadata values
 * are ASCII and a user name need not be.
 */
const PRINCIPAL_METADATA_KEY = 'quorumlog-principal';

export function setPrincipal(metadata: Metadata, principal: string): void {
  metadata.set(PRINCIPAL_METADATA_KEY, encodeURIComponent(principal));
}

/**
 * The authenticated principal of a call, or null when none was set. Trust it only where the
 * interceptor runs (a node that authenticates clients): elsewhere a client could have sent it.
 */
export function principalOf(metadata: Metadata): string | null {
  const value = metadata.get(PRINCIPAL_METADATA_KEY)[0];
  if (typeof value !== 'string') return null;
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}
