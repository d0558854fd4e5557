import type { PeerCertificate } from 'node:tls';

import { Metadata, ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import { AUTHORIZATION_METADATA_KEY, parseBasic } from './basic-authorization.js';
import { toGrpcStatus } from './grpc-status.js';
import { UnauthenticatedError } from './node-errors.js';
import { setPrincipal } from './call-principal.js';
import { CertificateName, certificateUris } from './tls-credentials.js';

/** What a password check found (the node's users file answers it). */
export type PasswordVerdict = 'accepted' | 'unknownUser' | 'wrongPassword';

/** Who a call was refused to and why, for the node's log. Never holds a password. */
export interface AuthRefusal {
  /** The caller's address (ip:port). */
  readonly peer: string;
  /** The user the call named, or null when it named none. */
  readonly user: string | null;
  /** What went wrong, more exactly than the client is told (an unknown user is named as such). */
  readonly reason: string;
  readonly kind: AuthRefusalKind;
}

export const AuthRefusalKind = {
  noCredentials: 'noCredentials',
  wrongPassword: 'wrongPassword',
  unknownUser: 'unknownUser',
  plaintextPassword: 'plaintextPassword',
  passwordsOff: 'passwordsOff',
  malformed: 'malformed',
} as const;
export type AuthRefusalKind = (typeof AuthRefusalKind)[keyof typeof AuthRefusalKind];

/** Client authentication on the client port: every call must prove who it is before it is handled. */
export interface ClientAuthOptions {
  /**
   * Checks a user's password. Absent: passwords are not taken (a call that sends one is
   * refused) and only client certificates authenticate.
   */
  readonly checkPassword?: (user: string, password: string) => Promise<PasswordVerdict>;
  /** Told of every refusal (the node logs it). */
  readonly onRefused?: (refusal: AuthRefusal) => void;
}

/**
 * The client port's authentication, run before any handler sees a call (so a refused call
 * appends nothing). A call passes with either
 *  - a client certificate that the TLS handshake verified against the cluster CA and that
 *    names a client, `urn:quorumlog:client:NAME`; or
 *  - `authorization: Basic base64(user:password)` metadata that checkPassword accepts, over
 *    TLS only: sent over a plaintext port it is refused, whatever the password.
 * A call that sends a password must get it right even if it also has a certificate. Every
 * refusal is UNAUTHENTICATED with a message that names the user but never the password, and
 * does not tell an unknown user from a wrong password.
 */
export function clientAuthInterceptor(options: ClientAuthOptions & { readonly tls: boolean }): ServerInterceptor {
  return (_method, call) => {
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        authenticate(options, metadata, call).then(
          (outcome) => {
            if ('principal' in outcome) {
              // Replaces whatever the client sent under that key: handlers trust it.
              setPrincipal(metadata, outcome.principal);
              return next(metadata);
            }
            const refusal = outcome;
            options.onRefused?.(refusal);
            const { code, details, metadata: trailers } = toGrpcStatus(new UnauthenticatedError(clientMessage(refusal)));
            call.sendStatus({ code, details, metadata: trailers });
          },
          (error: unknown) => call.sendStatus(toGrpcStatus(error)),
        );
      })
      .build();
    const responder = new ResponderBuilder().withStart((next) => next(listener)).build();
    return new ServerInterceptingCall(call, responder);
  };
}

/** Who the caller is when the call may go on (the user, or the client its certificate names); else why not. */
async function authenticate(options: ClientAuthOptions & { readonly tls: boolean }, metadata: Metadata, call: ServerInterceptingCallInterface): Promise<AuthRefusal | { readonly principal: string }> {
  const peer = call.getPeer();
  const header = metadata.get(AUTHORIZATION_METADATA_KEY)[0];
  // Out of the metadata the handlers see: nothing after this point can log or echo it.
  metadata.remove(AUTHORIZATION_METADATA_KEY);
  if (header !== undefined) {
    const basic = typeof header === 'string' ? parseBasic(header) : null;
    if (basic === null) return { peer, user: null, kind: AuthRefusalKind.malformed, reason: 'the authorization metadata is not "Basic base64(user:password)"' };
    const refused = (kind: AuthRefusalKind, reason: string): AuthRefusal => ({ peer, user: basic.user, kind, reason });
    if (!options.tls) return refused(AuthRefusalKind.plaintextPassword, 'password authentication over plaintext is refused: this client port has no TLS');
    if (options.checkPassword === undefined) return refused(AuthRefusalKind.passwordsOff, 'this node takes no passwords (it has no users file): present a client certificate');
    const verdict = await options.checkPassword(basic.user, basic.password);
    if (verdict === 'accepted') return { principal: basic.user };
    return verdict === 'unknownUser' ? refused(AuthRefusalKind.unknownUser, 'no such user') : refused(AuthRefusalKind.wrongPassword, 'wrong password');
  }
  const certificate: Pick<PeerCertificate, 'subjectaltname'> | undefined = call.getAuthContext().sslPeerCertificate;
  const client = certificate === undefined ? undefined : clientNamesOf(certificate)[0];
  if (client !== undefined) return { principal: client };
  const how = options.checkPassword === undefined ? 'a client certificate signed by the cluster CA' : 'a client certificate signed by the cluster CA or a user and password';
  // grpc-js hands out only a certificate the handshake verified: one of another CA, expired
  // or not yet valid arrives here as none.
  const what =
    certificate === undefined
      ? 'no password and no client certificate that the TLS handshake verified (none, or one of another CA, expired or not yet valid)'
      : `a certificate that names no client (${CertificateName.clientPrefix}NAME)`;
  return { peer, user: null, kind: AuthRefusalKind.noCredentials, reason: `authentication required: the call carried ${what}; this node takes ${how}` };
}

/** What the client is told: an unknown user reads as a wrong password (the client learns no user names). */
function clientMessage(refusal: AuthRefusal): string {
  if (refusal.user === null) return refusal.reason;
  if (refusal.kind === AuthRefusalKind.unknownUser || refusal.kind === AuthRefusalKind.wrongPassword) return `user ${refusal.user}: unknown user or wrong password`;
  if (refusal.kind === AuthRefusalKind.plaintextPassword) return `user ${refusal.user}: ${refusal.reason} (connect with TLS, and change the password: it crossed the network in the clear)`;
  return `user ${refusal.user}: ${refusal.reason}`;
}

/** The client names a certificate carries (`urn:quorumlog:client:NAME`). */
export function clientNamesOf(certificate: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  return certificateUris(certificate)
    .filter((uri) => uri.startsWith(CertificateName.clientPrefix))
    .map((uri) => uri.slice(CertificateName.clientPrefix.length))
    .filter((name) => name !== '');
}
