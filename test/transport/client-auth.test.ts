/**
 * Client authentication on the client port, in process (src/transport/client-auth.ts): a
 * client certificate the CA signed, or a user and password over TLS. Every refusal is
 * UNAUTHENTICATED with a message naming the user and never the password, and nothing
 * reaches the service (nothing appended).
 */
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { InvalidArgumentError, LogClient, UnauthenticatedError, type ClientTlsOptions } from '../../src/client/index.js';
import {
  AuthRefusalKind,
  basicAuthorization,
  ClientCodec,
  ClientMethodPath,
  startClientServer,
  TlsCertificates,
  type AuthRefusal,
  type ClientServer,
  type PasswordVerdict,
} from '../../src/transport/index.js';
import { FakeClientService } from '../client/fake-client-service.js';
import { ephemeralPort, rejectionOf } from '../harness/index.js';
import { loopbackCertificates, memberMaterial, oddMemberMaterial } from '../harness/tls-certificates.js';

type CertificateSet = Awaited<ReturnType<typeof loopbackCertificates>>;

const PASSWORD = 'pw-9f2c-not-in-any-log';
const servers: ClientServer[] = [];
const clients: LogClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

let set: CertificateSet;
beforeAll(async () => {
  set = await loopbackCertificates(['n1'], ['alice-app']);
});

/** The users file's answer for alice / PASSWORD. */
async function checkPassword(user: string, password: string): Promise<PasswordVerdict> {
  if (user !== 'alice') return 'unknownUser';
  return password === PASSWORD ? 'accepted' : 'wrongPassword';
}

async function serve(options: { readonly tls: boolean; readonly passwords: boolean }): Promise<{ address: string; service: FakeClientService; refusals: AuthRefusal[] }> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  const service = new FakeClientService();
  const refusals: AuthRefusal[] = [];
  servers.push(
    await startClientServer({
      listenAddress: address,
      service,
      messageBytesMax: 1024 * 1024,
      ...(options.tls ? { tls: new TlsCertificates(memberMaterial(set, 'n1')) } : {}),
      auth: { ...(options.passwords ? { checkPassword } : {}), onRefused: (refusal) => refusals.push(refusal) },
    }),
  );
  return { address, service, refusals };
}

function clientCa(): ClientTlsOptions {
  return { ca: Buffer.from(set.ca.cert) };
}

function client(address: string, extra: Partial<ConstructorParameters<typeof LogClient>[0]>): LogClient {
  const made = new LogClient({ brokers: [address], timeoutMs: 3_000, connectTimeoutMs: 1_000, ...extra });
  clients.push(made);
  return made;
}

