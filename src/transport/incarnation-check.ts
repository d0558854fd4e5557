import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';

import type { NodeId } from '../../raft/index.js';
import { MalformedMessageError } from './errors.js';
import { PeerMetadataKey } from './peer-service.js';
import { parseSchema, readSchema, schemaType } from './protobuf-runtime.js';

/** gRPC path of peer.proto's CheckIncarnation. */
export const PEER_CHECK_INCARNATION_PATH = '/quorumlog.peer.Peer/CheckIncarnation';

/**
 * A member's answer to "do you know another data directory under my id?":
 * accepted: it recorded the asker's incarnation for the id, or none (and records it now);
 * wiped: it recorded another, so the asker's disk was wiped or replaced under the id.
 */
export type IncarnationVerdict = 'accepted' | 'wiped';

export interface IncarnationCheckAnswer {
  readonly verdict: IncarnationVerdict;
  /** The incarnation the member had recorded for the asker's id ('' for none). */
  readonly recorded: string;
}

/** A CheckIncarnation request: who asks, whom, and from which data directory. */
export interface IncarnationCheck {
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly incarnation: string;
}

/** The wire's enum numbers (peer.proto IncarnationVerdict). */
const VERDICT_NUMBER: Readonly<Record<IncarnationVerdict, number>> = { accepted: 1, wiped: 2 };

/** Encodes and decodes peer.proto's IncarnationCheck and IncarnationCheckAnswer. */
export class IncarnationCheckCodec {
  readonly #check: protobuf.Type;
  readonly #answer: protobuf.Type;

  constructor() {
    const root = parseSchema(readSchema('peer.proto'));
    this.#check = schemaType(root, 'quorumlog.peer.IncarnationCheck');
    this.#answer = schemaType(root, 'quorumlog.peer.IncarnationCheckAnswer');
  }

  encodeCheck(check: IncarnationCheck): Buffer {
    return Buffer.from(this.#check.encode({ clusterId: check.clusterId, from: check.from, to: check.to, incarnation: check.incarnation }).finish());
  }

  /** MalformedMessageError for bytes that are not an IncarnationCheck. */
  decodeCheck(bytes: Uint8Array): IncarnationCheck {
    let wire: { readonly clusterId: string; readonly from: string; readonly to: string; readonly incarnation: string };
    try {
      wire = this.#check.decode(bytes) as unknown as typeof wire;
    } catch (error) {
      throw new MalformedMessageError(`an IncarnationCheck that does not decode: ${(error as Error).message}`, { cause: error });
    }
    return { clusterId: wire.clusterId, from: wire.from as NodeId, to: wire.to as NodeId, incarnation: wire.incarnation };
  }

  encodeAnswer(answer: IncarnationCheckAnswer): Buffer {
    return Buffer.from(this.#answer.encode({ verdict: VERDICT_NUMBER[answer.verdict], recorded: answer.recorded }).finish());
  }

  /** MalformedMessageError for bytes that are not an answer, or one without a verdict this build knows. */
  decodeAnswer(bytes: Uint8Array): IncarnationCheckAnswer {
    let wire: { readonly verdict: number; readonly recorded: string };
    try {
      wire = this.#answer.decode(bytes) as unknown as typeof wire;
    } catch (error) {
      throw new MalformedMessageError(`an IncarnationCheckAnswer that does not decode: ${(error as Error).message}`, { cause: error });
    }
    const verdict = (Object.keys(VERDICT_NUMBER) as IncarnationVerdict[]).find((v) => VERDICT_NUMBER[v] === wire.verdict);
    if (verdict === undefined) throw new MalformedMessageError(`an IncarnationCheckAnswer with verdict ${wire.verdict}, which this node does not know`);
    return { verdict, recorded: wire.recorded };
  }
}

/** What the asking side sends beside the request (as on every peer call). */
export interface IncarnationCheckCaller {
  readonly client: Client;
  readonly codec: IncarnationCheckCodec;
  readonly boot: string;
  readonly advertisedAddress?: string;
}

/**
 * Asks the peer behind `caller.client` the question of `check`; rejects with the gRPC error
 * when the peer does not answer within `deadlineMs` or refuses (not a member there, another
 * cluster...).
 */
export function askIncarnation(caller: IncarnationCheckCaller, check: IncarnationCheck, deadlineMs: number): Promise<IncarnationCheckAnswer> {
  const metadata = new Metadata();
  metadata.set(PeerMetadataKey.clusterId, check.clusterId);
  metadata.set(PeerMetadataKey.from, check.from);
  metadata.set(PeerMetadataKey.to, check.to);
  metadata.set(PeerMetadataKey.incarnation, check.incarnation);
  metadata.set(PeerMetadataKey.boot, caller.boot);
  if (caller.advertisedAddress !== undefined) metadata.set(PeerMetadataKey.peerAddress, caller.advertisedAddress);
  return new Promise((resolve, reject) => {
    caller.client.makeUnaryRequest<IncarnationCheck, IncarnationCheckAnswer>(
      PEER_CHECK_INCARNATION_PATH,
      (request) => caller.codec.encodeCheck(request),
      (bytes: Buffer) => caller.codec.decodeAnswer(bytes),
      check,
      metadata,
      { deadline: Date.now() + deadlineMs },
      (error: ServiceError | null, answer?: IncarnationCheckAnswer) => {
        if (error !== null || answer === undefined) reject(error ?? new Error('CheckIncarnation ended without an answer'));
        else resolve(answer);
      },
    );
  });
}
