import * as fs from 'node:fs';
import * as path from 'node:path';

import { createAuthority, importAuthority, issue, issueDevelopmentCertificates, type Authority, type DevelopmentCertificates } from '../../src/certs/index.js';
import { CertificateName, type TlsMaterial } from '../../src/transport/index.js';

export { createAuthority, issue, issueDevelopmentCertificates };

const HOUR_MS = 60 * 60 * 1000;

/** The development set for `members` on the loopback hosts, valid from an hour ago for a day. */
export function loopbackCertificates(members: readonly string[], clients: readonly string[] = ['client']): Promise<DevelopmentCertificates> {
  return issueDevelopmentCertificates({ members, clients, hosts: ['localhost', '127.0.0.1', '::1'], validDays: 1 });
}

/** What a member presents, as the transport takes it. */
export function memberMaterial(set: DevelopmentCertificates, id: string): TlsMaterial {
  const pair = set.members.get(id);
  if (pair === undefined) throw new Error(`no certificate for ${id}`);
  return { ca: Buffer.from(set.ca.cert), cert: Buffer.from(pair.cert), key: Buffer.from(pair.key) };
}

/**
 * A certificate for member `id` signed by a CA of its own (not the cluster's), or by the
 * cluster's CA but for other hosts, or valid only in the past or the future.
 */
export async function oddMemberMaterial(
  set: DevelopmentCertificates,
  id: string,
  odd: 'wrong-ca' | 'wrong-host' | 'expired' | 'not-yet-valid',
): Promise<TlsMaterial> {
  const now = Date.now();
  const names = (hosts: readonly string[]) => [...hosts.map((h) => ({ type: /^[0-9.]+$|:/.test(h) ? ('ip' as const) : ('dns' as const), value: h })), { type: 'url' as const, value: `${CertificateName.memberPrefix}${id}` }];
  if (odd === 'wrong-ca') {
    const other = await createAuthority(new Date(now - HOUR_MS), new Date(now + 24 * HOUR_MS), 'another CA');
    const pair = await issue(other, { commonName: id, names: names(['localhost', '127.0.0.1']), server: true, notBefore: new Date(now - HOUR_MS), notAfter: new Date(now + 24 * HOUR_MS) });
    return { ca: Buffer.from(set.ca.cert), cert: Buffer.from(pair.cert), key: Buffer.from(pair.key) };
  }
  // Re-issue under the cluster CA: DevelopmentCertificates keeps the CA key for this.
  const authority = await authorityOf(set);
  const [notBefore, notAfter] =
    odd === 'expired' ? [new Date(now - 48 * HOUR_MS), new Date(now - 24 * HOUR_MS)] : odd === 'not-yet-valid' ? [new Date(now + 24 * HOUR_MS), new Date(now + 48 * HOUR_MS)] : [new Date(now - HOUR_MS), new Date(now + 24 * HOUR_MS)];
  const hosts = odd === 'wrong-host' ? ['elsewhere.invalid'] : ['localhost', '127.0.0.1'];
  const pair = await issue(authority, { commonName: id, names: names(hosts), server: true, notBefore, notAfter });
  return { ca: Buffer.from(set.ca.cert), cert: Buffer.from(pair.cert), key: Buffer.from(pair.key) };
}

function authorityOf(set: DevelopmentCertificates): Promise<Authority> {
  return importAuthority(set.ca);
}

/** Writes the set as quorumlog certs init does (DIR/ca.pem, DIR/ID.pem, DIR/ID-key.pem, ...). */
export function writeCertificates(dir: string, set: DevelopmentCertificates): void {
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, pair: { cert: string; key: string }): void => {
    fs.writeFileSync(path.join(dir, `${name}.pem`), pair.cert);
    fs.writeFileSync(path.join(dir, `${name}-key.pem`), pair.key, { mode: 0o600 });
  };
  write('ca', set.ca);
  for (const [id, pair] of set.members) write(id, pair);
  for (const [name, pair] of set.clients) write(name, pair);
}
