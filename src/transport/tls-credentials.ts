import { checkServerIdentity, type PeerCertificate } from 'node:tls';

import { credentials, experimental, Metadata, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { AUTHORIZATION_METADATA_KEY, basicAuthorization } from './basic-authorization.js';
import type { TlsCertificates } from './tls-certificates.js';

/**
 * How a certificate names a member of the cluster or a client: a URI in its subject
 * alternative names, `urn:quorumlog:member:n1`, `urn:quorumlog:client:NAME`. A URI and not a
 * DNS name, so that a node id is never mistaken for a host name (hosts go in as DNS and IP
 * names beside it, checked as usual by the dialer).
 */
export const CertificateName = {
  memberPrefix: 'urn:quorumlog:member:',
  clientPrefix: 'urn:quorumlog:client:',
} as const;

/** The URIs among a certificate's subject alternative names (Node's `URI:...` entries). */
export function certificateUris(certificate: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  const names = certificate.subjectaltname;
  if (names === undefined || names === '') return [];
  // Node writes "DNS:a, IP Address:1.2.3.4, URI:urn:..."; a value holding ", " is quoted (JSON).
  return names
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => {
      const value = entry.slice('URI:'.length);
      if (!value.startsWith('"')) return value;
      try {
        return String(JSON.parse(value));
      } catch {
        return value;
      }
    });
}

/** The member ids a certificate names (usually one). */
export function memberIdsOf(certificate: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  return certificateUris(certificate)
    .filter((uri) => uri.startsWith(CertificateName.memberPrefix))
    .map((uri) => uri.slice(CertificateName.memberPrefix.length));
}

/** Why `certificate` does not name member `expected`, or null when it does. */
export function memberMismatch(certificate: Pick<PeerCertificate, 'subjectaltname'>, expected: string): string | null {
  const named = memberIdsOf(certificate);
  if (named.includes(expected)) return null;
  return named.length === 0
    ? `its certificate names no member (no ${CertificateName.memberPrefix}ID in its subject alternative names)`
    : `its certificate names member ${named.join(', ')}, not ${expected}`;
}

/**
 * The peer port's server side: our certificate, and a certificate signed by the cluster CA
 * required of every caller (the TLS handshake refuses any other). Which member a caller's
 * certificate names is checked per call against the id it claims (PeerListener).
 */
export function peerServerCredentials(certificates: TlsCertificates): ServerCredentials {
  // grpc-js's parameter names are swapped (first is the identity, second the CA): same provider for both.
  return experimental.createCertificateProviderServerCredentials(certificates, certificates, true);
}

/**
 * The client port's server side: our certificate. With `askClientCertificate`, clients are
 * asked for a certificate but not required to give one (a client may use a password
 * instead): one the cluster CA signed is handed to the call (getAuthContext), any other is
 * not, and the authentication interceptor decides (client-auth.ts).
 */
export function clientServerCredentials(certificates: TlsCertificates, options: { readonly askClientCertificate: boolean }): ServerCredentials {
  return experimental.createCertificateProviderServerCredentials(certificates, options.askClientCertificate ? certificates : null, false);
}

export interface PeerChannelCheck {
  /** The member we dial: the server's certificate must name it. */
  readonly peer: string;
  /** Called with the reason when the server's certificate is refused (for the log). */
  readonly onRefused: (reason: string) => void;
}

/**
 * A peer link's channel: presents our certificate, trusts only the cluster CA, and accepts
 * the server only if its certificate is valid for the host dialled and names `check.peer`.
 */
export function peerChannelCredentials(certificates: TlsCertificates, check: PeerChannelCheck): ChannelCredentials {
  return experimental.createCertificateProviderChannelCredentials(certificates, certificates, {
    checkServerIdentity: (host, certificate) => {
      const hostError = checkServerIdentity(host, certificate);
      const reason = hostError?.message ?? memberMismatch(certificate, check.peer);
      if (reason === null || reason === undefined) return undefined;
      check.onRefused(reason);
      return new Error(`peer ${check.peer} at ${host}: ${reason}`);
    },
  });
}

/** A client's TLS: the CA that signed the brokers' certificates, and optionally a client certificate and key (PEM). */
export interface ClientTlsOptions {
  readonly ca: Buffer | string;
  readonly cert?: Buffer | string;
  readonly key?: Buffer | string;
}

/** A client's user and password: sent with every call, over TLS only. */
export interface ClientAuth {
  readonly user: string;
  readonly password: string;
}

/** A password refused before it left the process: the channel is not TLS. */
export const PLAINTEXT_PASSWORD_REFUSAL = 'refusing to send a password over plaintext: give tls (the CA that signed the brokers\' certificates, --tls-ca) with auth (--user)';

/**
 * The channel credentials of every client channel (LogClient, Producer, Consumer, Admin,
 * the CLI's verbs): plaintext without `tls`, else TLS trusting only `tls.ca` (the host name
 * dialled must be in the broker's certificate), presenting the client certificate if given.
 * With `auth`, every call carries `authorization: Basic ...` metadata; a password without
 * `tls` throws RangeError (PLAINTEXT_PASSWORD_REFUSAL): it never leaves the process in clear.
 */
export function clientChannelCredentials(tls: ClientTlsOptions | undefined, auth?: ClientAuth): ChannelCredentials {
  if (tls === undefined) {
    if (auth !== undefined) throw new RangeError(PLAINTEXT_PASSWORD_REFUSAL);
    return credentials.createInsecure();
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new RangeError('tls.cert and tls.key go together: give both or neither');
  const channel = credentials.createSsl(toBuffer(tls.ca), tls.key === undefined ? null : toBuffer(tls.key), tls.cert === undefined ? null : toBuffer(tls.cert));
  if (auth === undefined) return channel;
  const authorization = basicAuthorization(auth.user, auth.password);
  const perCall = credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new Metadata();
    metadata.set(AUTHORIZATION_METADATA_KEY, authorization);
    callback(null, metadata);
  });
  return credentials.combineChannelCredentials(channel, perCall);
}

function toBuffer(pem: Buffer | string): Buffer {
  return typeof pem === 'string' ? Buffer.from(pem) : pem;
}
