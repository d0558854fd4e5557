import { Client, credentials, Metadata, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { nodeId } from '../../raft/index.js';
import { AclMethodPath, ClientCodec, ClientMethodPath, PeerCodec, TransactionMethodPath } from '../../src/transport/index.js';
import { AppendWorkload, checkLogs, readAllLogs, TestCluster, testFailed, type LoggedRecord } from '../harness/index.js';

/**
 * Hostile input at both ports of a real node: random bytes, truncated and oversize
 * protobufs, fields of the wrong wire type, well-formed requests with hostile values. Every
 * call must end with a status a user can read (never INTERNAL or UNKNOWN, never an error
 * without a message), the nodes keep serving, and every record acknowledged before and
 * during the fuzzing is on every node at its index afterwards.
 *
 * FUZZ_RUNS scales the runs (default: a short run for `npm test`); FUZZ_SEED replays one.
 */
const RUNS = Math.max(1, Number(process.env['FUZZ_RUNS'] ?? 120));
const SEED = process.env['FUZZ_SEED'] === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env['FUZZ_SEED']);
/** Small, so oversize bodies are cheap; above the 256 KiB pages the log check reads. */
const MAX_MESSAGE_BYTES = 320 * 1024;
const CLUSTER_ID = 'it-fuzz';
const CALL_DEADLINE_MS = 3_000;
/** Server streams that a valid request keeps open (Follow, Consume) are cut after this. */
const STREAM_DEADLINE_MS = 300;

const SERVER_STREAMS: ReadonlySet<string> = new Set([ClientMethodPath.follow, ClientMethodPath.consume, TransactionMethodPath.transactionChecks]);
const BIDI_STREAMS: ReadonlySet<string> = new Set([ClientMethodPath.appendStream, ClientMethodPath.produceStream]);
const METHODS: readonly string[] = [...new Set([...Object.values(ClientMethodPath), ...Object.values(TransactionMethodPath), ...Object.values(AclMethodPath)])];
/** Statuses that say the node failed rather than the request: none may come back. */
const NODE_FAILURES: ReadonlySet<number> = new Set([grpcStatus.INTERNAL, grpcStatus.UNKNOWN]);

interface Outcome {
  readonly code: number;
  readonly details: string;
}

// ---- protobuf-shaped bytes, right and wrong ----

const U64_MAX = 2n ** 64n - 1n;

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  for (let k = 0; k < 10; k++) {
    if (v < 0x80n) {
      out.push(Number(v));
      return out;
    }
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  return out;
}

type Field =
  | { readonly field: number; readonly wire: 0; readonly value: bigint }
  | { readonly field: number; readonly wire: 1 | 5; readonly value: Uint8Array }
  | { readonly field: number; readonly wire: 2; readonly value: Uint8Array };

function encodeFields(fields: readonly Field[]): Buffer {
  const out: number[] = [];
  for (const f of fields) {
    out.push(...varint(BigInt(f.field * 8 + f.wire)));
    if (f.wire === 0) out.push(...varint(f.value));
    else if (f.wire === 2) out.push(...varint(BigInt(f.value.length)), ...f.value);
    else out.push(...f.value.subarray(0, f.wire === 1 ? 8 : 4), ...new Uint8Array(Math.max(0, (f.wire === 1 ? 8 : 4) - f.value.length)));
  }
  return Buffer.from(out);
}

const hostileNumber = fc.oneof(
  fc.constantFrom(0n, 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, U64_MAX),
  fc.bigInt({ min: 0n, max: U64_MAX }),
);
const hostileText = fc.oneof(fc.constantFrom('', 'n1', '../../etc', 'x'.repeat(300), '\u0000', 'é\u{1F600}'), fc.string({ maxLength: 40 }));

