import { crc32 } from 'node:zlib';

import { Metadata, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { NodeId } from '../../raft/index.js';
import { MalformedMessageError } from './errors.js';
import { toGrpcStatus } from './grpc-status.js';
import type { PeerListener } from './peer-listener.js';
import type { SnapshotChunk, SnapshotHeader, SnapshotProgress, SnapshotUpload } from './snapshot-codec.js';
import type { SnapshotIntake, SnapshotReceiving } from './snapshot-shipping.js';
import { heldBackNote, LogEvent, RepeatGate, type Log } from '../log/index.js';

/** An InstallSnapshot call as the receiver gets it: uploads decoded, or why one did not decode. */
export type InstallSnapshotCall = ServerDuplexStream<SnapshotUpload | MalformedMessageError, SnapshotProgress>;

export interface SnapshotReceiverOptions {
  readonly self: NodeId;
  /** The node's snapshot files; null: the node takes no snapshots, every call is refused UNIMPLEMENTED. */
  readonly snapshots: SnapshotReceiving | null;
  /** Admission: the same checks as the peer streams (cluster, sender, receiver, duplicate ids). */
  readonly listener: PeerListener;
  readonly log: Log;
}

/**
 * The receiving half of InstallSnapshot (peer.proto): one call per snapshot transfer, at most
 * one open per sender (a newer one ends the older with ABORTED, and opens its copy only once
 * the older one's last write settled, so two calls never write one partial copy).
 */
export class SnapshotReceiver {
  readonly #options: SnapshotReceiverOptions;
  readonly #active = new Map<NodeId, IncomingSnapshot>();
  /** Refused and failed transfers repeat as the leader retries: each cause logged at most once a minute. */
  readonly #repeats = new RepeatGate({ intervalMs: 60_000, keysMax: 64, nowMs: Date.now });
  #closing = false;

  constructor(options: SnapshotReceiverOptions) {
    this.#options = options;
  }

  /** The gRPC handler for Peer/InstallSnapshot. */
  readonly handle = (call: InstallSnapshotCall): void => {
    const snapshots = this.#options.snapshots;
    if (snapshots === null) {
      endWithStatus(call, status.UNIMPLEMENTED, `node ${this.#options.self} does not take snapshots over the peer port`);
      return;
    }
    if (this.#closing) {
      endWithStatus(call, status.UNAVAILABLE, 'the node is shutting down');
      return;
    }
    new IncomingSnapshot(call, snapshots, {
      admit: (header, incoming) => this.#admit(header, incoming),
      release: (incoming) => {
        if (this.#active.get(incoming.from) === incoming) this.#active.delete(incoming.from);
      },
      log: this.#options.log,
      repeats: this.#repeats,
    });
  };

  /** Ends every open transfer with UNAVAILABLE and refuses new ones; partial copies stay for a resume. */
  close(): void {
    this.#closing = true;
    for (const incoming of this.#active.values()) incoming.abort(status.UNAVAILABLE, 'the node is shutting down');
    this.#active.clear();
  }

  /** The refusal for a header; or, having made `incoming` its sender's active transfer, the one it replaces. */
  #admit(header: SnapshotHeader, incoming: IncomingSnapshot): Admission {
    const refusal = this.#closing ? 'the node is shutting down' : this.#options.listener.refusalOf(header, incoming.call.metadata, incoming.call.getPeer(), incoming.call);
    if (refusal !== null) return { refusal };
    const replaced = this.#active.get(header.from) ?? null;
    this.#active.set(header.from, incoming);
    return { replaced };
  }
}

type Admission = { readonly refusal: string } | { readonly replaced: IncomingSnapshot | null };

interface IncomingHooks {
  /** Admits the header (or says why not), making the call its sender's active transfer. */
  readonly admit: (header: SnapshotHeader, incoming: IncomingSnapshot) => Admission;
  readonly release: (incoming: IncomingSnapshot) => void;
  readonly log: Log;
  /** Holds back repeats of a refusal or failure (keyed by its cause). */
  readonly repeats: RepeatGate;
}

/**
 * One InstallSnapshot call on the receiver.
 * awaitingHeader: the call is open, nothing read yet.
 * opening: admitted; waiting for a replaced transfer to settle and for the intake to open.
 * receiving: progress sent; chunks are checked and written in order.
 * finishing: every byte written and the sender half-closed; the intake verifies and publishes.
 * ended: a status was sent (or the sender went away); nothing more is read or written.
 */
type IncomingState = 'awaitingHeader' | 'opening' | 'receiving' | 'finishing' | 'ended';

class IncomingSnapshot {
  #state: IncomingState = 'awaitingHeader';
  #from: NodeId | null = null;
  #header: SnapshotHeader | null = null;
  #intake: SnapshotIntake | null = null;
  /** Bytes the intake holds: the offset the next chunk must have. */
  #receivedBytes = 0;
  /** receivedBytes as last told to the sender. */
  #acknowledgedBytes = 0;
  /**
   * Every piece of work on the call, in arrival order: uploads are handled one at a time (the
   * call is paused meanwhile, so HTTP/2 flow control holds the sender back), and the sender's
   * half-close after them. Settles once no intake operation is running.
   */
  #work: Promise<void> = Promise.resolve();

  constructor(
    readonly call: InstallSnapshotCall,
    readonly snapshots: SnapshotReceiving,
    readonly hooks: IncomingHooks,
  ) {
    call.on('data', (upload: SnapshotUpload | MalformedMessageError) => {
      if (this.#state === 'ended') return;
      call.pause();
      this.#enqueue(async () => {
        await this.#onUpload(upload);
        if (this.#state !== 'ended') call.resume();
      });
    });
    call.on('end', () => this.#enqueue(() => this.#onSenderDone()));
    call.on('cancelled', () => this.#becomeEnded());
    call.on('error', () => this.#becomeEnded());
  }

  get from(): NodeId {
    if (this.#from === null) throw new Error('IncomingSnapshot.from read before its header was admitted');
    return this.#from;
  }

  /** Settles once no intake operation of this call is running. */
  settled(): Promise<void> {
    return this.#work;
  }

  /** Ends the call with `code` (the transfer was replaced, or the node is closing). */
  abort(code: status, details: string): void {
    this.#endWith(code, details);
  }

  #enqueue(work: () => Promise<void>): void {
    this.#work = this.#work.then(work).catch((error: unknown) => {
      const failure = toGrpcStatus(error);
      this.#endWith(failure.code, failure.details, failure.metadata);
    });
  }

  async #onUpload(upload: SnapshotUpload | MalformedMessageError): Promise<void> {
    if (this.#state === 'ended') return;
    if (upload instanceof MalformedMessageError) return this.#endWith(status.INVALID_ARGUMENT, upload.message);
    if (this.#state === 'awaitingHeader') {
      if (upload.part !== 'header') return this.#endWith(status.INVALID_ARGUMENT, 'an InstallSnapshot call must start with its header');
      return this.#open(upload.header);
    }
    if (this.#state !== 'receiving') throw new Error(`InstallSnapshot: an upload arrived while ${this.#state}`);
    if (upload.part !== 'chunk') return this.#endWith(status.INVALID_ARGUMENT, 'a second header on one InstallSnapshot call');
    return this.#write(upload.chunk);
  }

  async #open(header: SnapshotHeader): Promise<void> {
    const admission = this.hooks.admit(header, this);
    if ('refusal' in admission) {
      const heldBack = this.hooks.repeats.pass(admission.refusal);
      if (heldBack !== null) this.hooks.log.warn(`refused a snapshot from ${this.call.getPeer()}: ${admission.refusal}${heldBackNote(heldBack)}`, { event: LogEvent.snapshotRefused });
      return this.#endWith(status.FAILED_PRECONDITION, admission.refusal);
    }
    this.#becomeOpening(header);
    const replaced = admission.replaced;
    if (replaced !== null) {
      replaced.abort(status.ABORTED, 'replaced by a newer InstallSnapshot from the same peer');
      await replaced.settled();
    }
    if (this.#state !== 'opening') return;
    const intake = await this.snapshots.open(header.message, header.totalBytes);
    if (this.#state !== 'opening') return;
    const held = intake.receivedBytes;
    if (!(Number.isSafeInteger(held) && held >= 0 && held <= header.totalBytes)) {
      throw new Error(`the partial copy holds ${held} bytes of a ${header.totalBytes}-byte snapshot`);
    }
    this.#intake = intake;
    this.#receivedBytes = held;
    this.#acknowledgedBytes = held;
    this.#state = 'receiving';
    this.call.write({ receivedBytes: held, done: false });
  }

  #becomeOpening(header: SnapshotHeader): void {
    if (this.#state !== 'awaitingHeader') throw new Error(`InstallSnapshot: opening from ${this.#state}`);
    this.#state = 'opening';
    this.#from = header.from;
    this.#header = header;
  }

  async #write(chunk: SnapshotChunk): Promise<void> {
    const header = this.#header;
    const intake = this.#intake;
    if (header === null || intake === null) throw new Error('InstallSnapshot: a chunk before the copy was open');
    if (crc32(chunk.data) !== chunk.crc32) {
      return this.#endWith(status.DATA_LOSS, `the ${chunk.data.length}-byte chunk at offset ${chunk.offset} fails its crc32: damaged in transit`);
    }
    if (chunk.offset !== this.#receivedBytes) {
      return this.#endWith(status.INVALID_ARGUMENT, `a chunk at offset ${chunk.offset}, where the copy ends at ${this.#receivedBytes}`);
    }
    if (chunk.data.length === 0 || chunk.offset + chunk.data.length > header.totalBytes) {
      return this.#endWith(status.INVALID_ARGUMENT, `a ${chunk.data.length}-byte chunk at offset ${chunk.offset} of a ${header.totalBytes}-byte snapshot`);
    }
    await intake.write(chunk.offset, chunk.data);
    if (this.#state !== 'receiving') return;
    this.#receivedBytes += chunk.data.length;
    if (this.#receivedBytes - this.#acknowledgedBytes >= header.ackEveryBytes) {
      this.#acknowledgedBytes = this.#receivedBytes;
      this.call.write({ receivedBytes: this.#receivedBytes, done: false });
    }
  }

  async #onSenderDone(): Promise<void> {
    if (this.#state === 'ended') return;
    const header = this.#header;
    const intake = this.#intake;
    if (this.#state !== 'receiving' || header === null || intake === null) {
      return this.#endWith(status.INVALID_ARGUMENT, 'the sender ended the InstallSnapshot call before it was open');
    }
    if (this.#receivedBytes !== header.totalBytes) {
      return this.#endWith(status.INVALID_ARGUMENT, `the sender ended at ${this.#receivedBytes} of ${header.totalBytes} bytes`);
    }
    this.#state = 'finishing';
    await intake.finish();
    if (this.#state !== 'finishing') return;
    this.hooks.log.info(`installed snapshot ${header.message.snapshot.index} (term ${header.message.snapshot.term}, ${header.totalBytes} bytes) from ${header.from}`, {
      event: LogEvent.snapshotReceived,
      index: header.message.snapshot.index,
      bytes: header.totalBytes,
      from: header.from,
    });
    this.call.write({ receivedBytes: header.totalBytes, done: true });
    this.#becomeEnded();
    this.call.end();
  }

  /** Ends the call with an error status, once. */
  #endWith(code: status, details: string, metadata: Metadata = new Metadata()): void {
    if (this.#state === 'ended') return;
    const from = this.#from ?? 'an unadmitted sender';
    this.#becomeEnded();
    const heldBack = code === status.FAILED_PRECONDITION ? null : this.hooks.repeats.pass(`${from} ${details}`);
    if (heldBack !== null) this.hooks.log.warn(`snapshot transfer from ${from} ended: ${details}${heldBackNote(heldBack)}`, { event: LogEvent.snapshotTransferEnded });
    this.call.emit('error', { code, details, metadata });
  }

  #becomeEnded(): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    if (this.#from !== null) this.hooks.release(this);
  }
}

function endWithStatus(call: InstallSnapshotCall, code: status, details: string): void {
  call.emit('error', { code, details, metadata: new Metadata() });
}
