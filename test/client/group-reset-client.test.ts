import { afterEach, describe, expect, it } from 'vitest';

import { Admin, FailedPreconditionError, InvalidArgumentError, LogClient, OutOfRangeError } from '../../src/client/index.js';
import { BrokerRefusedError, ClientCodec, GroupMethodPath, OutOfRangeError as NodeOutOfRangeError, startClientServer, type ClientServer, type GroupService, type ResetGroupInput, type ResetGroupOutcome, type ResetGroupRequestMessage } from '../../src/transport/index.js';
import { ErrorCode } from '../../errors/index.js';
import { ephemeralPort } from '../harness/index.js';
import { FakeClientService } from './fake-client-service.js';

/**
 * ResetGroup on the wire: the codec, the handler and Admin.resetGroup against a group
 * service that records what it is asked and answers what the test says.
 */

const servers: ClientServer[] = [];

afterEach(async () => {
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

function recordingGroups(answer: (request: ResetGroupInput) => Promise<ResetGroupOutcome>): GroupService & { requests: ResetGroupInput[] } {
  const unused = (): never => {
    throw new Error('not used');
  };
  const requests: ResetGroupInput[] = [];
  return {
    requests,
    createGroup: unused,
    deleteGroup: unused,
    listGroups: unused,
    describeGroup: unused,
    ack: unused,
    nack: unused,
    extend: unused,
    leave: unused,
    consume: unused,
    resetGroup: (request) => {
      requests.push(request);
      return answer(request);
    },
  };
}

async function serve(groups: GroupService): Promise<Admin> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  servers.push(await startClientServer({ listenAddress: address, service: new FakeClientService(), groups, messageBytesMax: 4 * 1024 * 1024 }));
  return new Admin({ brokers: [address], timeoutMs: 5_000 });
}

describe('ResetGroup', () => {
  it('the request and response round-trip through the codec, large values included', () => {
    const codec = new ClientCodec().groups;
    // Decoded messages hold zero values on their prototype (protobufjs): compare the fields read.
    const plain = (m: ResetGroupRequestMessage): unknown => ({ group: m.group, to: m.to === null || m.to === undefined ? null : { kind: m.to.kind, value: m.to.value }, force: m.force });
    for (const request of [
      { group: 'g', to: { kind: 0, value: 0 }, force: false },
      { group: 'g', to: { kind: 2, value: 2 ** 52 }, force: true },
      { group: 'g.x-1', to: { kind: 3, value: 1_700_000_000_000 }, force: false },
    ]) {
      expect(plain(codec.resetGroupRequest.deserialize(codec.resetGroupRequest.serialize(request)))).toEqual(request);
    }
    const response = { committedOffset: 2 ** 50, previousCommittedOffset: 7, forgotten: 100_000 };
    const decoded = codec.resetGroupResponse.deserialize(codec.resetGroupResponse.serialize(response));
    expect({ committedOffset: decoded.committedOffset, previousCommittedOffset: decoded.previousCommittedOffset, forgotten: decoded.forgotten }).toEqual(response);
    expect(plain(codec.resetGroupRequest.deserialize(codec.resetGroupRequest.serialize({ group: 'g', force: false })))).toEqual({ group: 'g', to: null, force: false });
  });

  it('Admin.resetGroup sends each target and force, and answers the new committed offset', async () => {
    const groups = recordingGroups((r) => Promise.resolve({ committedOffset: r.to.kind === 'offset' ? r.to.offset : 5, previousCommittedOffset: 2, forgotten: r.force ? 3 : 0 }));
    const admin = await serve(groups);
    try {
      expect(await admin.resetGroup('g', { to: 'earliest' })).toEqual({ committedOffset: 5, previousCommittedOffset: 2, forgotten: 0 });
      expect(await admin.resetGroup('g', { to: 'latest', force: true })).toEqual({ committedOffset: 5, previousCommittedOffset: 2, forgotten: 3 });
      expect(await admin.resetGroup('g', { to: { offset: 2 ** 40 } })).toMatchObject({ committedOffset: 2 ** 40 });
      await admin.resetGroup('g', { to: { timeMs: 1_700_000_000_000 } });
      expect(groups.requests).toEqual([
        { group: 'g', to: { kind: 'earliest' }, force: false },
        { group: 'g', to: { kind: 'latest' }, force: true },
        { group: 'g', to: { kind: 'offset', offset: 2 ** 40 }, force: false },
        { group: 'g', to: { kind: 'time', timeMs: 1_700_000_000_000 }, force: false },
      ]);
      // Refused before anything is sent.
      await expect(admin.resetGroup('g', { to: { offset: -1 } })).rejects.toThrow(InvalidArgumentError);
      await expect(admin.resetGroup('g', { to: { timeMs: 1.5 } })).rejects.toThrow(/a time must be a whole number/);
      expect(groups.requests).toHaveLength(4);
    } finally {
      await admin.close();
    }
  });

  it('a refusal reaches the caller typed: FAILED_PRECONDITION, and OUT_OF_RANGE with the earliest offset kept', async () => {
    const admin = await serve(
      recordingGroups((r) =>
        Promise.reject(
          r.to.kind === 'offset'
            ? new NodeOutOfRangeError('offset 3 of topic t was deleted by retention; the earliest offset kept is 40', 40)
            : new BrokerRefusedError(ErrorCode.failedPrecondition, 'group g has 2 message(s) in flight to consumer(s) c1; a reset would forget them'),
        ),
      ),
    );
    try {
      await expect(admin.resetGroup('g', { to: 'latest' })).rejects.toSatisfy((e: unknown) => e instanceof FailedPreconditionError && /in flight to consumer\(s\) c1/.test(e.message));
      const outOfRange = await admin.resetGroup('g', { to: { offset: 3 } }).catch((e: unknown) => e);
      expect(outOfRange).toBeInstanceOf(OutOfRangeError);
      expect((outOfRange as OutOfRangeError).earliestOffset).toBe(40);
    } finally {
      await admin.close();
    }
  });

  it('a request without a target is INVALID_ARGUMENT, never a reset to earliest by default', async () => {
    const groups = recordingGroups(() => Promise.resolve({ committedOffset: 0, previousCommittedOffset: 0, forgotten: 0 }));
    const address = `127.0.0.1:${await ephemeralPort()}`;
    servers.push(await startClientServer({ listenAddress: address, service: new FakeClientService(), groups, messageBytesMax: 4 * 1024 * 1024 }));
    // Admin always sends a target: a raw call leaves it out.
    const client = new LogClient({ brokers: [address], timeoutMs: 5_000 });
    try {
      const c = client.codec.groups;
      const sent = client.unaryCall(
        { operation: 'resetGroup', delivery: 'once', path: GroupMethodPath.resetGroup, serialize: c.resetGroupRequest.serialize, deserialize: c.resetGroupResponse.deserialize },
        { group: 'g', force: false },
        {},
      );
      await expect(sent).rejects.toSatisfy((e: unknown) => e instanceof InvalidArgumentError && /needs a target/.test(e.message));
      expect(groups.requests).toEqual([]);
    } finally {
      await client.close();
    }
  });
});
