import { describe, expect, it } from 'vitest';

import { ErrorCode } from '../../errors/index.js';
import type { Scheduler } from '../../storage/index.js';
import { DiskGuard, type DiskUsage } from '../../src/node/disk-guard.js';
import { ResourceExhaustedError } from '../../src/transport/index.js';
import { logTo, SILENT_LOG } from '../../src/log/index.js';

/** A scheduler whose `every` timers run only when the test fires them. */
function manualTimers(): { scheduler: Scheduler; fire: () => void; active: () => number } {
  const timers = new Set<() => void>();
  const scheduler: Scheduler = {
    nowMs: () => 0,
    after: () => ({ cancel: () => undefined }),
    every: (_intervalMs, run) => {
      timers.add(run);
      return { cancel: () => timers.delete(run) };
    },
    soon: (run) => void Promise.resolve().then(run),
  };
  return { scheduler, fire: () => timers.forEach((run) => run()), active: () => timers.size };
}

/** A disk whose usage the test sets; counts how often it is read. */
class FakeDisk {
  usage: DiskUsage = { usedBytes: 50, sizeBytes: 100 };
  reads = 0;
  failWith: Error | null = null;
  readonly read = (): Promise<DiskUsage> => {
    this.reads++;
    return this.failWith === null ? Promise.resolve(this.usage) : Promise.reject(this.failWith);
  };
}

function guardOn(disk: FakeDisk, options: { readonly percent?: number; readonly leader?: () => boolean } = {}): { guard: DiskGuard; lines: string[]; timers: ReturnType<typeof manualTimers> } {
  const lines: string[] = [];
  const timers = manualTimers();
  const guard = new DiskGuard({
    diskUsage: disk.read,
    highWatermarkPercent: options.percent ?? 90,
    scheduler: timers.scheduler,
    isLeader: options.leader ?? (() => true),
    log: logTo((_level, line) => lines.push(line), 'trace'),
  });
  return { guard, lines, timers };
}

function refusal(guard: DiskGuard): unknown {
  try {
    guard.admitNewWrite();
    return null;
  } catch (error) {
    return error;
  }
}

