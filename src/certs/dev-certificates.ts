import { webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

// Signs with globalThis.crypto (WebCrypto, in Node 20) by default.
import * as x509 from '@peculiar/x509';
import { CertificateName } from '../transport/index.js';

/** A certificate and its private key, both PEM. */
export interface IssuedCertificate {
  readonly cert: string;
  readonly key: string;
}

export interface DevelopmentCertificatesOptions {
  /** Member ids: one certificate each, naming the id (urn:quorumlog:member:ID). */
  readonly members: readonly string[];
  /** Client certificate names: one each (urn:quorumlog:client:NAME). */
  readonly clients: readonly string[];
  /** Host names and IP addresses every member certificate is valid for (the dialler checks them). */
  readonly hosts: readonly string[];
  /** Start of validity. Default: an hour before now (clocks of a small cluster drift). */
  readonly notBefore?: Date;
  /** End of validity. Default: notBefore plus validDays. */
  readonly notAfter?: Date;
  readonly validDays?: number;
}

export interface DevelopmentCertificates {
  readonly ca: IssuedCertificate;
  readonly members: ReadonlyMap<string, IssuedCertificate>;
  readonly clients: ReadonlyMap<string, IssuedCertificate>;
}

/** ECDSA P-256 with SHA-256: small keys, fast handshakes, accepted by every TLS stack Node ships. */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DEFAULT_VALID_DAYS = 365;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A development CA and a certificate per member and per client, signed by it. A member's
 * certificate serves and dials (server and client auth) and names the member and the
 * hosts; a client's names the client. For development and tests: the CA key is returned
 * beside the rest, so whoever holds the directory can issue more.
 */
export async function issueDevelopmentCertificates(options: DevelopmentCertificatesOptions): Promise<DevelopmentCertificates> {
  const notBefore = options.notBefore ?? new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + (options.validDays ?? DEFAULT_VALID_DAYS) * DAY_MS);
  const authority = await createAuthority(notBefore, notAfter);
  const hostNames = options.hosts.map(hostName);
  const members = new Map<string, IssuedCertificate>();
  for (const member of options.members) {
    members.set(member, await issue(authority, { commonName: member, names: [...hostNames, { type: 'url', value: `${CertificateName.memberPrefix}${member}` }], server: true, notBefore, notAfter }));
  }
  const clients = new Map<string, IssuedCertificate>();
  for (const client of options.clients) {
    clients.set(client, await issue(authority, { commonName: client, names: [{ type: 'url', value: `${CertificateName.clientPrefix}${client}` }], server: false, notBefore, notAfter }));
  }
  return { ca: authority.issued, members, clients };
}

/** A CA that can sign: its certificate and private key, parsed, and as PEM. */
export interface Authority {
  readonly certificate: x509.X509Certificate;
  readonly privateKey: webcrypto.CryptoKey;
  readonly issued: IssuedCertificate;
}

/** A self-signed CA of the given validity (also usable on its own by tests: a wrong CA). */
export async function createAuthority(notBefore: Date, notAfter: Date, commonName = 'quorumlog development CA'): Promise<Authority> {
  const keys = await generateKeys();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: `CN=${commonName}`,
      notBefore,
      notAfter,
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false),
      ],
    },
  );
  return { certificate, privateKey: keys.privateKey, issued: { cert: certificate.toString('pem'), key: await privateKeyPem(keys.privateKey) } };
}

/** A CA read back from the PEM pair createAuthority wrote (to issue more under it). */
export async function importAuthority(issued: IssuedCertificate): Promise<Authority> {
  const certificate = new x509.X509Certificate(issued.cert);
  const der = Buffer.from(issued.key.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign']);
  return { certificate, privateKey, issued };
}

interface LeafRequest {
  readonly commonName: string;
  readonly names: readonly x509.JsonGeneralName[];
  /** Serves TLS (a member) as well as dials. */
  readonly server: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A certificate signed by `authority`, for a fresh key. */
export async function issue(authority: Authority, request: LeafRequest): Promise<IssuedCertificate> {
  const keys = await generateKeys();
  const usages = request.server ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth];
  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=${request.commonName}`,
      issuer: authority.certificate.subject,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: authority.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        new x509.SubjectAlternativeNameExtension([...request.names], false),
        await x509.AuthorityKeyIdentifierExtension.create(authority.certificate, false),
      ],
    },
  );
  return { cert: certificate.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

/**
 * Writes the certificates into `dir` (created if missing) as `certs init` lays them out:
 * NAME.pem and NAME-key.pem for the CA ("ca"), each member id and each client; keys
 * readable by their owner only.
 */
export function writeDevelopmentCertificates(dir: string, issued: DevelopmentCertificates): void {
  fs.mkdirSync(dir, { recursive: true });
  writePair(dir, 'ca', issued.ca);
  for (const [id, pair] of issued.members) writePair(dir, id, pair);
  for (const [name, pair] of issued.clients) writePair(dir, name, pair);
}

function writePair(dir: string, name: string, pair: IssuedCertificate): void {
  fs.writeFileSync(path.join(dir, `${name}.pem`), pair.cert, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, `${name}-key.pem`), pair.key, { mode: 0o600 });
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

function hostName(host: string): x509.JsonGeneralName {
  const isIp = /^[0-9.]+$/.test(host) || host.includes(':');
  return { type: isIp ? 'ip' : 'dns', value: host };
}
