import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';

import type { IncarnationCheck, IncarnationCheckAnswer, IncarnationCheckCodec } from './incarnation-check.js';
import { PEER_CHECK_INCARNATION_PATH, PeerMetadataKey } from './peer-service.js';

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
