import type protobuf from 'protobufjs';

import type { NodeId } from '../../raft/index.js';
import { MalformedMessageError } from './errors.js';
import { parseSchema, readSchema, schemaType } from './protobuf-runtime.js';

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
