/**
 * The client port's TLS refusals that the peer tests (tls.test.ts) do not reach: a client
 * that will not talk to a node whose certificate is signed by another CA, expired, not yet
 * valid, or for other hosts; and a node that does not take a client certificate that is
 * expired or not yet valid. Each refusal is an error at the client and nothing appended.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { LogClient, UnauthenticatedError, UnavailableError, type ClientTlsOptions } from '../../src/client/index.js';
import { CertificateName, startClientServer, TlsCertificates, type ClientServer, type TlsMaterial } from '../../src/transport/index.js';
import { FakeClientService } from '../client/fake-client-service.js';
import { ephemeralPort, rejectionOf } from '../harness/index.js';
import { issue, loopbackCertificates, memberMaterial, oddMemberMaterial } from '../harness/tls-certificates.js';
import { importAuthority } from '../../src/certs/index.js';

type CertificateSet = Awaited<ReturnType<typeof loopbackCertificates>>;

const HOUR_MS = 60 * 60 * 1000;
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

async function serve(material: TlsMaterial, requireClientAuth: boolean): Promise<{ address: string; service: FakeClientService }> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  const service = new FakeClientService();
  servers.push(
    await startClientServer({
      listenAddress: address,
      service,
      messageBytesMax: 1024 * 1024,
      tls: new TlsCertificates(material),
      ...(requireClientAuth ? { auth: { onRefused: () => undefined } } : {}),
    }),
  );
  return { address, service };
}

/** `timeoutMs` short where a refusal is expected: the client retries a failed connection until then. */
function client(address: string, tls: ClientTlsOptions, timeoutMs = 600): LogClient {
  const made = new LogClient({ brokers: [address], timeoutMs, connectTimeoutMs: Math.min(timeoutMs, 1_000), tls });
  clients.push(made);
  return made;
}

/** A client certificate for alice-app under the cluster CA, valid only in the past or only in the future. */
async function clientCertificate(when: 'expired' | 'not-yet-valid'): Promise<{ cert: Buffer; key: Buffer }> {
  const now = Date.now();
  const [notBefore, notAfter] = when === 'expired' ? [now - 48 * HOUR_MS, now - 24 * HOUR_MS] : [now + 24 * HOUR_MS, now + 48 * HOUR_MS];
  const pair = await issue(await importAuthority(set.ca), {
    commonName: 'alice-app',
    names: [{ type: 'url', value: `${CertificateName.clientPrefix}alice-app` }],
    server: false,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
  });
  return { cert: Buffer.from(pair.cert), key: Buffer.from(pair.key) };
}

describe('client port TLS refusals', () => {
  for (const odd of ['wrong-ca', 'expired', 'not-yet-valid', 'wrong-host'] as const) {
    it(`a client with the cluster CA does not talk to a node whose certificate is ${odd}, and says what to check`, async () => {
      const { address, service } = await serve(await oddMemberMaterial(set, 'n1', odd), false);
      const error = await rejectionOf(client(address, { ca: Buffer.from(set.ca.cert) }).append([Buffer.from('a')]));
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.message).toContain('certificate is not signed by the given CA, not valid now, or not for this host');
      expect(service.appendCalls).toEqual([]);
    });
  }

  it('the same client talks to a node with a good certificate (the refusals above are the certificate, not the setup)', async () => {
    const { address, service } = await serve(memberMaterial(set, 'n1'), false);
    expect((await client(address, { ca: Buffer.from(set.ca.cert) }, 5_000).append([Buffer.from('a')])).firstIndex).toBe(1);
    expect(service.records).toHaveLength(1);
  });

  for (const when of ['expired', 'not-yet-valid'] as const) {
    it(`a node requiring client authentication does not take a client certificate that is ${when}`, async () => {
      const { address, service } = await serve(memberMaterial(set, 'n1'), true);
      const presented = await clientCertificate(when);
      const error = await rejectionOf(client(address, { ca: Buffer.from(set.ca.cert), ...presented }).append([Buffer.from('a')]));
      // The handshake does not verify it, so the node's check sees no certificate at all
      // (grpc-js hands out only verified ones); the message must not claim none was sent.
      expect(error).toBeInstanceOf(UnauthenticatedError);
      expect(error.message).toContain('no client certificate that the TLS handshake verified (none, or one of another CA, expired or not yet valid)');
      expect(service.appendCalls).toEqual([]);
    });
  }

  it('the current client certificate is taken by that node (the refusals above are the validity dates)', async () => {
    const { address, service } = await serve(memberMaterial(set, 'n1'), true);
    const pair = set.clients.get('alice-app');
    if (pair === undefined) throw new Error('no client certificate');
    expect((await client(address, { ca: Buffer.from(set.ca.cert), cert: Buffer.from(pair.cert), key: Buffer.from(pair.key) }, 5_000).append([Buffer.from('a')])).firstIndex).toBe(1);
    expect(service.records).toHaveLength(1);
  });
});
