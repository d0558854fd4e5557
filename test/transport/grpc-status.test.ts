/**
 * The one table from error codes to gRPC statuses (src/transport/grpc-status.ts): total over
 * ErrorCode, and readable back, so a client that gets only a status still picks a code that
 * the same status stands for.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { ErrorCode } from '../../errors/index.js';
import { codeOfGrpcStatus, ErrorMetadataKey, grpcStatusOf, readErrorCode, toGrpcStatus } from '../../src/transport/index.js';
import * as nodeErrors from '../../src/transport/node-errors.js';
import { CorruptRecordError } from '../../storage/index.js';

const everyCode = Object.values(ErrorCode);
const everyStatus = Object.values(status).filter((s): s is status => typeof s === 'number' && s !== status.OK);

describe('error code <-> gRPC status table', () => {
  it.each(everyCode)('%s maps to a gRPC error status, and that status reads back as a code with the same status', (code) => {
    const grpc = grpcStatusOf(code);
    expect(everyStatus).toContain(grpc);
    const back = codeOfGrpcStatus(grpc);
    expect(everyCode).toContain(back);
    expect(grpcStatusOf(back)).toBe(grpc);
  });

  it('every gRPC error status reads as a code (a proxy or a foreign server sends none), and one the table uses reads as a code of that status', () => {
    const tableStatuses = new Set(everyCode.map(grpcStatusOf));
    for (const grpc of everyStatus) {
      const code = codeOfGrpcStatus(grpc);
      expect(everyCode, status[grpc]).toContain(code);
      if (tableStatuses.has(grpc)) expect(grpcStatusOf(code), status[grpc]).toBe(grpc);
    }
    expect(codeOfGrpcStatus(status.UNKNOWN)).toBe(ErrorCode.internal);
  });

  it('the codes a node answers with read back as themselves where they own their status', () => {
    expect(codeOfGrpcStatus(status.INVALID_ARGUMENT)).toBe(ErrorCode.invalidArgument);
    expect(codeOfGrpcStatus(status.NOT_FOUND)).toBe(ErrorCode.notFound);
    expect(codeOfGrpcStatus(status.ALREADY_EXISTS)).toBe(ErrorCode.alreadyExists);
    expect(codeOfGrpcStatus(status.RESOURCE_EXHAUSTED)).toBe(ErrorCode.resourceExhausted);
    expect(codeOfGrpcStatus(status.FAILED_PRECONDITION)).toBe(ErrorCode.failedPrecondition);
    expect(codeOfGrpcStatus(status.DEADLINE_EXCEEDED)).toBe(ErrorCode.deadlineExceeded);
    expect(codeOfGrpcStatus(status.UNAVAILABLE)).toBe(ErrorCode.unavailable);
    expect(codeOfGrpcStatus(status.UNIMPLEMENTED)).toBe(ErrorCode.unimplemented);
    expect(codeOfGrpcStatus(status.INTERNAL)).toBe(ErrorCode.internal);
    expect(codeOfGrpcStatus(status.UNAUTHENTICATED)).toBe(ErrorCode.unauthenticated);
  });

  it('a node error crosses as its table status with its code in the quorumlog-error trailer', () => {
    const errors = [
      new nodeErrors.InvalidArgumentError('bad'),
      new nodeErrors.NotFoundError('gone'),
      new nodeErrors.NotLeaderError(null),
      new nodeErrors.BrokerRefusedError(ErrorCode.transactionDecided, 'already rolled back'),
      new nodeErrors.BrokerRefusedError(ErrorCode.unknownProducer, 'expired'),
      new nodeErrors.UnimplementedError('no such method here'),
      new nodeErrors.UnauthenticatedError('user alice: unknown user or wrong password'),
    ];
    for (const error of errors) {
      const sent = toGrpcStatus(error);
      expect(sent.code, error.name).toBe(grpcStatusOf(error.code));
      expect(sent.metadata?.get(ErrorMetadataKey.errorCode), error.name).toEqual([error.code]);
      expect(readErrorCode(sent.metadata)).toBe(error.code);
    }
  });

  it('anything that is not a node error and carries none of the codes crosses as INTERNAL with the internal code', () => {
    const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    for (const error of [new TypeError('x is not a function'), enoent]) {
      const sent = toGrpcStatus(error);
      expect(sent.code).toBe(status.INTERNAL);
      expect(readErrorCode(sent.metadata)).toBe(ErrorCode.internal);
    }
  });

  it("a lower layer's error carrying one of the codes crosses with it: a record found damaged on read is DATA_LOSS", () => {
    const sent = toGrpcStatus(new CorruptRecordError('/data/n1/log/00000000000000000001.log', 4096, 7, 'bad-crc'));
    expect(sent.code).toBe(status.DATA_LOSS);
    expect(readErrorCode(sent.metadata)).toBe(ErrorCode.corruptRecord);
    expect(sent.details).toContain('corrupt record in /data/n1/log/00000000000000000001.log at byte 4096 (expected index 7)');
  });

  it('a trailer that is not one of the codes reads as missing', () => {
    const metadata = new Metadata();
    metadata.set(ErrorMetadataKey.errorCode, 'notAThing');
    expect(readErrorCode(metadata)).toBeUndefined();
    expect(readErrorCode(new Metadata())).toBeUndefined();
    expect(readErrorCode(undefined)).toBeUndefined();
  });
});
