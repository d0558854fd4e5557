import type { BenchConfig, BenchFloor, BenchReport } from '../../src/bench/index.js';
import type { LatencySummary } from '../../src/bench/stats.js';

/** A latency summary around `p50Ms` (p99 four times it), `count` samples. */
export const latency = (p50Ms: number, count = 1_000): LatencySummary => ({ count, minMs: p50Ms / 2, meanMs: p50Ms, p50Ms, p90Ms: p50Ms * 2, p99Ms: p50Ms * 4, p999Ms: p50Ms * 5, maxMs: p50Ms * 6 });

export const CONFIG: Omit<BenchConfig, 'dataParent' | 'cpuProfileDir'> = {
  api: 'broker', nodes: 3, producers: 1, inflight: 1, sizeBytes: 1024, acks: 'all', flush: 'sync', durableMark: 'ordered', segmentBytes: null,
  durationMs: 8_000, warmupMs: 3_000, brokers: null, clientBatching: true, endToEnd: false, batchRecordsMax: null, diskProbeMs: 1_000, floorMs: 3_000,
  drain: false, groupDrainMessages: 0, metricsScrapeMs: null, tls: false,
};

/** A report with what the report formatters read: 1,000 messages in 1 s, the ack p50 and floor given, three nodes of 0.3, 0.2 and 0.1 CPU seconds. */
export function benchReport(floor: BenchFloor | null, ackP50Ms: number): BenchReport {
  return {
    version: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    config: CONFIG,
    host: { cpus: 2, cpuModel: 'test CPU', node: 'v20', platform: 'linux', loadBefore: 0.5, loadAfter: 0.5, windowCpu: null },
    disk: { dir: '/tmp/x', cases: [] },
    floor,
    produce: {
      messages: 1_000, elapsedMs: 8_000, messagesPerSecond: 1_000, megabytesPerSecond: 1, latency: latency(ackP50Ms), endToEnd: { ...latency(1), count: 0 },
      errors: 0, firstError: null, timeline: [], firstIndex: 1, lastIndex: 8_000, acknowledgedTotal: 11_000, clientCpuSeconds: 1,
    },
    drain: null,
    groupDrain: null,
    ratios: { produceToSingleSync: null, produceTo16PerSync: null, produceTo256PerSync: null, produceMegabytesToDisk256: null },
    nodes: [0.3, 0.2, 0.1].map((measuredCpuSeconds, k) => ({ id: `n${k + 1}`, pid: 1_000 + k, cpuSeconds: 1, peakRssBytes: 1 << 26, measuredCpuSeconds, eventLoop: null })),
    metrics: null,
    notes: [],
  };
}
