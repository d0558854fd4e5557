/** The metadata key a client's password travels in, as HTTP's: `Basic base64(user:password)`. */
export const AUTHORIZATION_METADATA_KEY = 'authorization';

/** `authorization` metadata for a user and password (what parseBasic reads back). */
export function basicAuthorization(user: string, password: string): string {
  if (user === '' || user.includes(':')) throw new RangeError(`user ${JSON.stringify(user)} cannot travel in basic authorization (empty, or holds ':')`);
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** The user and password of `Basic base64(user:password)`, or null when the value is not that. */
export function parseBasic(header: string): { readonly user: string; readonly password: string } | null {
  const match = /^Basic ([A-Za-z0-9+/]+={0,2})$/.exec(header.trim());
  if (match === null) return null;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
