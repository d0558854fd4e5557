import { createServer, type Socket } from 'node:net';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { index, nodeId, term, type Message, type NodeId } from '../../raft/index.js';
import { PeerCodec, startPeerTransport, type PeerTransport, type PeerTransportOptions } from '../../src/transport/index.js';
import { ephemeralPort, waitFor } from '../harness/index.js';
import { logTo } from '../../src/log/index.js';

const MAX_MESSAGE_BYTES = 64 * 1024;
const open: PeerTransport[] = [];

afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((t) => t.close()));
});

interface TestNode {
  readonly id: NodeId;
  readonly transport: PeerTransport;
  readonly received: Message[];
  readonly logLines: string[];
}

async function startNode(
  id: string,
  addresses: ReadonlyMap<NodeId, string>,
  overrides: Partial<PeerTransportOptions> = {},
): Promise<TestNode> {
  const self = nodeId(id);
  const received: Message[] = [];
  const logLines: string[] = [];
  const listenAddress = addresses.get(self);
  if (listenAddress === undefined) throw new Error(`no address for ${id}`);
  const transport = await startPeerTransport({
    self,
    clusterId: 'test-cluster',
    listenAddress,
    peers: new Map([...addresses].filter(([peer]) => peer !== self)),
    onMessage: (message) => received.push(message),
    messageBytesMax: MAX_MESSAGE_BYTES,
    reconnect: { initialMs: 20, maxMs: 200 },
    log: logTo((_level, line) => logLines.push(line), 'trace'),
    ...overrides,
  });
  open.push(transport);
  return { id: self, transport, received, logLines };
}

async function addressesFor(...ids: string[]): Promise<Map<NodeId, string>> {
  const entries = await Promise.all(ids.map(async (id) => [nodeId(id), `127.0.0.1:${await ephemeralPort()}`] as const));
  return new Map(entries);
}

function heartbeat(from: string, to: string, seq: number): Message {
  return { type: 'heartbeat', from: nodeId(from), to: nodeId(to), term: term(1), commit: index(0), context: `seq-${seq}` };
}

function contexts(messages: readonly Message[], from: string): string[] {
  return messages.filter((m) => m.from === from && (m.type === 'heartbeat' || m.type === 'heartbeatResp')).map((m) => (m as { context: string }).context);
}

/** `call`, again while it fails UNAVAILABLE (a channel between connection attempts), at most 100 times 50 ms apart. */
async function untilAvailable<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: unknown }).code !== status.UNAVAILABLE || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Sends heartbeat `seq` from `sender` to `receiver` every 100 ms until it arrives, for at most 15 s. */
async function sendUntilReceived(sender: TestNode, receiver: TestNode, seq: number, what: string): Promise<void> {
  const has = (): boolean => contexts(receiver.received, sender.id).includes(`seq-${seq}`);
  for (let attempt = 0; attempt < 150 && !has(); attempt++) {
    sender.transport.send([heartbeat(sender.id, receiver.id, seq)]);
    await waitFor(has, { what, timeoutMs: 100, intervalMs: 5 }).catch(() => undefined);
  }
  expect(has(), what).toBe(true);
}

/** Waits until the sender's link to `to` reports connected. */
async function connect(sender: TestNode, to: string): Promise<void> {
  await waitFor(() => sender.transport.stats().get(nodeId(to))?.connected === true, { what: `${sender.id} -> ${to} connected`, timeoutMs: 5_000, intervalMs: 5 });
}