/** A field of any number and wire type: right for its field by chance, wrong otherwise; nested once. */
const fieldArbitrary: fc.Arbitrary<Field> = fc.oneof(
  fc.record({ field: fc.integer({ min: 1, max: 12 }), wire: fc.constant(0 as const), value: hostileNumber }),
  fc.record({ field: fc.integer({ min: 1, max: 12 }), wire: fc.constantFrom(1 as const, 5 as const), value: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
  fc.record({
    field: fc.integer({ min: 1, max: 12 }),
    wire: fc.constant(2 as const),
    value: fc.oneof(
      fc.uint8Array({ maxLength: 48 }),
      hostileText.map((t) => new TextEncoder().encode(t)),
      fc.array(fc.record({ field: fc.integer({ min: 1, max: 8 }), wire: fc.constant(0 as const), value: hostileNumber }), { maxLength: 4 }).map((f) => new Uint8Array(encodeFields(f))),
    ),
  }),
);

const codec = new ClientCodec();

/** Well-formed requests of several methods, with values no sane client sends. */
const validHostile: fc.Arbitrary<{ readonly method: string; readonly body: Buffer }> = fc.oneof(
  fc.record({ from: fc.constantFrom(1, 2 ** 53 - 1, 2 ** 32), bytesMax: fc.constantFrom(1, MAX_MESSAGE_BYTES, 2 ** 31, 2 ** 53 - 1) }).map((r) => ({ method: ClientMethodPath.read, body: codec.readRequest.serialize(r) })),
  fc.record({ records: fc.array(fc.uint8Array({ maxLength: 2048 }), { maxLength: 3 }), acks: fc.constantFrom(0, 1, 2, 99) }).map((r) => ({ method: ClientMethodPath.append, body: codec.appendRequest.serialize(r) })),
  fc.record({ topic: hostileText, offset: fc.constantFrom(0, 2 ** 53 - 1), bytesMax: fc.constantFrom(0, 1, 2 ** 31) }).map((r) => ({ method: ClientMethodPath.fetch, body: codec.fetchRequest.serialize(r) })),
  fc.record({ name: hostileText, messageBytesMax: fc.constantFrom(0, 1, 2 ** 31, 2 ** 53 - 1) }).map((r) => ({ method: ClientMethodPath.createTopic, body: codec.createTopicRequest.serialize(r) })),
  hostileText.map((group) => ({ method: ClientMethodPath.describeGroup, body: codec.groups.groupNameRequest.serialize({ group }) })),
  hostileText.filter((to) => !/^n\d$/.test(to)).map((to) => ({ method: ClientMethodPath.transfer, body: codec.transferRequest.serialize({ to }) })),
);

/** Bytes for the body of a call: random, protobuf-shaped, truncated, or over the node's limit. */
const bodyArbitrary: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.array(fieldArbitrary, { maxLength: 6 }).map(encodeFields),
  fc.tuple(fc.array(fieldArbitrary, { minLength: 1, maxLength: 6 }).map(encodeFields), fc.nat()).map(([bytes, cut]) => bytes.subarray(0, cut % Math.max(1, bytes.length))),
  fc.integer({ min: 1, max: 4096 }).map((extra) => Buffer.alloc(MAX_MESSAGE_BYTES + extra, 0x0a)),
);

const clientCallArbitrary = fc.oneof(
  { weight: 3, arbitrary: fc.record({ method: fc.constantFrom(...METHODS), body: bodyArbitrary }) },
  { weight: 1, arbitrary: validHostile },
);

// ---- calls with raw bytes ----

function outcomeOf(error: ServiceError | null): Outcome {
  return error === null ? { code: grpcStatus.OK, details: '' } : { code: error.code, details: error.details };
}

function callClientPort(client: Client, method: string, body: Buffer): Promise<Outcome> {
  const identity = (b: Buffer): Buffer => b;
  return new Promise((resolve) => {
    if (SERVER_STREAMS.has(method)) {
      const call = client.makeServerStreamRequest(method, identity, identity, body, new Metadata(), { deadline: Date.now() + STREAM_DEADLINE_MS });
      call.on('data', () => call.cancel());
      call.on('error', (error: ServiceError) => resolve(outcomeOf(error)));
      call.on('status', (s) => resolve({ code: s.code, details: s.details }));
      return;
    }
    if (BIDI_STREAMS.has(method)) {
      const call = client.makeBidiStreamRequest(method, identity, identity, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS });
      call.on('data', () => {});
      call.on('error', (error: ServiceError) => resolve(outcomeOf(error)));
      call.on('status', (s) => resolve({ code: s.code, details: s.details }));
      call.write(body);
      call.end();
      return;
    }
    client.makeUnaryRequest(method, identity, identity, body, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (error) => resolve(outcomeOf(error)));
  });
}