describe('client authentication on the client port', () => {
  it('a right password over TLS is served, on unary calls and on the append stream', async () => {
    const { address, service, refusals } = await serve({ tls: true, passwords: true });
    const c = client(address, { tls: clientCa(), auth: { user: 'alice', password: PASSWORD } });
    expect((await c.append([Buffer.from('a')])).firstIndex).toBe(1);
    expect((await c.status(address)).id).toBe('n1');
    expect(service.records).toHaveLength(1);
    expect(refusals).toEqual([]);
  });

  it('a wrong password is refused: UNAUTHENTICATED naming the user, never the password, and nothing appended', async () => {
    const { address, service, refusals } = await serve({ tls: true, passwords: true });
    const wrong = `${PASSWORD}-typo`;
    const error = await rejectionOf(client(address, { tls: clientCa(), auth: { user: 'alice', password: wrong } }).append([Buffer.from('a')]));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error.message).toContain('user alice: unknown user or wrong password');
    expect(error.message).not.toContain(wrong);
    expect(service.appendCalls).toEqual([]);
    expect(refusals.map((r) => [r.user, r.kind])).toContainEqual(['alice', AuthRefusalKind.wrongPassword]);
    expect(JSON.stringify(refusals)).not.toContain(wrong);
  });

  it('an unknown user reads to the client exactly as a wrong password (no user names leak), but the node log tells them apart', async () => {
    const { address, refusals } = await serve({ tls: true, passwords: true });
    const error = await rejectionOf(client(address, { tls: clientCa(), auth: { user: 'mallory', password: PASSWORD } }).append([Buffer.from('a')]));
    expect(error.message).toContain('user mallory: unknown user or wrong password');
    expect(refusals.map((r) => r.kind)).toContain(AuthRefusalKind.unknownUser);
  });

  it('a client without credentials is refused with a message saying what the node takes', async () => {
    const { address, service } = await serve({ tls: true, passwords: true });
    const error = await rejectionOf(client(address, { tls: clientCa() }).append([Buffer.from('a')]));
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error.message).toMatch(/authentication required: the call carried no password and no client certificate that the TLS handshake verified \(none, or one of another CA, expired or not yet valid\); this node takes a client certificate signed by the cluster CA or a user and password/);
    expect(service.appendCalls).toEqual([]);
  });

  it('a client certificate the CA signed, naming a client, is accepted without a password', async () => {
    const { address, service } = await serve({ tls: true, passwords: false });
    const pair = set.clients.get('alice-app');
    if (pair === undefined) throw new Error('no client certificate');
    const c = client(address, { tls: { ...clientCa(), cert: Buffer.from(pair.cert), key: Buffer.from(pair.key) } });
    expect((await c.append([Buffer.from('a')])).firstIndex).toBe(1);
    expect(service.records).toHaveLength(1);
  });

  it('a certificate of another CA, or one naming a member and no client, does not authenticate', async () => {
    const { address, service } = await serve({ tls: true, passwords: false });
    const foreign = await oddMemberMaterial(set, 'n9', 'wrong-ca');
    const member = memberMaterial(set, 'n1');
    for (const presented of [foreign, member]) {
      const error = await rejectionOf(client(address, { tls: { ...clientCa(), cert: presented.cert, key: presented.key } }).append([Buffer.from('a')]));
      expect(error).toBeInstanceOf(UnauthenticatedError);
    }
    const memberError = await rejectionOf(client(address, { tls: { ...clientCa(), cert: member.cert, key: member.key } }).append([Buffer.from('a')]));
    expect(memberError.message).toContain('a certificate that names no client (urn:quorumlog:client:NAME)');
    expect(service.appendCalls).toEqual([]);
  });

  it('a password is refused where the node takes none (no users file): present a certificate', async () => {
    const { address } = await serve({ tls: true, passwords: false });
    const error = await rejectionOf(client(address, { tls: clientCa(), auth: { user: 'alice', password: PASSWORD } }).append([Buffer.from('a')]));
    expect(error.message).toContain('user alice: this node takes no passwords');
  });

  it('password authentication over plaintext is refused by the node, whatever the password, and the client will not send one', async () => {
    const { address, service, refusals } = await serve({ tls: false, passwords: true });
    // The client library refuses before anything leaves the process.
    expect(() => new LogClient({ brokers: [address], auth: { user: 'alice', password: PASSWORD } })).toThrow(InvalidArgumentError);
    expect(() => new LogClient({ brokers: [address], auth: { user: 'alice', password: PASSWORD } })).toThrow(/refusing to send a password over plaintext/);
    // A client that sends one anyway (a raw gRPC call) is refused even with the right password.
    const codec = new ClientCodec();
    const raw = new Client(address, credentials.createInsecure());
    try {
      const metadata = new Metadata();
      metadata.set('authorization', basicAuthorization('alice', PASSWORD));
      const error = await new Promise<ServiceError | null>((resolve) => {
        raw.makeUnaryRequest(ClientMethodPath.append, codec.appendRequest.serialize, codec.appendResponse.deserialize, { records: [Buffer.from('a')] }, metadata, { deadline: Date.now() + 3_000 }, (e) => resolve(e));
      });
      expect(error?.code).toBe(status.UNAUTHENTICATED);
      expect(error?.details).toContain('user alice: password authentication over plaintext is refused');
      expect(error?.details).not.toContain(PASSWORD);
    } finally {
      raw.close();
    }
    expect(service.appendCalls).toEqual([]);
    expect(refusals.map((r) => r.kind)).toEqual([AuthRefusalKind.plaintextPassword]);
  });

  it('a malformed authorization value is refused as such', async () => {
    const { address } = await serve({ tls: false, passwords: true });
    const codec = new ClientCodec();
    const raw = new Client(address, credentials.createInsecure());
    try {
      const metadata = new Metadata();
      metadata.set('authorization', 'Bearer abc');
      const error = await new Promise<ServiceError | null>((resolve) => {
        raw.makeUnaryRequest(ClientMethodPath.status, codec.statusRequest.serialize, codec.nodeStatus.deserialize, {}, metadata, { deadline: Date.now() + 3_000 }, (e) => resolve(e));
      });
      expect(error?.code).toBe(status.UNAUTHENTICATED);
      expect(error?.details).toContain('is not "Basic base64(user:password)"');
    } finally {
      raw.close();
    }
  });
});