describe('peer transport', () => {
  it('two nodes exchange messages in order, both ways', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const a = await startNode('n1', addresses);
    const b = await startNode('n2', addresses);
    await connect(a, 'n2');
    await connect(b, 'n1');
    for (let seq = 0; seq < 500; seq++) a.transport.send([heartbeat('n1', 'n2', seq)]);
    b.transport.send(Array.from({ length: 500 }, (_, seq) => heartbeat('n2', 'n1', seq)));
    await waitFor(() => b.received.length === 500 && a.received.length === 500, { what: 'all messages', timeoutMs: 5_000, intervalMs: 5 });
    const expected = Array.from({ length: 500 }, (_, seq) => `seq-${seq}`);
    expect(contexts(b.received, 'n1')).toEqual(expected);
    expect(contexts(a.received, 'n2')).toEqual(expected);
    expect(b.received.every((m) => m.to === 'n2')).toBe(true);
    expect(a.transport.stats().get(nodeId('n2'))).toMatchObject({ connected: true, sentMessages: 500, droppedMessages: 0 });
  });

  it('three nodes: one send() fans out to each peer in order', async () => {
    const addresses = await addressesFor('n1', 'n2', 'n3');
    const [a, b, c] = await Promise.all([startNode('n1', addresses), startNode('n2', addresses), startNode('n3', addresses)]);
    await connect(a, 'n2');
    await connect(a, 'n3');
    const batch: Message[] = [];
    for (let seq = 0; seq < 100; seq++) batch.push(heartbeat('n1', 'n2', seq), heartbeat('n1', 'n3', seq));
    a.transport.send(batch);
    await waitFor(() => b.received.length === 100 && c.received.length === 100, { what: 'fan-out', timeoutMs: 5_000, intervalMs: 5 });
    const expected = Array.from({ length: 100 }, (_, seq) => `seq-${seq}`);
    expect(contexts(b.received, 'n1')).toEqual(expected);
    expect(contexts(c.received, 'n1')).toEqual(expected);
    expect(c.received.every((m) => m.to === 'n3')).toBe(true);
  });

  it('setPeers adds a link to a new member and closes the link of a removed one, whose streams are then refused', async () => {
    const addresses = await addressesFor('n1', 'n2', 'n3');
    const a = await startNode('n1', new Map([...addresses].filter(([id]) => id !== 'n3')));
    const b = await startNode('n2', addresses);
    const c = await startNode('n3', addresses);
    await connect(a, 'n2');
    // n3 is no member of n1's yet: n1 drops what it would send there and refuses n3's stream.
    a.transport.send([heartbeat('n1', 'n3', 0)]);
    expect(a.transport.stats().has(nodeId('n3'))).toBe(false);
    await waitFor(() => c.logLines.some((line) => line.includes('is not a member of this cluster')), { what: 'n3 refused by n1', timeoutMs: 15_000 });

    a.transport.setPeers(new Map([...addresses].filter(([id]) => id !== 'n1')));
    expect([...a.transport.peers().keys()].sort()).toEqual(['n2', 'n3']);
    await connect(a, 'n3');
    // A link between dials drops what it is given, and n3's link to n1 may be between the
    // dials n1 refused and the one it accepts: each side sends until the other has it.
    await sendUntilReceived(a, c, 1, 'n1 -> n3 after the add');
    await sendUntilReceived(c, a, 2, 'n3 -> n1 accepted after the add');

    // n2 is removed: its link closes, what is sent to it is dropped, its stream is refused.
    a.transport.setPeers(new Map([[nodeId('n3'), addresses.get(nodeId('n3')) ?? '']]));
    expect(a.transport.stats().has(nodeId('n2'))).toBe(false);
    expect(a.logLines.some((line) => line.includes('peer n2') && line.includes('is no longer a member'))).toBe(true);
    const before = a.received.length;
    b.transport.send([heartbeat('n2', 'n1', 3)]);
    await waitFor(() => b.logLines.some((line) => line.includes('is not a member of this cluster')), { what: 'n2 refused by n1', timeoutMs: 15_000 });
    expect(contexts(a.received.slice(before), 'n2')).toEqual([]);
  });

  it('reconnects after a peer is closed and restarted on the same port', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const a = await startNode('n1', addresses);
    const b1 = await startNode('n2', addresses);
    await connect(a, 'n2');
    a.transport.send([heartbeat('n1', 'n2', 0)]);
    await waitFor(() => b1.received.length === 1, { what: 'first delivery', timeoutMs: 5_000, intervalMs: 5 });
    await b1.transport.close();
    await waitFor(() => a.transport.stats().get(nodeId('n2'))?.connected === false, { what: 'link noticed the loss', timeoutMs: 5_000, intervalMs: 5 });
    a.transport.send([heartbeat('n1', 'n2', 1)]); // while down: dropped and counted
    const b2 = await startNode('n2', addresses);
    await connect(a, 'n2');
    a.transport.send([heartbeat('n1', 'n2', 2)]);
    await waitFor(() => b2.received.length === 1, { what: 'delivery after restart', timeoutMs: 5_000, intervalMs: 5 });
    expect(contexts(b2.received, 'n1')).toEqual(['seq-2']);
    const stats = a.transport.stats().get(nodeId('n2'));
    expect(stats?.reconnects).toBeGreaterThan(0);
    expect(stats?.droppedMessages).toBeGreaterThanOrEqual(1);
    expect(a.logLines.some((line) => line.includes('lost'))).toBe(true);
  });

  it('a dead peer does not delay delivery to a live one, nor block send()', async () => {
    const addresses = await addressesFor('n1', 'n2', 'n3'); // n3 never starts
    const a = await startNode('n1', addresses);
    const b = await startNode('n2', addresses);
    await connect(a, 'n2');
    const started = performance.now();
    for (let seq = 0; seq < 200; seq++) a.transport.send([heartbeat('n1', 'n3', seq), heartbeat('n1', 'n2', seq)]);
    const sendMs = performance.now() - started;
    await waitFor(() => b.received.length === 200, { what: 'delivery to the live peer', timeoutMs: 2000, intervalMs: 5 });
    expect(sendMs).toBeLessThan(500);
    await waitFor(() => a.transport.stats().get(nodeId('n3'))?.droppedMessages === 200, { what: 'drops to the dead peer counted', timeoutMs: 5_000, intervalMs: 5 });
    expect(a.transport.stats().get(nodeId('n3'))).toMatchObject({ connected: false, sentMessages: 0 });
  });

  it('a stalled peer (accepts TCP, never answers) fills only its own bounded queue', async () => {
    const stalled = createServer(() => {}); // holds connections open, never speaks HTTP/2
    const sockets = new Set<Socket>();
    stalled.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const port = (stalled.address() as { port: number }).port;
      const addresses = await addressesFor('n1', 'n2');
      addresses.set(nodeId('n3'), `127.0.0.1:${port}`);
      const a = await startNode('n1', addresses, { queueBytesMax: 1024 });
      const b = await startNode('n2', addresses);
      await connect(a, 'n2');
      for (let seq = 0; seq < 300; seq++) a.transport.send([heartbeat('n1', 'n3', seq)]);
      // The live peer's link has the same small queue, so feed it in rounds it can hold.
      for (let round = 0; round < 10; round++) {
        a.transport.send(Array.from({ length: 30 }, (_, k) => heartbeat('n1', 'n2', round * 30 + k)));
        await waitFor(() => b.received.length === (round + 1) * 30, { what: `round ${round} to the live peer`, timeoutMs: 2000, intervalMs: 5 });
      }
      const toStalled = a.transport.stats().get(nodeId('n3'));
      expect(toStalled?.connected).toBe(false);
      expect(toStalled?.queuedBytes).toBeLessThanOrEqual(1024);
      expect(toStalled?.droppedMessages).toBeGreaterThan(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });

  it('drops and counts a message larger than messageBytesMax, delivering the rest', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const a = await startNode('n1', addresses);
    const b = await startNode('n2', addresses);
    await connect(a, 'n2');
    const big: Message = {
      type: 'append', from: nodeId('n1'), to: nodeId('n2'), term: term(1), prevIndex: index(0), prevTerm: term(0), commit: index(0),
      entries: [{ index: index(1), term: term(1), kind: 1, payload: new Uint8Array(MAX_MESSAGE_BYTES) }],
    };
    a.transport.send([heartbeat('n1', 'n2', 0), big, heartbeat('n1', 'n2', 1)]);
    await waitFor(() => b.received.length === 2, { what: 'the two small messages', timeoutMs: 5_000, intervalMs: 5 });
    expect(contexts(b.received, 'n1')).toEqual(['seq-0', 'seq-1']);
    expect(a.transport.stats().get(nodeId('n2'))).toMatchObject({ sentMessages: 2, droppedMessages: 1 });
  });

  it('batches up to messageBytesMax: many near-limit appends in one send() all arrive', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const a = await startNode('n1', addresses);
    const b = await startNode('n2', addresses);
    await connect(a, 'n2');
    const appends: Message[] = Array.from({ length: 40 }, (_, k) => ({
      type: 'append', from: nodeId('n1'), to: nodeId('n2'), term: term(1), prevIndex: index(k), prevTerm: term(1), commit: index(0),
      entries: [{ index: index(k + 1), term: term(1), kind: 1, payload: new Uint8Array(MAX_MESSAGE_BYTES / 3).fill(k) }],
    }));
    a.transport.send(appends);
    await waitFor(() => b.received.length === 40, { what: 'all appends', timeoutMs: 5_000, intervalMs: 5 });
    expect(b.received.map((m) => (m.type === 'append' ? m.prevIndex : -1))).toEqual(appends.map((_, k) => k));
  });

  it('refuses a stream from another cluster and from an unknown node', async () => {
    const addresses = await addressesFor('n1', 'n2', 'n9');
    const b = await startNode('n2', new Map([...addresses].filter(([id]) => id !== 'n9')));
    const foreign = await startNode('n1', addresses, { clusterId: 'other-cluster' });
    const stranger = await startNode('n9', addresses);
    await waitFor(() => b.logLines.filter((line) => line.includes('refused')).length >= 2, { what: 'two refusals', timeoutMs: 5_000, intervalMs: 5 });
    foreign.transport.send([heartbeat('n1', 'n2', 0)]);
    stranger.transport.send([heartbeat('n9', 'n2', 0)]);
    expect(b.logLines.some((line) => line.includes('cluster "other-cluster"'))).toBe(true);
    expect(b.logLines.some((line) => line.includes('"n9" is not a member'))).toBe(true);
    expect(foreign.logLines.some((line) => line.includes('refused'))).toBe(true);
    expect(foreign.transport.stats().get(nodeId('n2'))?.connected).toBe(false);
    expect(b.received).toEqual([]);
  });

  it('CheckIncarnation: a peer answers with its judgement; another cluster, a stranger or a peer without a judge is refused', async () => {
    const addresses = await addressesFor('n1', 'n2', 'n3', 'n9', 'spare1', 'spare2');
    /** `members` with n1 listening elsewhere: a second process of n1. */
    const n1At = (spare: string): Map<NodeId, string> => new Map([...members].map(([id, address]) => [id, id === 'n1' ? addresses.get(nodeId(spare)) ?? '' : address]));
    const known = new Map<string, string>([['n1', 'disk-a']]);
    const asked: string[] = [];
    const judge = (peer: NodeId, incarnation: string): { verdict: 'accepted' | 'wiped'; recorded: string } | null => {
      asked.push(`${peer}:${incarnation}`);
      if (peer === 'n3') return null;
      const recorded = known.get(peer) ?? '';
      return { verdict: recorded === '' || recorded === incarnation ? 'accepted' : 'wiped', recorded };
    };
    const members = new Map([...addresses].filter(([id]) => ['n1', 'n2', 'n3'].includes(id)));
    await startNode('n2', members, { onIncarnationCheck: judge });
    const same = await startNode('n1', members, { incarnation: 'disk-a' });
    const wiped = await startNode('n1', n1At('spare1'), { incarnation: 'disk-b' });
    expect(await same.transport.checkIncarnation(nodeId('n2'))).toEqual({ verdict: 'accepted', recorded: 'disk-a' });
    expect(await wiped.transport.checkIncarnation(nodeId('n2'))).toEqual({ verdict: 'wiped', recorded: 'disk-a' });
    expect(asked).toEqual(['n1:disk-a', 'n1:disk-b']);
    // The judge's null: not a member of its configuration.
    const third = await startNode('n3', members, { incarnation: 'disk-c' });
    await expect(third.transport.checkIncarnation(nodeId('n2'))).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('"n3" is not a member') });
    // Refused before the judge: another cluster, a sender its peers do not name.
    const foreign = await startNode('n1', n1At('spare2'), { clusterId: 'other-cluster', incarnation: 'disk-a' });
    await expect(foreign.transport.checkIncarnation(nodeId('n2'))).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('other-cluster') });
    const stranger = await startNode('n9', new Map([...members, [nodeId('n9'), addresses.get(nodeId('n9')) ?? '']]), { incarnation: 'disk-x' });
    await expect(stranger.transport.checkIncarnation(nodeId('n2'))).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('"n9" is not a member') });
    expect(asked).toHaveLength(3);
    // A node that does not judge: UNIMPLEMENTED; a node that is not a peer: refused at once.
    // n3 started after n1's channel to it first failed: until the channel's next attempt the
    // call fails UNAVAILABLE, which the bootstrap check retries, and so does this test.
    await expect(untilAvailable(() => same.transport.checkIncarnation(nodeId('n3')))).rejects.toMatchObject({ code: status.UNIMPLEMENTED });
    await expect(same.transport.checkIncarnation(nodeId('n7'))).rejects.toThrow('n7 is not a peer of n1');
  });

  it('a peer refused at every redial is logged once per cause on each side, not at each dial', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const b = await startNode('n2', addresses);
    const foreign = await startNode('n1', addresses, { clusterId: 'other-cluster', reconnect: { initialMs: 10, maxMs: 10 } });
    await waitFor(() => (foreign.transport.stats().get(nodeId('n2'))?.reconnects ?? 0) >= 20, { what: '20 refused redials', timeoutMs: 10_000, intervalMs: 5 });
    expect(b.logLines.filter((line) => line.startsWith('refused a peer stream'))).toHaveLength(1);
    expect(foreign.logLines.filter((line) => line.includes(': refused ('))).toHaveLength(1);
  });

  it('a batch that does not decode ends the stream with INVALID_ARGUMENT and a message; the node takes the next stream', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const b = await startNode('n2', addresses);
    const metadata = new Metadata();
    metadata.set('quorumlog-cluster-id', 'test-cluster');
    metadata.set('quorumlog-from', 'n1');
    metadata.set('quorumlog-to', 'n2');
    const client = new Client(addresses.get(nodeId('n2')) ?? '', credentials.createInsecure());
    try {
      const ended = (body: Buffer): Promise<ServiceError | null> =>
        new Promise((resolve) => {
          const call = client.makeClientStreamRequest('/quorumlog.peer.Peer/Stream', (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, metadata, { deadline: Date.now() + 5000 }, (error) => resolve(error));
          call.write(body);
        });
      const junk = await ended(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
      expect(junk).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/peer batch does not decode/) });
      const codec = new PeerCodec();
      const wrongWireType = Buffer.concat([codec.encodeEnvelope({ clusterId: 'test-cluster', from: nodeId('n1'), to: nodeId('n2') }), Buffer.from([0x22, 0x04, 0x08, 5, 0x48, 0x01])]);
      expect(await ended(wrongWireType)).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/entries \(field 9\)/) });
      expect(b.received).toEqual([]);
      const a = await startNode('n1', addresses);
      await connect(a, 'n2');
      a.transport.send([heartbeat('n1', 'n2', 0)]);
      await waitFor(() => b.received.length === 1, { what: 'delivery on a good stream', timeoutMs: 5_000, intervalMs: 5 });
    } finally {
      client.close();
    }
  });

  it('close() ends streams and frees the port promptly', async () => {
    const addresses = await addressesFor('n1', 'n2');
    const a = await startNode('n1', addresses);
    const b = await startNode('n2', addresses);
    await connect(a, 'n2');
    await connect(b, 'n1');
    const started = performance.now();
    await Promise.all([a.transport.close(), b.transport.close()]);
    expect(performance.now() - started).toBeLessThan(2000);
    const again = await startNode('n1', addresses);
    await again.transport.close();
  });
});