interface PeerCall {
  /** Whose stream the call claims to be; null: no metadata at all. */
  readonly claims: { readonly clusterId: string; readonly from: string; readonly to: string } | null;
  readonly batches: readonly Buffer[];
}

function callPeerPort(client: Client, call: PeerCall): Promise<Outcome> {
  const metadata = new Metadata();
  if (call.claims !== null) {
    metadata.set('quorumlog-cluster-id', call.claims.clusterId);
    metadata.set('quorumlog-from', call.claims.from);
    metadata.set('quorumlog-to', call.claims.to);
  }
  return new Promise((resolve) => {
    const stream = client.makeClientStreamRequest('/quorumlog.peer.Peer/Stream', (b: Buffer) => b, (b: Buffer) => b, metadata, { deadline: Date.now() + CALL_DEADLINE_MS }, (error) =>
      resolve(outcomeOf(error)),
    );
    for (const batch of call.batches) stream.write(batch);
    stream.end();
  });
}

/** Junk straight on the TCP socket, no HTTP/2 at all. */
async function tcpJunk(address: string, junk: Uint8Array): Promise<void> {
  const net = await import('node:net');
  const [host, port] = address.split(':');
  await new Promise<void>((resolve) => {
    const socket = net.connect({ host: host ?? '127.0.0.1', port: Number(port) }, () => socket.end(junk));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.setTimeout(1_000, () => socket.destroy());
  });
}

/** Status name -> count over the run, printed so a run shows what it reached. */
const seenCodes = new Map<string, number>();

function expectReadable(outcome: Outcome, what: string): void {
  const name = grpcStatus[outcome.code] ?? String(outcome.code);
  seenCodes.set(name, (seenCodes.get(name) ?? 0) + 1);
  expect(NODE_FAILURES.has(outcome.code), `${what}: ${grpcStatus[outcome.code]} ${outcome.details}`).toBe(false);
  if (outcome.code !== grpcStatus.OK) expect(outcome.details.trim(), `${what}: ${grpcStatus[outcome.code]} without a message`).not.toBe('');
}

/** fast-check's own report names the seed too; this line says how to replay it with this file. */
async function withSeed(property: fc.IAsyncProperty<[unknown]> | fc.IAsyncPropertyWithHooks<[unknown]>, runs: number): Promise<void> {
  try {
    await fc.assert(property, { numRuns: runs, seed: SEED, endOnFailure: true });
  } catch (error) {
    console.error(`[fuzz] failed after up to ${runs} runs; replay with FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`);
    throw error;
  }
}

