import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';

import type { IncarnationCheck, IncarnationCheckAnswer, IncarnationCheckCodec } from './incarnation-check.js';
import { PEER_CHECK_INCARNATION_PATH } from './peer-service.js';

/** The channel to the peer and the codec of the call. */
export interface IncarnationCheckCaller {
  readonly client: Client;
  readonly codec: IncarnationCheckCodec;
}

/**
 * Asks the peer behind `caller.client` the question of `check`; rejects with the gRPC error
 * when the peer does not answer within `deadlineMs` or refuses (not a member there, another
 * cluster...).
 */
export function askIncarnation(caller: IncarnationCheckCaller, check: IncarnationCheck, deadlineMs: number): Promise<IncarnationCheckAnswer> {
  return new Promise((resolve, reject) => {
    caller.client.makeUnaryRequest<IncarnationCheck, IncarnationCheckAnswer>(
      PEER_CHECK_INCARNATION_PATH,
      (request) => caller.codec.encodeCheck(request),
      (bytes: Buffer) => caller.codec.decodeAnswer(bytes),
      check,
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error: ServiceError | null, answer?: IncarnationCheckAnswer) => {
        if (error !== null || answer === undefined) reject(error ?? new Error('CheckIncarnation ended without an answer'));
        else resolve(answer);
      },
    );
  });
}
