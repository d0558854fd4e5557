import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';

import { Server } from '@grpc/grpc-js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { index, nodeId, term, type Message, type NodeId } from '../../raft/index.js';
import { LogRecorder } from '../../src/log/index.js';
import {
  certificateUris,
  memberIdsOf,
  memberMismatch,
  startPeerTransport,
  TlsCertificates,
  TlsMaterialError,
  type PeerTransport,
  type TlsMaterial,
} from '../../src/transport/index.js';
import { clientServerCredentials } from '../../src/transport/tls-credentials.js';
import { ephemeralPort, waitFor } from '../harness/index.js';
import { loopbackCertificates, memberMaterial, oddMemberMaterial } from '../harness/tls-certificates.js';

type CertificateSet = Awaited<ReturnType<typeof loopbackCertificates>>;

const open: PeerTransport[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((t) => t.close()));
});

let set: CertificateSet;
beforeAll(async () => {
  set = await loopbackCertificates(['n1', 'n2', 'n3']);
});

interface TestNode {
  readonly id: NodeId;
  readonly transport: PeerTransport;
  readonly received: Message[];
  readonly log: LogRecorder;
}

async function startNode(id: string, addresses: ReadonlyMap<NodeId, string>, material: TlsMaterial | null): Promise<TestNode> {
  const self = nodeId(id);
  const received: Message[] = [];
  const log = new LogRecorder();
  const transport = await startPeerTransport({
    self,
    clusterId: 'tls-cluster',
    listenAddress: addresses.get(self) ?? '',
    peers: new Map([...addresses].filter(([peer]) => peer !== self)),
    onMessage: (message) => received.push(message),
    messageBytesMax: 64 * 1024,
    reconnect: { initialMs: 20, maxMs: 100 },
    log: log.log,
    ...(material === null ? {} : { tls: new TlsCertificates(material) }),
  });
  open.push(transport);
  return { id: self, transport, received, log };
}

async function addressesFor(...ids: string[]): Promise<Map<NodeId, string>> {
  return new Map(await Promise.all(ids.map(async (id) => [nodeId(id), `127.0.0.1:${await ephemeralPort()}`] as const)));
}

function heartbeat(from: string, to: string): Message {
  return { type: 'heartbeat', from: nodeId(from), to: nodeId(to), term: term(1), commit: index(0), context: 'hb' };
}

/** Sends to `to` until the link has redialled `dials` times (each dial refused), bounded. */
async function dialRepeatedly(from: TestNode, to: string, dials: number): Promise<void> {
  await waitFor(
    () => {
      from.transport.send([heartbeat(from.id, to)]);
      return (from.transport.stats().get(nodeId(to))?.reconnects ?? 0) >= dials;
    },
    { what: `${from.id} -> ${to} redialled ${dials} times`, timeoutMs: 10_000, intervalMs: 20 },
  );
}

describe('certificate names', () => {
  it('reads the member ids among the URI names, beside DNS and IP names', () => {
    const cert = { subjectaltname: 'DNS:localhost, IP Address:127.0.0.1, URI:urn:quorumlog:member:n1, URI:urn:quorumlog:client:c' };
    expect(certificateUris(cert)).toEqual(['urn:quorumlog:member:n1', 'urn:quorumlog:client:c']);
    expect(memberIdsOf(cert)).toEqual(['n1']);
    expect(memberMismatch(cert, 'n1')).toBeNull();
    expect(memberMismatch(cert, 'n2')).toBe('its certificate names member n1, not n2');
    expect(memberMismatch({ subjectaltname: 'DNS:localhost' }, 'n2')).toMatch(/names no member/);
  });

  it('refuses a certificate whose key is another one', () => {
    const n1 = memberMaterial(set, 'n1');
    const n2 = memberMaterial(set, 'n2');
    expect(() => new TlsCertificates({ ...n1, key: n2.key })).toThrow(TlsMaterialError);
  });
});

