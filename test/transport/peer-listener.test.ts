import { EventEmitter } from 'node:events';

import { Metadata, status, type sendUnaryData } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { index, nodeId, term } from '../../raft/index.js';
import { PeerListener } from '../../src/transport/peer-listener.js';
import { PeerMetadataKey, PeerRefusal } from '../../src/transport/peer-service.js';
import type { StreamSummary } from '../../src/transport/peer-codec.js';
import { SILENT_LOG } from '../../src/log/index.js';

/**
 * PeerListener's one-process-per-id rule, driven by hand: fake stream calls, a fake clock.
 * A follower sends nothing to another follower while a third node leads, so an established
 * process can stay silent on an open stream for as long as the cluster is quiet.
 */

class FakeCall extends EventEmitter {
  readonly metadata = new Metadata();
  constructor(
    incarnation: string,
    boot: string,
    private readonly peer: string,
  ) {
    super();
    this.metadata.set(PeerMetadataKey.clusterId, 'c');
    this.metadata.set(PeerMetadataKey.from, 'n1');
    this.metadata.set(PeerMetadataKey.to, 'n3');
    this.metadata.set(PeerMetadataKey.incarnation, incarnation);
    this.metadata.set(PeerMetadataKey.boot, boot);
  }
  getPeer(): string {
    return this.peer;
  }
  sendMetadata(): void {}
}

interface Ending {
  readonly code: status | null;
  readonly refusal: string | undefined;
}

function open(listener: PeerListener, call: FakeCall): { ended: () => Ending | null } {
  let ending: Ending | null = null;
  const finish: sendUnaryData<StreamSummary> = (error) => {
    const refusal = error !== null && typeof error === 'object' && 'metadata' in error ? (error.metadata as Metadata | undefined)?.get(PeerMetadataKey.refusal)[0] : undefined;
    ending = { code: error === null ? null : (error.code ?? null), refusal: typeof refusal === 'string' ? refusal : undefined };
  };
  listener.handle(call as never, finish);
  return { ended: () => ending };
}

const heartbeat = { type: 'heartbeat', from: nodeId('n1'), to: nodeId('n3'), term: term(1), commit: index(0), context: '' } as const;

describe('PeerListener: one live process per node id', () => {
  it('refuses a second process while the first one\'s stream is open, however long that stream has been quiet', () => {
    let now = 0;
    const listener = new PeerListener({ self: nodeId('n3'), clusterId: 'c', peers: new Map([[nodeId('n1'), 'a'], [nodeId('n2'), 'b']]), onMessage: () => undefined, log: SILENT_LOG, claimantLiveMs: 5_000, nowMs: () => now });
    const established = new FakeCall('A', 'a1', '127.0.0.1:1');
    const first = open(listener, established);
    established.emit('data', { clusterId: 'c', from: nodeId('n1'), to: nodeId('n3'), messages: [heartbeat] });
    now = 60_000;
    const second = open(listener, new FakeCall('B', 'b1', '127.0.0.1:2'));
    expect(second.ended()).toEqual({ code: status.FAILED_PRECONDITION, refusal: PeerRefusal.duplicateNodeId });
    expect(first.ended()).toBeNull();
  });

  it('lets a process with another data directory take the id once the first one\'s stream has ended and it has been silent for claimantLiveMs', () => {
    let now = 0;
    const listener = new PeerListener({ self: nodeId('n3'), clusterId: 'c', peers: new Map([[nodeId('n1'), 'a'], [nodeId('n2'), 'b']]), onMessage: () => undefined, log: SILENT_LOG, claimantLiveMs: 5_000, nowMs: () => now });
    const established = new FakeCall('A', 'a1', '127.0.0.1:1');
    open(listener, established);
    established.emit('end');
    now = 4_000;
    expect(open(listener, new FakeCall('B', 'b1', '127.0.0.1:2')).ended()).toEqual({ code: status.FAILED_PRECONDITION, refusal: PeerRefusal.duplicateNodeId });
    now = 5_000;
    expect(open(listener, new FakeCall('B', 'b1', '127.0.0.1:2')).ended()).toBeNull();
  });
});

describe('PeerListener: a member recorded with one data directory', () => {
  const listenerWith = (recorded: string, now: () => number, lines: string[], claims: string[] = []): PeerListener =>
    new PeerListener({
      self: nodeId('n3'),
      clusterId: 'c',
      peers: new Map([[nodeId('n1'), 'a']]),
      onMessage: () => undefined,
      log: { ...SILENT_LOG, warn: (line: string) => lines.push(line) } as typeof SILENT_LOG,
      claimantLiveMs: 5_000,
      nowMs: now,
      recordedIncarnation: (peer) => (peer === 'n1' ? recorded : undefined),
      onClaim: (peer, incarnation) => claims.push(`${peer}:${incarnation}`),
    });

  it('refuses the id from another data directory, saying to replace it, and takes the recorded one', () => {
    let now = 0;
    const lines: string[] = [];
    const claims: string[] = [];
    const listener = listenerWith('A', () => now, lines, claims);
    const wiped = open(listener, new FakeCall('B', 'b1', '127.0.0.1:2'));
    expect(wiped.ended()).toEqual({ code: status.FAILED_PRECONDITION, refusal: undefined });
    expect(lines.join('\n')).toMatch(/member n1 is known here with data directory incarnation A, and the node at 127.0.0.1:2 has B: .*quorumlog members replace n1 NEW_ID/);
    expect(claims).toEqual([]);
    now = 1_000;
    open(listener, new FakeCall('B', 'b1', '127.0.0.1:2'));
    expect(lines, 'logged once a minute').toHaveLength(1);
    expect(open(listener, new FakeCall('A', 'a1', '127.0.0.1:1')).ended()).toBeNull();
    expect(claims, 'the recorded one is taken, and told').toEqual(['n1:A']);
  });

  it('a second live process is still told it is a duplicate (and stops), not a wiped disk', () => {
    const lines: string[] = [];
    const listener = listenerWith('A', () => 0, lines);
    open(listener, new FakeCall('A', 'a1', '127.0.0.1:1'));
    expect(open(listener, new FakeCall('B', 'b1', '127.0.0.1:2')).ended()).toEqual({ code: status.FAILED_PRECONDITION, refusal: PeerRefusal.duplicateNodeId });
  });

  it('takes any data directory while none is recorded', () => {
    const listener = listenerWith('', () => 0, []);
    expect(open(listener, new FakeCall('B', 'b1', '127.0.0.1:2')).ended()).toBeNull();
  });
});
