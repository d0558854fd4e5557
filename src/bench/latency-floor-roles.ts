import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import * as grpc from '@grpc/grpc-js';

import { DURABLE_WRITE_BLOCK_BYTES, NodeFileSystem } from '../../storage/index.js';

/**
 * The two server roles of the latency floor (latency-floor.ts) and the one gRPC method they
 * speak: a bidirectional stream of raw records, each answered by one byte once it is durable.
 * No protobuf, no framing, no checksums: only the hops and the syncs any implementation pays.
 * Nothing here runs on import; latency-floor-child.ts runs a role in a child process.
 */

/** fdatasyncs each node pays per record: 2 as the ordered durable mark (data, then mark), 1 as the lagging mark, 0 as flush async. */
export type FloorFsyncs = 0 | 1 | 2;

/** What a role's child process is told on its command line (one JSON argument). */
export type FloorRoleOptions =
  | { readonly role: 'follower'; readonly dir: string; readonly name: string; readonly fsyncsPerNode: FloorFsyncs; readonly recordBytes: number }
  | { readonly role: 'leader'; readonly dir: string; readonly fsyncsPerNode: FloorFsyncs; readonly recordBytes: number; readonly followerPorts: readonly number[] };

/** What a role's child sends its parent over IPC once it listens. */
export interface FloorListening {
  readonly port: number;
}

const identity = (bytes: Buffer): Buffer => bytes;
const RELAY_PATH = '/floor.Floor/Relay';
const RELAY: grpc.ServiceDefinition = {
  relay: { path: RELAY_PATH, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};
/** A record up to the bench's largest --size (4 MiB) must pass grpc-js's default 4 MiB limit. */
const CHANNEL_OPTIONS = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 } as const;
const DONE = Buffer.from([1]);
const MARK_BYTES = 256;
const MARK_SLOT_BYTES = 4096;

const fdatasync = promisify(fs.fdatasync);

/**
 * Each record made durable into preallocated, synced zeros the way the log's sync mode does
 * it (NodeFileSystem.writeDurably: one write past the page cache, durable when it returns,
 * where the file system takes O_DIRECT), then, with 2 fsyncs, a 256-byte mark into another
 * file and its fdatasync (as the ordered durable mark does); with 0, a page-cache write only.
 * Records persist one after another, in arrival order, as a log's do: the returned
 * function's promises settle in the order it was called.
 */
export function durableWriter(options: { readonly dir: string; readonly name: string; readonly fsyncsPerNode: FloorFsyncs; readonly recordBytes: number }): (record: Buffer) => Promise<void> {
  const fileBytes = Math.max(16 << 20, options.recordBytes * 4);
  const dataPath = path.join(options.dir, `${options.name}.data`);
  const zeros = fs.openSync(dataPath, 'w+');
  const mark = fs.openSync(path.join(options.dir, `${options.name}.mark`), 'w+');
  fs.writeSync(zeros, Buffer.alloc(fileBytes));
  fs.writeSync(mark, Buffer.alloc(2 * MARK_SLOT_BYTES));
  fs.fsyncSync(zeros);
  fs.fsyncSync(mark);
  fs.closeSync(zeros);
  const files = new NodeFileSystem();
  const data = files.open(dataPath, 'existing');
  const markBytes = Buffer.alloc(MARK_BYTES, 2);
  let at = 0;
  let slot = 0;
  const persist = async (record: Buffer): Promise<void> => {
    const position = at;
    at = (at + record.length) % (fileBytes - record.length - DURABLE_WRITE_BLOCK_BYTES);
    if (options.fsyncsPerNode === 0) files.writeAt(data, record, position);
    else await files.writeDurably(data, record, position);
    if (options.fsyncsPerNode === 2) {
      fs.writeSync(mark, markBytes, 0, markBytes.length, slot * MARK_SLOT_BYTES);
      slot ^= 1;
      await fdatasync(mark);
    }
  };
  let tail: Promise<void> = Promise.resolve();
  return (record) => {
    tail = tail.then(() => persist(record));
    return tail;
  };
}

/** Serves the relay on a free loopback port; `onRecord` gets each record and a function that answers it. */
export function serveRelay(onRecord: (record: Buffer, answer: () => void) => void): Promise<number> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(RELAY, {
    relay: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (record: Buffer) => onRecord(record, () => call.write(DONE)));
      call.on('end', () => call.end());
    },
  });
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error === null ? resolve(port) : reject(error)));
  });
}

/** A relay stream to a loopback port, with the client that owns it (close it after the stream). */
export function dialRelay(port: number): { readonly client: grpc.Client; readonly stream: grpc.ClientDuplexStream<Buffer, Buffer> } {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  return { client, stream: client.makeBidiStreamRequest(RELAY_PATH, identity, identity) };
}

/** How many nodes hold record `record` (1-based): those whose durable count reaches it. No array made: this runs every answer. */
function holding(durable: readonly number[], record: number): number {
  let nodes = 0;
  for (const count of durable) if (count >= record) nodes++;
  return nodes;
}

/** A follower: persists each record it is sent and answers it once durable. Resolves with its port. */
export function runFollower(options: Extract<FloorRoleOptions, { role: 'follower' }>): Promise<number> {
  const persist = durableWriter(options);
  return serveRelay((record, answer) => void persist(record).then(answer));
}

/**
 * The leader: forwards each record to every follower, persists it itself, and answers once a
 * majority of the nodes (itself included) hold it durably. A node's answers come in record
 * order, so counting them per node says which records it holds; a slow node's late answer to
 * one record never counts for the next.
 */
export async function runLeader(options: Extract<FloorRoleOptions, { role: 'leader' }>): Promise<number> {
  const persist = durableWriter({ ...options, name: 'leader' });
  const nodes = options.followerPorts.length + 1;
  const majority = Math.floor(nodes / 2) + 1;
  // Records each node holds durably (index 0: the leader), and the records received so far.
  const durable = new Array<number>(nodes).fill(0);
  const pending: (() => void)[] = [];
  let received = 0;
  let answered = 0;
  const settle = (): void => {
    // Bounded by the records received: each pass answers one.
    while (answered < received && holding(durable, answered + 1) >= majority) {
      answered++;
      pending.shift()?.();
    }
  };
  const links = options.followerPorts.map(dialRelay);
  links.forEach((link, k) => {
    link.stream.on('data', () => {
      durable[k + 1] = (durable[k + 1] ?? 0) + 1;
      settle();
    });
  });
  return serveRelay((record, answer) => {
    received++;
    pending.push(answer);
    for (const link of links) link.stream.write(record);
    void persist(record).then(() => {
      durable[0] = (durable[0] ?? 0) + 1;
      settle();
    });
  });
}