describe('fuzzing the client and peer ports (real processes)', () => {
  let cluster: TestCluster;
  const peerCodec = new PeerCodec();

  beforeAll(async () => {
    cluster = await TestCluster.start({ label: 'fuzz', clusterId: CLUSTER_ID, extraArgs: ['--max-message-bytes', String(MAX_MESSAGE_BYTES), '--max-record-bytes', '4096'] });
    await cluster.leader();
  });

  let failed = false;
  afterEach((context) => {
    if (testFailed(context.task)) failed = true;
  });
  afterAll(async () => {
    await cluster?.stopAll({ keepData: failed });
    if (failed && cluster !== undefined) console.log(`[harness] data kept in ${cluster.dataRoot}\n${cluster.renderOutput()}`);
  });

  it(`keeps serving and loses nothing acknowledged (seed ${SEED}, ${RUNS} runs per port)`, async () => {
    console.log(`[fuzz] FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`);
    const before = new AppendWorkload(cluster.client(), 'fuzz-before');
    await before.run({ count: 50, concurrency: 2 });
    expect(before.acked).toHaveLength(50);

    const during = new AppendWorkload(cluster.client(), 'fuzz-during');
    let fuzzing = true;
    const writer = (async () => {
      for (let k = 0; k < 100_000 && fuzzing; k++) await during.appendOne();
    })();

    const clients = new Map(cluster.members.flatMap((m) => [
      [m.clientAddress, new Client(m.clientAddress, credentials.createInsecure())],
      [m.peerAddress, new Client(m.peerAddress, credentials.createInsecure())],
    ]));
    const clientFor = (address: string): Client => {
      const client = clients.get(address);
      if (client === undefined) throw new Error(`no client for ${address}`);
      return client;
    };
    try {
      const member = fc.constantFrom(...cluster.members);
      await withSeed(
        fc.asyncProperty(fc.record({ member, call: clientCallArbitrary }), async ({ member: m, call }) => {
          expectReadable(await callClientPort(clientFor(m.clientAddress), call.method, call.body), `${call.method} at ${m.id} with ${call.body.length} bytes`);
        }) as fc.IAsyncProperty<[unknown]>,
        RUNS,
      );

      const ids = cluster.ids;
      // A batch that decodes is refused by its envelope (another cluster), so nothing forged
      // ever reaches Raft; the decoding in front of that check is what is fuzzed.
      const foreignEnvelope = peerCodec.encodeEnvelope({ clusterId: 'not-this-cluster', from: nodeId(ids[1] ?? 'n2'), to: nodeId(ids[0] ?? 'n1') });
      const batch = fc.oneof(
        bodyArbitrary,
        fc.array(fieldArbitrary, { maxLength: 6 }).map((fields) => Buffer.concat([foreignEnvelope, encodeFields(fields)])),
        fc.tuple(fc.array(fieldArbitrary, { minLength: 1, maxLength: 4 }), fc.nat()).map(([fields, cut]) => {
          const whole = Buffer.concat([foreignEnvelope, Buffer.from([0x22]), Buffer.from(varint(BigInt(encodeFields(fields).length))), encodeFields(fields)]);
          return whole.subarray(0, foreignEnvelope.length + (cut % Math.max(1, whole.length - foreignEnvelope.length)));
        }),
      );
      const claims = fc.oneof(
        fc.constant(null),
        fc.record({ clusterId: fc.constantFrom(CLUSTER_ID, 'other'), from: fc.constantFrom(...ids, 'n99', ''), to: fc.constantFrom(...ids, 'n42') }),
      );
      await withSeed(
        fc.asyncProperty(fc.record({ member, claims, batches: fc.array(batch, { minLength: 1, maxLength: 3 }) }), async ({ member: m, claims: c, batches }) => {
          expectReadable(await callPeerPort(clientFor(m.peerAddress), { claims: c, batches }), `peer stream at ${m.id} claiming ${JSON.stringify(c)}`);
        }) as fc.IAsyncProperty<[unknown]>,
        Math.max(1, Math.floor(RUNS / 2)),
      );

      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...cluster.members), fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 512 }), async (m, peer, junk) => {
          await tcpJunk(peer ? m.peerAddress : m.clientAddress, junk);
        }),
        { numRuns: 10, seed: SEED },
      );
    } finally {
      fuzzing = false;
      await writer;
      for (const client of clients.values()) client.close();
    }

    console.log(`[fuzz] statuses: ${[...seenCodes].map(([name, count]) => `${name} ${count}`).join(', ')}; appends during: ${during.acked.length} acked, ${during.unknown.size} unknown, ${during.rejected.size} rejected`);
    expect(cluster.runningIds()).toEqual(cluster.ids);
    const after = await cluster.client().append([new TextEncoder().encode('after-fuzzing')]);
    expect(after.lastIndex).toBeGreaterThan(0);
    await cluster.converged();
    // Fuzzed appends wrote records of their own; the check covers the workloads' records.
    const logs = await readAllLogs(cluster);
    const ours = new Map([...logs].map(([id, log]): [string, LoggedRecord[]] => [id, log.filter((r) => r.payload.startsWith('fuzz-before-') || r.payload.startsWith('fuzz-during-'))]));
    expect(checkLogs(ours, [before, during])).toEqual([]);
    expect(during.acked.length).toBeGreaterThan(0);
  }, 240_000);
});
