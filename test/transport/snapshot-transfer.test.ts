import { createServer, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { crc32 } from 'node:zlib';

import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { index, nodeId, term, type InstallSnapshot, type NodeId } from '../../raft/index.js';
import {
  PeerCodec,
  SnapshotShipmentError,
  startPeerTransport,
  type PeerTransport,
  type PeerTransportOptions,
} from '../../src/transport/index.js';
import { SnapshotCodec } from '../../src/transport/snapshot-codec.js';
import { SnapshotSender } from '../../src/transport/snapshot-sender.js';
import { ephemeralPort, waitFor } from '../harness/index.js';
import { MemoryIntake, MemoryReceiving, MemorySource, patternBytes } from './snapshot-fakes.js';
import { logTo, SILENT_LOG } from '../../src/log/index.js';

const MIB = 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;
const WINDOW_BYTES = 8 * MIB;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Pair {
  readonly sender: PeerTransport;
  readonly receiver: PeerTransport;
  readonly receiving: MemoryReceiving;
  readonly senderLog: string[];
  readonly receiverLog: string[];
  readonly addresses: ReadonlyMap<NodeId, string>;
}

async function addressesFor(...ids: string[]): Promise<Map<NodeId, string>> {
  const entries = await Promise.all(ids.map(async (id) => [nodeId(id), `127.0.0.1:${await ephemeralPort()}`] as const));
  return new Map(entries);
}

async function startNode(id: string, addresses: ReadonlyMap<NodeId, string>, overrides: Partial<PeerTransportOptions> = {}): Promise<PeerTransport> {
  const self = nodeId(id);
  const transport = await startPeerTransport({
    self,
    clusterId: 'test-cluster',
    listenAddress: addresses.get(self) ?? '',
    peers: new Map([...addresses].filter(([peer]) => peer !== self)),
    onMessage: () => {},
    messageBytesMax: MIB,
    reconnect: { initialMs: 20, maxMs: 200 },
    snapshotTransfer: { chunkBytes: CHUNK_BYTES, windowBytes: WINDOW_BYTES, attemptsMax: 5, retry: { initialMs: 20, maxMs: 200 } },
    ...overrides,
  });
  cleanups.push(() => transport.close());
  return transport;
}

/** n1 sends, n2 receives into `receiving`. */
async function startPair(options: { readonly sender?: Partial<PeerTransportOptions>; readonly receiver?: Partial<PeerTransportOptions> } = {}): Promise<Pair> {
  const addresses = await addressesFor('n1', 'n2');
  const receiving = new MemoryReceiving();
  const senderLog: string[] = [];
  const receiverLog: string[] = [];
  const receiver = await startNode('n2', addresses, { snapshots: receiving, log: logTo((_level, line) => receiverLog.push(line), 'trace'), ...options.receiver });
  const sender = await startNode('n1', addresses, { log: logTo((_level, line) => senderLog.push(line), 'trace'), ...options.sender });
  return { sender, receiver, receiving, senderLog, receiverLog, addresses };
}

function installSnapshot(at: number, from = 'n1', to = 'n2'): InstallSnapshot {
  return { type: 'snapshot', from: nodeId(from), to: nodeId(to), term: term(3), snapshot: { index: index(at), term: term(2), voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')] } };
}

/** Offsets of the reads are contiguous from `from` to the end, each at most a chunk. */
function expectContiguousReads(source: MemorySource, from: number): void {
  let next = from;
  for (const read of source.reads) {
    expect(read.offset).toBe(next);
    expect(read.bytes).toBeLessThanOrEqual(CHUNK_BYTES);
    next += read.bytes;
  }
  expect(next).toBe(source.totalBytes);
}

async function rejection(promise: Promise<unknown>): Promise<SnapshotShipmentError> {
  const error = await promise.then(
    () => null,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(SnapshotShipmentError);
  return error as SnapshotShipmentError;
}

function causeCode(error: SnapshotShipmentError): unknown {
  return (error.cause as { code?: unknown } | undefined)?.code;
}

describe('InstallSnapshot over gRPC', () => {
  it('20 MiB arrive whole and in order; finish runs once, and sendSnapshot resolves only after it', async () => {
    const { sender, receiving } = await startPair();
    const bytes = patternBytes(20 * MIB, 0x5eed);
    const intake = new MemoryIntake(bytes, 0);
    let releaseFinish = (): void => {};
    intake.finishGate = new Promise((resolve) => (releaseFinish = resolve));
    receiving.prepare(100, intake);
    const source = new MemorySource(bytes);
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const started = performance.now();
    let settled = false;
    const sent = sender.sendSnapshot(installSnapshot(100), source).finally(() => (settled = true));
    await waitFor(() => intake.finishCalls === 1, { what: 'finish called', timeoutMs: 30_000, intervalMs: 5 });
    const tookMs = performance.now() - started;
    delay.disable();
    // Every byte is in; finish has not resolved, so neither may sendSnapshot.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    releaseFinish();
    await sent;
    expect(intake.finished).toBe(true);
    expect(intake.finishCalls).toBe(1);
    expect(intake.writtenBytes).toBe(bytes.length);
    expectContiguousReads(source, 0);
    expect(source.closeCalls).toBe(1);
    expect(receiving.opened).toHaveLength(1);
    expect(receiving.opened[0]?.message).toEqual(installSnapshot(100));
    console.log(`20 MiB in ${tookMs.toFixed(0)} ms (${((20 * 1000) / tookMs).toFixed(0)} MiB/s); event loop delay max ${(delay.max / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`);
    // Reported above, not bounded tightly: the machine is shared. Only a gross block fails here.
    expect(delay.max / 1e6).toBeLessThan(500);
  });

  it('resumes where the receiver\'s partial copy ends: only the bytes from there are read and sent', async () => {
    const { sender, receiving } = await startPair();
    const bytes = patternBytes(3 * MIB + 12_345, 7);
    const held = MIB + 4_321;
    const intake = new MemoryIntake(bytes, held);
    receiving.prepare(5, intake);
    const source = new MemorySource(bytes);
    await sender.sendSnapshot(installSnapshot(5), source);
    expect(intake.finished).toBe(true);
    expect(intake.writtenBytes).toBe(bytes.length - held);
    expectContiguousReads(source, held);
  });

  it('a call broken mid-way (the receiver\'s write fails once) is retried from where the copy ends; every byte is written once', async () => {
    const { sender, receiving, senderLog } = await startPair();
    const bytes = patternBytes(6 * MIB, 11);
    const intake = new MemoryIntake(bytes, 0);
    intake.failOnceAtBytes = 3 * MIB + 1000;
    receiving.prepare(9, intake);
    const source = new MemorySource(bytes);
    await sender.sendSnapshot(installSnapshot(9), source);
    expect(intake.finished).toBe(true);
    expect(intake.writtenBytes).toBe(bytes.length);
    expect(receiving.opened).toHaveLength(2);
    // The second call read again from where the copy ended (the chunk that failed to write).
    const restart = source.reads.findIndex((read, k) => k > 0 && read.offset < (source.reads[k - 1]?.offset ?? 0));
    expect(restart).toBeGreaterThan(0);
    expect(source.reads[restart]?.offset).toBe(3 * MIB);
    expect(senderLog.some((line) => line.includes('attempt 1 failed') && line.includes('the disk hiccuped'))).toBe(true);
    expect(senderLog.some((line) => line.includes('resumed at 3145728') && line.includes('2 attempts'))).toBe(true);
    expect(source.closeCalls).toBe(1);
  });

  it('survives a restart of the receiving transport mid-transfer, resuming from the partial copy', async () => {
    const { sender, receiver, receiving, addresses } = await startPair();
    const bytes = patternBytes(12 * MIB, 13);
    const intake = new MemoryIntake(bytes, 0);
    // A slow disk, so the restart lands mid-transfer.
    intake.writeDelay = () => new Promise((resolve) => setImmediate(resolve));
    receiving.prepare(21, intake);
    const source = new MemorySource(bytes);
    const sent = sender.sendSnapshot(installSnapshot(21), source);
    await waitFor(() => intake.receivedBytes >= 4 * MIB, { what: '4 MiB received', timeoutMs: 30_000, intervalMs: 2 });
    await receiver.close();
    const heldAtRestart = intake.receivedBytes;
    expect(heldAtRestart).toBeLessThan(bytes.length);
    await startNode('n2', addresses, { snapshots: receiving });
    await sent;
    expect(intake.finished).toBe(true);
    expect(intake.writtenBytes).toBe(bytes.length);
    expect(receiving.opened.length).toBeGreaterThanOrEqual(2);
  });

  it('a chunk damaged in transit is refused with DATA_LOSS; the sender retries and gives up when every attempt is damaged', async () => {
    const { receiving, addresses } = await startPair();
    const bytes = patternBytes(MIB, 17);
    receiving.prepare(1, new MemoryIntake(bytes, 0));
    const damageAt = { offset: 2 * CHUNK_BYTES, times: Infinity };
    const sender = damagingSender(addresses.get(nodeId('n2')) ?? '', damageAt, 3);
    const source = new MemorySource(bytes);
    const error = await rejection(sender.send(installSnapshot(1), source));
    expect(error.failure).toBe('failed');
    expect(error.attempts).toBe(3);
    expect(causeCode(error)).toBe(status.DATA_LOSS);
    expect(error.message).toMatch(/crc32/);
    expect(receiving.intake(1).receivedBytes).toBe(2 * CHUNK_BYTES);
    expect(source.closeCalls).toBe(1);

    // Damaged once: the second attempt resumes at the damaged chunk and completes.
    const again = new MemoryIntake(bytes, 0);
    receiving.prepare(2, again);
    const once = damagingSender(addresses.get(nodeId('n2')) ?? '', { offset: 2 * CHUNK_BYTES, times: 1 }, 3);
    await once.send(installSnapshot(2), new MemorySource(bytes));
    expect(again.finished).toBe(true);
    expect(again.writtenBytes).toBe(bytes.length);
  });

  it('keeps at most the window unacknowledged, pausing reads until the receiver catches up', async () => {
    const windowBytes = MIB;
    const chunkBytes = 64 * 1024;
    const { sender, receiving } = await startPair({ sender: { snapshotTransfer: { chunkBytes, windowBytes, retry: { initialMs: 20, maxMs: 200 } } } });
    const bytes = patternBytes(20 * MIB, 19);
    const intake = new MemoryIntake(bytes, 0);
    // A disk slower than the source and the wire: without a window the sender would read
    // ahead without bound.
    intake.writeDelay = () => new Promise((resolve) => setTimeout(resolve, 1));
    receiving.prepare(3, intake);
    const source = new MemorySource(bytes);
    let unacknowledgedMax = 0;
    source.onRead = (offset, length) => {
      unacknowledgedMax = Math.max(unacknowledgedMax, offset + length - intake.receivedBytes);
    };
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    await sender.sendSnapshot(installSnapshot(3), source);
    delay.disable();
    expect(intake.finished).toBe(true);
    console.log(`window ${windowBytes}: most handed out ahead of the receiver's copy ${unacknowledgedMax}; event loop delay max ${(delay.max / 1e6).toFixed(1)} ms`);
    expect(unacknowledgedMax).toBeLessThanOrEqual(windowBytes);
    // The window was reached (the sender runs ahead of a slow disk), so the bound above bit.
    expect(unacknowledgedMax).toBeGreaterThan(windowBytes / 2);
  });

  it('refuses a snapshot from another cluster, from an unknown node, and on a node without snapshots', async () => {
    const addresses = await addressesFor('n1', 'n2', 'n9');
    const receiving = new MemoryReceiving();
    const bytes = patternBytes(64 * 1024, 23);
    receiving.prepare(4, new MemoryIntake(bytes, 0));
    const receiverLog: string[] = [];
    await startNode('n2', new Map([...addresses].filter(([id]) => id !== 'n9')), { snapshots: receiving, log: logTo((_level, line) => receiverLog.push(line), 'trace') });
    const foreign = await startNode('n1', addresses, { clusterId: 'other-cluster' });
    const stranger = await startNode('n9', addresses);

    const fromForeign = await rejection(foreign.sendSnapshot(installSnapshot(4), new MemorySource(bytes)));
    expect(fromForeign).toMatchObject({ failure: 'refused', attempts: 1 });
    expect(causeCode(fromForeign)).toBe(status.FAILED_PRECONDITION);
    expect(fromForeign.message).toMatch(/cluster "other-cluster"/);

    const source = new MemorySource(bytes);
    const fromStranger = await rejection(stranger.sendSnapshot(installSnapshot(4, 'n9'), source));
    expect(causeCode(fromStranger)).toBe(status.FAILED_PRECONDITION);
    expect(fromStranger.message).toMatch(/"n9" is not a member/);
    expect(source.closeCalls).toBe(1);
    expect(receiving.opened).toEqual([]);
    expect(receiverLog.filter((line) => line.startsWith('refused a snapshot'))).toHaveLength(2);

    const plain = await addressesFor('n1', 'n2');
    await startNode('n2', plain); // no snapshots option
    const a = await startNode('n1', plain);
    const unimplemented = await rejection(a.sendSnapshot(installSnapshot(4), new MemorySource(bytes)));
    expect(unimplemented).toMatchObject({ failure: 'refused', attempts: 1 });
    expect(causeCode(unimplemented)).toBe(status.UNIMPLEMENTED);
    expect(unimplemented.message).toMatch(/does not take snapshots/);
  });

  it('the receiver ends a call that breaks the protocol with INVALID_ARGUMENT, before writing anything out of place', async () => {
    const { receiving, addresses } = await startPair();
    const bytes = patternBytes(3 * CHUNK_BYTES, 37);
    const intake = new MemoryIntake(bytes, 0);
    receiving.prepare(60, intake);
    const codec = new SnapshotCodec(new PeerCodec());
    const header = codec.encodeHeader({ clusterId: 'test-cluster', from: nodeId('n1'), to: nodeId('n2'), message: installSnapshot(60), totalBytes: bytes.length, ackEveryBytes: CHUNK_BYTES });
    const chunk = (offset: number): Buffer => {
      const data = bytes.subarray(offset, offset + CHUNK_BYTES);
      return codec.encodeChunk(offset, data, crc32(data));
    };
    const client = new Client(addresses.get(nodeId('n2')) ?? '', credentials.createInsecure());
    cleanups.push(() => client.close());
    const call = (uploads: readonly Buffer[]): Promise<{ readonly progress: number[]; readonly error: ServiceError | null }> =>
      new Promise((resolve) => {
        const progress: number[] = [];
        const stream = client.makeBidiStreamRequest('/quorumlog.peer.Peer/InstallSnapshot', (b: Buffer) => b, (b: Buffer) => codec.decodeProgress(b), new Metadata(), { deadline: Date.now() + 5_000 });
        stream.on('data', (answer: { receivedBytes: number }) => progress.push(answer.receivedBytes));
        stream.on('error', (error: ServiceError) => resolve({ progress, error }));
        stream.on('status', (end: { code: number }) => {
          if (end.code === status.OK) resolve({ progress, error: null });
        });
        for (const upload of uploads) stream.write(upload);
        stream.end();
      });
    expect((await call([chunk(0)])).error).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/must start with its header/) });
    expect((await call([Buffer.from([0xff, 0xff, 0xff])])).error).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/does not decode/) });
    const skipped = await call([header, chunk(0), chunk(2 * CHUNK_BYTES)]);
    expect(skipped.error).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/offset 524288, where the copy ends at 262144/) });
    expect(skipped.progress[0]).toBe(0);
    const short = await call([header, chunk(CHUNK_BYTES)]);
    expect(short.progress[0]).toBe(CHUNK_BYTES);
    expect(short.error).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/ended at 524288 of 786432 bytes/) });
    expect(intake.receivedBytes).toBe(2 * CHUNK_BYTES);
    expect(intake.finishCalls).toBe(0);
    const rest = await call([header, chunk(2 * CHUNK_BYTES)]);
    expect(rest.error).toBeNull();
    expect(rest.progress).toEqual([2 * CHUNK_BYTES, 3 * CHUNK_BYTES, 3 * CHUNK_BYTES]);
    expect(intake.finished).toBe(true);
  });

  it('an attempt that hears nothing for progressTimeoutMs fails, so a stalled peer cannot hold sendSnapshot', async () => {
    const stalled = createServer(() => {}); // accepts TCP, never speaks HTTP/2
    const sockets = new Set<Socket>();
    stalled.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => stalled.close(resolve));
    });
    const addresses = await addressesFor('n1');
    addresses.set(nodeId('n2'), `127.0.0.1:${(stalled.address() as { port: number }).port}`);
    const sender = await startNode('n1', addresses, { snapshotTransfer: { attemptsMax: 2, progressTimeoutMs: 300, retry: { initialMs: 10, maxMs: 20 } } });
    const source = new MemorySource(patternBytes(MIB, 41));
    const started = performance.now();
    const error = await rejection(sender.sendSnapshot(installSnapshot(70), source));
    expect(error).toMatchObject({ failure: 'failed', attempts: 2 });
    expect(error.message).toMatch(/waited 300 ms for the receiver to answer the header/);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(source.reads).toEqual([]);
    expect(source.closeCalls).toBe(1);
  });

  it('one transfer per peer: the same snapshot joins the running one, another replaces it', async () => {
    const { sender, receiving } = await startPair();
    const bytes = patternBytes(4 * MIB, 29);
    const first = new MemoryIntake(bytes, 0);
    first.writeDelay = () => new Promise((resolve) => setImmediate(resolve));
    receiving.prepare(40, first);
    const newer = new MemoryIntake(bytes, 0);
    receiving.prepare(41, newer);
    const source = new MemorySource(bytes);
    const sent = sender.sendSnapshot(installSnapshot(40), source);
    const duplicateSource = new MemorySource(bytes);
    expect(sender.sendSnapshot(installSnapshot(40), duplicateSource)).toBe(sent);
    expect(duplicateSource.closeCalls).toBe(1);
    await waitFor(() => first.receivedBytes > 0, { what: 'the first transfer under way', timeoutMs: 10_000, intervalMs: 2 });
    const replacing = sender.sendSnapshot(installSnapshot(41), new MemorySource(bytes));
    const superseded = await rejection(sent);
    expect(superseded.failure).toBe('superseded');
    await replacing;
    expect(newer.finished).toBe(true);
    expect(first.finished).toBe(false);
    expect(source.closeCalls).toBe(1);
    expect(duplicateSource.reads).toEqual([]);
  });

  it('close() during a transfer rejects it as closed and closes its source', async () => {
    const { sender, receiving } = await startPair();
    const bytes = patternBytes(4 * MIB, 31);
    const intake = new MemoryIntake(bytes, 0);
    intake.writeDelay = () => new Promise((resolve) => setImmediate(resolve));
    receiving.prepare(50, intake);
    const source = new MemorySource(bytes);
    const sent = sender.sendSnapshot(installSnapshot(50), source);
    await waitFor(() => intake.receivedBytes > 0, { what: 'the transfer under way', timeoutMs: 10_000, intervalMs: 2 });
    await sender.close();
    expect((await rejection(sent)).failure).toBe('closed');
    expect(source.closeCalls).toBe(1);
    expect((await rejection(sender.sendSnapshot(installSnapshot(50), new MemorySource(bytes)))).failure).toBe('closed');
  });
});