describe('peer transport over mutual TLS', () => {
  it('members with certificates of the cluster CA naming them exchange messages', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const a = await startNode('n1', addresses, memberMaterial(set, 'n1'));
    const b = await startNode('n2', addresses, memberMaterial(set, 'n2'));
    await waitFor(
      () => {
        a.transport.send([heartbeat('n1', 'n2')]);
        b.transport.send([heartbeat('n2', 'n1')]);
        return a.received.length > 0 && b.received.length > 0;
      },
      { what: 'messages both ways', timeoutMs: 10_000, intervalMs: 20 },
    );
    expect(a.received[0]).toMatchObject({ from: 'n2', to: 'n1' });
    expect(b.received[0]).toMatchObject({ from: 'n1', to: 'n2' });
  });

  it('a member with a valid certificate for another member id is refused, and both logs say who and why', async () => {
    const addresses = await addressesFor('n1', 'n3');
    const a = await startNode('n1', addresses, memberMaterial(set, 'n1'));
    // n3 runs with n2's certificate: signed by the cluster CA, for another member.
    const impostor = await startNode('n3', addresses, memberMaterial(set, 'n2'));
    await dialRepeatedly(impostor, 'n1', 2);
    await dialRepeatedly(a, 'n3', 2);
    expect(a.received).toEqual([]);
    expect(impostor.received).toEqual([]);
    const why = 'claims to be member n3, but its certificate names member n2, not n3';
    expect(a.log.messages().some((m) => m.startsWith('refused a peer stream from 127.0.0.1:') && m.includes(why)), a.log.messages().join('\n')).toBe(true);
    expect(impostor.log.messages().some((m) => m.startsWith('peer n1 at ') && m.includes('refused') && m.includes(why)), impostor.log.messages().join('\n')).toBe(true);
    // n1 dialling n3 refuses the server's certificate too.
    expect(a.log.messages().some((m) => m.includes('peer n3 at') && m.includes('refused its TLS certificate: its certificate names member n2, not n3')), a.log.messages().join('\n')).toBe(true);
  });

  for (const odd of ['wrong-ca', 'expired', 'not-yet-valid'] as const) {
    it(`a peer whose certificate is ${odd} connects neither way`, async () => {
      const addresses = await addressesFor('n1', 'n2');
      const a = await startNode('n1', addresses, memberMaterial(set, 'n1'));
      const b = await startNode('n2', addresses, await oddMemberMaterial(set, 'n2', odd));
      await dialRepeatedly(b, 'n1', 2);
      await dialRepeatedly(a, 'n2', 2);
      expect(a.received).toEqual([]);
      expect(b.received).toEqual([]);
      expect(a.transport.stats().get(nodeId('n2'))?.connected).toBe(false);
    });
  }

  it('a peer serving a certificate for other hosts is not dialled (its own dials, as a client, are host-free)', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const a = await startNode('n1', addresses, memberMaterial(set, 'n1'));
    const b = await startNode('n2', addresses, await oddMemberMaterial(set, 'n2', 'wrong-host'));
    await dialRepeatedly(a, 'n2', 2);
    // A redial may also come from a dial that failed before the handshake (a busy machine):
    // wait, bounded, for the handshake that checks the certificate to have run too.
    const refused = (): boolean => a.log.messages().some((m) => m.startsWith('peer n2 at') && m.includes("refused its TLS certificate: Hostname/IP does not match certificate's altnames"));
    await waitFor(() => {
      a.transport.send([heartbeat('n1', 'n2')]);
      return refused();
    }, { what: 'n1 to refuse n2\'s certificate', timeoutMs: 10_000, intervalMs: 20 }).catch(() => undefined);
    expect(b.received).toEqual([]);
    expect(a.transport.stats().get(nodeId('n2'))?.connected).toBe(false);
    expect(refused(), a.log.messages().join('\n')).toBe(true);
  });

  it('a plaintext peer gets nothing through to a TLS peer port, nor the other way', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const a = await startNode('n1', addresses, memberMaterial(set, 'n1'));
    const b = await startNode('n2', addresses, null);
    await dialRepeatedly(b, 'n1', 2);
    await dialRepeatedly(a, 'n2', 2);
    expect(a.received).toEqual([]);
    expect(b.received).toEqual([]);
  });

  it('no log line carries a private key', async () => {
    const addresses = await addressesFor('n1', 'n3');
    const a = await startNode('n1', addresses, memberMaterial(set, 'n1'));
    const impostor = await startNode('n3', addresses, memberMaterial(set, 'n2'));
    await dialRepeatedly(impostor, 'n1', 2);
    const keyLines = [...set.members.values()].flatMap((pair) => pair.key.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----')));
    const logged = JSON.stringify([...a.log.lines, ...impostor.log.lines]);
    expect(keyLines.length).toBeGreaterThan(0);
    for (const line of keyLines) expect(logged).not.toContain(line);
    expect(logged).not.toContain('PRIVATE KEY');
  });
});

describe('certificate rotation', () => {
  it('after update(), new connections get the new certificate; the old one served before', async () => {
    const first = memberMaterial(set, 'n1');
    const rotated = await loopbackCertificates(['n1']);
    const certificates = new TlsCertificates(first);
    const server = new Server();
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', clientServerCredentials(certificates, { askClientCertificate: false }), (error, bound) => (error === null ? resolve(bound) : reject(error))));
    try {
      // The CA of the rotated set differs: trust both, and read which certificate is served.
      const ca = [first.ca, Buffer.from(rotated.ca.cert)];
      const served = async (): Promise<string> => servedSerial(port, ca);
      const before = await waitFor(() => served().catch(() => undefined), { what: 'a TLS handshake', timeoutMs: 5_000, intervalMs: 20 });
      expect(before).toBe(serialOf(first.cert));
      certificates.update({ ca: Buffer.from(rotated.ca.cert), cert: Buffer.from(rotated.members.get('n1')?.cert ?? ''), key: Buffer.from(rotated.members.get('n1')?.key ?? '') });
      expect(await served()).toBe(serialOf(Buffer.from(rotated.members.get('n1')?.cert ?? '')));
      // A bad set is refused and the current one stays.
      expect(() => certificates.update({ ...first, key: Buffer.from(rotated.members.get('n1')?.key ?? '') })).toThrow(TlsMaterialError);
      expect(await served()).toBe(serialOf(Buffer.from(rotated.members.get('n1')?.cert ?? '')));
    } finally {
      server.forceShutdown();
    }
  });
});

function serialOf(pem: Buffer): string {
  return new X509Certificate(pem).serialNumber;
}

function servedSerial(port: number, ca: readonly Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: [...ca], ALPNProtocols: ['h2'] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}