describe('DiskGuard', () => {
  it('refuses new writes on the leader above the watermark with RESOURCE_EXHAUSTED and says why', async () => {
    const disk = new FakeDisk();
    const { guard } = guardOn(disk);
    await guard.sample();
    expect(refusal(guard)).toBeNull();
    disk.usage = { usedBytes: 93, sizeBytes: 100 };
    await guard.sample();
    const error = refusal(guard);
    expect(error).toBeInstanceOf(ResourceExhaustedError);
    expect((error as ResourceExhaustedError).code).toBe(ErrorCode.resourceExhausted);
    expect((error as Error).message).toBe('disk 93% full (limit 90%): produce refused until space is freed; reads and acks still work');
    expect(guard.refusing).toBe(true);
    expect(guard.usage).toEqual({ usedBytes: 93, sizeBytes: 100 });
  });

  it('refuses only above the watermark, not at it, and names a fraction that would read as the limit', async () => {
    const disk = new FakeDisk();
    const { guard } = guardOn(disk);
    disk.usage = { usedBytes: 900, sizeBytes: 1000 };
    await guard.sample();
    expect(refusal(guard)).toBeNull();
    disk.usage = { usedBytes: 904, sizeBytes: 1000 };
    await guard.sample();
    expect((refusal(guard) as Error).message).toMatch(/^disk 90\.4% full \(limit 90%\)/);
  });

  it('a follower refuses nothing: its client writes are redirected to the leader, and replication goes on', async () => {
    const disk = new FakeDisk();
    let leader = false;
    const { guard } = guardOn(disk, { leader: () => leader });
    disk.usage = { usedBytes: 99, sizeBytes: 100 };
    await guard.sample();
    expect(guard.refusing).toBe(true);
    expect(refusal(guard)).toBeNull();
    leader = true;
    expect(refusal(guard)).toBeInstanceOf(ResourceExhaustedError);
  });

  it('answers requests from the last sample: the disk is read per sample, never per request', async () => {
    const disk = new FakeDisk();
    const { guard } = guardOn(disk);
    disk.usage = { usedBytes: 95, sizeBytes: 100 };
    await guard.sample();
    disk.usage = { usedBytes: 10, sizeBytes: 100 };
    // Bounded: 1,000 requests.
    for (let k = 0; k < 1_000; k++) expect(refusal(guard)).toBeInstanceOf(ResourceExhaustedError);
    expect(disk.reads).toBe(1);
    await guard.sample();
    expect(refusal(guard)).toBeNull();
    expect(disk.reads).toBe(2);
  });

  it('logs one line when refusing starts and one when it stops, none for samples that change nothing', async () => {
    const disk = new FakeDisk();
    const { guard, lines } = guardOn(disk);
    await guard.sample();
    disk.usage = { usedBytes: 95, sizeBytes: 100 };
    await guard.sample();
    await guard.sample();
    disk.usage = { usedBytes: 96, sizeBytes: 100 };
    await guard.sample();
    disk.usage = { usedBytes: 40, sizeBytes: 100 };
    await guard.sample();
    await guard.sample();
    expect(lines).toEqual([
      'disk guard: disk 95% full (limit 90%): produce refused until space is freed; reads and acks still work',
      'disk guard: disk 40% full (limit 90%): taking produce again',
    ]);
  });

  it('a watermark of 100 turns the guard off, even on a full disk, while usage is still reported', async () => {
    const disk = new FakeDisk();
    disk.usage = { usedBytes: 100, sizeBytes: 100 };
    const { guard, lines } = guardOn(disk, { percent: 100 });
    await guard.sample();
    expect(refusal(guard)).toBeNull();
    expect(guard.usage).toEqual({ usedBytes: 100, sizeBytes: 100 });
    expect(lines).toEqual([]);
  });

  it('a failing read keeps the last state and is logged once until reads work again', async () => {
    const disk = new FakeDisk();
    const { guard, lines } = guardOn(disk);
    disk.usage = { usedBytes: 95, sizeBytes: 100 };
    await guard.sample();
    disk.failWith = new Error('EIO');
    await guard.sample();
    await guard.sample();
    expect(guard.refusing).toBe(true);
    disk.failWith = null;
    await guard.sample();
    expect(lines.filter((l) => l.includes('cannot read'))).toEqual(["disk guard: cannot read the disk usage (EIO); keeping the last state"]);
    expect(lines.at(-1)).toBe('disk guard: reading the disk usage works again');
  });

  it('samples in flight at once share one read', async () => {
    const disk = new FakeDisk();
    const { guard } = guardOn(disk);
    await Promise.all([guard.sample(), guard.sample(), guard.sample()]);
    expect(disk.reads).toBe(1);
  });

  it('start samples at once and then on every interval until stop', async () => {
    const disk = new FakeDisk();
    const { guard, timers } = guardOn(disk);
    guard.start();
    await guard.sample(); // joins the first sample
    expect(disk.reads).toBe(1);
    disk.usage = { usedBytes: 99, sizeBytes: 100 };
    timers.fire();
    await guard.sample();
    expect(guard.refusing).toBe(true);
    expect(disk.reads).toBe(2);
    guard.stop();
    expect(timers.active()).toBe(0);
  });

  it('without a disk usage source it never samples and never refuses', async () => {
    const timers = manualTimers();
    const guard = new DiskGuard({ diskUsage: null, highWatermarkPercent: 1, scheduler: timers.scheduler, isLeader: () => true, log: SILENT_LOG });
    guard.start();
    await guard.sample();
    expect(timers.active()).toBe(0);
    expect(guard.usage).toBeNull();
    expect(refusal(guard)).toBeNull();
  });
});