/**
 * A SnapshotSender (the transport's own, built by hand) whose codec damages the chunk at
 * `damage.offset` after its crc32 was computed, `damage.times` times.
 */
function damagingSender(address: string, damage: { readonly offset: number; times: number }, attemptsMax: number): SnapshotSender {
  class DamagingCodec extends SnapshotCodec {
    override encodeChunk(offset: number, data: Uint8Array, crc32: number): Buffer {
      if (offset !== damage.offset || damage.times <= 0) return super.encodeChunk(offset, data, crc32);
      damage.times--;
      const damaged = Uint8Array.from(data);
      damaged[100] = (damaged[100] ?? 0) ^ 0x04;
      return super.encodeChunk(offset, damaged, crc32);
    }
  }
  const sender = new SnapshotSender({
    self: nodeId('n1'),
    peer: nodeId('n2'),
    clusterId: 'test-cluster',
    incarnation: '',
    boot: 'test',
    client: new Client(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
    codec: new DamagingCodec(new PeerCodec()),
    chunkBytes: CHUNK_BYTES,
    windowBytes: WINDOW_BYTES,
    attemptsMax,
    retry: { initialMs: 10, maxMs: 50 },
    progressTimeoutMs: 10_000,
    log: SILENT_LOG,
  });
  cleanups.push(() => sender.close());
  return sender;
}
