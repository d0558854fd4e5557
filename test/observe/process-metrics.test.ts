import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';

import { ProcessMetrics } from '../../src/observe/process-metrics.js';
import { realScheduler, type Timer } from '../../storage/index.js';

/** Name to value of every unlabelled sample, and the TYPE of each metric, from one exposition. */
async function scrape(registry: Registry): Promise<{ readonly values: Map<string, number>; readonly types: Map<string, string> }> {
  const values = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of (await registry.metrics()).split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1] ?? '', type[2] ?? '');
    const sample = /^([a-z][a-z0-9_]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (sample !== null) values.set(sample[1] ?? '', Number(sample[2]));
  }
  return { values, types };
}

function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Holds the event loop, as a slow handler would.
  }
}

/** Spins until this process has spent `ms` of user CPU (at most 10 s of wall time: a loaded machine gives less CPU than wall time). */
function spendUserCpu(ms: number): number {
  const start = process.cpuUsage().user;
  const giveUpAt = performance.now() + 10_000;
  while (process.cpuUsage().user - start < ms * 1000 && performance.now() < giveUpAt) {
    // Spins.
  }
  return (process.cpuUsage().user - start) / 1e6;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ProcessMetrics', () => {
  let opened: ProcessMetrics[] = [];
  let timers: Timer[] = [];
  const start = (): Registry => {
    const registry = new Registry();
    opened.push(new ProcessMetrics(registry));
    return registry;
  };
  /** A timer every `ms`, run through the newest metrics' timed scheduler, as a node's tick is; cancelled after the test. */
  const ticking = (ms: number): void => {
    const metrics = opened[opened.length - 1];
    if (metrics === undefined) throw new Error('start() first');
    timers.push(metrics.timed(realScheduler).every(ms, () => {}));
  };
  afterEach(() => {
    for (const timer of timers) timer.cancel();
    timers = [];
    for (const metrics of opened) metrics.close();
    opened = [];
  });

  it('serves prom-client\'s default names with their types, and reads every figure at the scrape that shows it', async () => {
    const registry = start();
    const { values, types } = await scrape(registry);
    const expected: Record<string, string> = {
      process_cpu_user_seconds_total: 'counter',
      process_cpu_system_seconds_total: 'counter',
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_heap_size_total_bytes: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
      nodejs_external_memory_bytes: 'gauge',
      process_start_time_seconds: 'gauge',
      nodejs_version_info: 'gauge',
      nodejs_eventloop_lag_min_seconds: 'gauge',
      nodejs_eventloop_lag_max_seconds: 'gauge',
      nodejs_eventloop_lag_mean_seconds: 'gauge',
      nodejs_eventloop_lag_p50_seconds: 'gauge',
      nodejs_eventloop_lag_p90_seconds: 'gauge',
      nodejs_eventloop_lag_p99_seconds: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
      nodejs_gc_duration_seconds: 'histogram',
    };
    if (process.platform === 'linux') Object.assign(expected, { process_open_fds: 'gauge', process_max_fds: 'gauge' });
    for (const [name, type] of Object.entries(expected)) expect(types.get(name), name).toBe(type);
    // Every figure a shared read sets is set by the scrape that shows it, not left at zero until the next.
    const memory = process.memoryUsage();
    expect(values.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(values.get('nodejs_heap_size_total_bytes')).toBeGreaterThan(0);
    expect(values.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(values.get('nodejs_heap_size_used_bytes')).toBeLessThanOrEqual(memory.heapTotal * 2);
    expect(values.get('process_cpu_seconds_total')).toBeCloseTo((values.get('process_cpu_user_seconds_total') ?? 0) + (values.get('process_cpu_system_seconds_total') ?? 0), 6);
    expect(values.get('process_start_time_seconds')).toBeCloseTo(Date.now() / 1000 - process.uptime(), -1);
    expect(values.get(`nodejs_version_info{version="${process.version}",major="${process.versions.node.split('.')[0]}",minor="${process.versions.node.split('.')[1]}",patch="${process.versions.node.split('.')[2]}"}`)).toBe(1);
  });

  it('CPU counters grow by the CPU the process spent between scrapes', async () => {
    const registry = start();
    const before = (await scrape(registry)).values.get('process_cpu_user_seconds_total') ?? 0;
    const spent = spendUserCpu(100);
    const after = (await scrape(registry)).values.get('process_cpu_user_seconds_total') ?? 0;
    expect(spent).toBeGreaterThanOrEqual(0.1);
    expect(after - before).toBeGreaterThanOrEqual(spent);
  });

  it.runIf(process.platform === 'linux')('open file descriptors count a file opened between scrapes', async () => {
    const registry = start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-process-metrics-'));
    const handles: number[] = [];
    try {
      const before = (await scrape(registry)).values.get('process_open_fds') ?? 0;
      for (let k = 0; k < 5; k++) handles.push(fs.openSync(path.join(dir, `f${k}`), 'w'));
      const after = (await scrape(registry)).values.get('process_open_fds') ?? 0;
      expect(after - before).toBe(5);
      expect((await scrape(registry)).values.get('process_max_fds')).toBeGreaterThan(after);
    } finally {
      for (const fd of handles) fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('event-loop delay is how late the timers run through it fired: a blocked loop shows at the next scrape, and only there', async () => {
    const registry = start();
    ticking(20);
    await pause(50);
    await scrape(registry);
    await pause(30);
    busyFor(300);
    await pause(30);
    const blocked = (await scrape(registry)).values;
    // The 20 ms timer fell due within the block: it ran up to 300 ms late.
    expect(blocked.get('nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0.27);
    expect(blocked.get('nodejs_eventloop_lag_min_seconds')).toBeLessThan(0.27);
    await pause(60);
    const after = (await scrape(registry)).values;
    // Reset at each scrape: the block is gone from the next one.
    expect(after.get('nodejs_eventloop_lag_max_seconds')).toBeLessThan(0.27);
    // The lag of the previous scrape's next turn of the loop was set after it.
    expect(after.get('nodejs_eventloop_lag_seconds')).toBeGreaterThan(0);
  });

  it('an idle loop reads a delay near zero: the lateness beyond the interval, not the interval', async () => {
    const registry = start();
    ticking(20);
    await scrape(registry);
    await pause(250);
    const { values } = await scrape(registry);
    // About 12 samples. A monitor that times its own 10 ms interval would read 10 ms here.
    expect(values.get('nodejs_eventloop_lag_max_seconds')).toBeGreaterThan(0);
    expect(values.get('nodejs_eventloop_lag_p50_seconds')).toBeLessThan(0.005);
  });

  it('adds no timer of its own: with no timer run through it, nothing is recorded', async () => {
    const registry = start();
    await scrape(registry);
    await pause(60);
    busyFor(50);
    await pause(20);
    const { values } = await scrape(registry);
    expect(values.get('nodejs_eventloop_lag_max_seconds')).toBe(0);
    expect(values.get('nodejs_eventloop_lag_p99_seconds')).toBe(0);
  });

  it('garbage collections are counted by kind', async () => {
    const registry = start();
    let kept: Buffer[] = [];
    for (let round = 0; round < 200; round++) {
      // Short-lived objects fill the young generation: minor collections follow.
      const objects = Array.from({ length: 2_000 }, (_, k) => ({ k, text: `object ${k} of round ${round}` }));
      kept = [Buffer.alloc(1024), ...kept.slice(0, 50)];
      if (objects.length === 0) break;
      if (round % 20 === 0) await pause(1);
    }
    expect(kept.length).toBeGreaterThan(0);
    // Entries reach the observer after the collection: give them a turn of the loop.
    await pause(20);
    const { values } = await scrape(registry);
    expect(values.get('nodejs_gc_duration_seconds_count{kind="minor"}')).toBeGreaterThan(0);
    expect(values.get('nodejs_gc_duration_seconds_sum{kind="minor"}')).toBeGreaterThan(0);
  });

  it('close stops recording: the delay gauges read zero once nothing more is recorded, though the timers still run', async () => {
    const registry = start();
    ticking(10);
    await pause(40);
    opened[0]?.close();
    await scrape(registry);
    await pause(40);
    const { values } = await scrape(registry);
    expect(values.get('nodejs_eventloop_lag_max_seconds')).toBe(0);
  });
});
