import * as fs from 'node:fs';
import * as path from 'node:path';

import type { BenchTarget } from './bench-target.js';
import { openLatencyFloor, type FloorFsyncs, type LatencyFloor, type LatencyFloorResult } from './latency-floor.js';
import { LocalCluster } from './local-cluster.js';
import { medianInterval, type MedianInterval } from './stats.js';
import { createBenchTopic, durabilityFsyncs } from './run-bench.js';
import { runProduce } from './workload.js';
import { hostCpuShares, readHostCpu, type HostCpuShares } from '../process/index.js';
import { percent } from './report.js';

/** Target 2 of issue 23: one in flight through the broker, ack p50 at most this many times the floor. */
export const FLOOR_RATIO_TARGET = 1.25;
/** Each produce window's warm-up (or the window's length, if shorter): a fresh producer connects and its first calls run cold. */
const PRODUCE_WARMUP_MS = 500;

export interface FloorPairsOptions {
  readonly api: 'log' | 'broker';
  readonly sizeBytes: number;
  readonly flush: 'sync' | 'async';
  readonly durableMark: 'ordered' | 'lagging';
  readonly rounds: number;
  /** Measured time of each window, ours and the floor's. */
  readonly windowMs: number;
  /** Produce, and the floor's rounds, unmeasured for this long before the first round: fresh nodes run cold. */
  readonly warmupMs: number;
  /** Where the run's temp directory (the floor's files, the nodes' data) is made and removed. */
  readonly dataParent: string;
  readonly onPhase?: (phase: string) => void;
  readonly signal?: AbortSignal;
}

export interface FloorPair {
  /** Whether this round's produce window came before its floor window. */
  readonly oursFirst: boolean;
  readonly oursP50Ms: number;
  readonly oursP90Ms: number;
  readonly oursMessages: number;
  readonly floorP50Ms: number;
  readonly floorP90Ms: number;
  readonly floorRounds: number;
  /** Our ack p50 over the floor's p50, in this round. */
  readonly ratio: number;
  /** The share of the host's CPU time the hypervisor took over the round's two windows (steal); null where /proc/stat cannot be read. */
  readonly steal: number | null;
}

export interface FloorPairsReport {
  readonly version: 1;
  readonly kind: 'floor-pairs';
  readonly api: 'log' | 'broker';
  readonly sizeBytes: number;
  readonly fsyncsPerNode: FloorFsyncs;
  readonly windowMs: number;
  readonly warmupMs: number;
  readonly pairs: readonly FloorPair[];
  /** The median of the rounds' ratios, with its 95% interval. */
  readonly ratio: MedianInterval;
  readonly target: number;
  /** How the host's CPU time divided over all the rounds (src/bench/run-bench.ts's host.windowCpu). */
  readonly windowCpu: HostCpuShares | null;
}

/**
 * One in flight against the latency floor in alternating windows: the floor's three
 * processes and a three-node cluster are both up for the whole run, and each round measures
 * a window of produce (one producer, one record in flight, acks from a majority) and a
 * window of the floor's rounds, back to back, the order flipping each round. A single run
 * measures the floor once, before its nodes start, and then produces for seconds: a burst of
 * other work on a shared machine in one of the two moved their ratio from 0.7x to 3.7x.
 * Paired a few seconds apart, the same burst mostly falls on both, and the median of the
 * rounds' ratios says where the round stands. Both sides idle while the other measures: the
 * floor's processes wait on their streams, the nodes only tick.
 */
export async function runFloorPairs(options: FloorPairsOptions): Promise<FloorPairsReport> {
  fs.mkdirSync(options.dataParent, { recursive: true });
  const root = fs.mkdtempSync(path.join(options.dataParent, 'quorumlog-floor-pairs-'));
  // The floor pays the fdatasyncs this cluster's configuration needs per node, as a single run's floor does.
  const fsyncsPerNode = durabilityFsyncs(options.flush, options.durableMark);
  let floor: LatencyFloor | null = null;
  let cluster: LocalCluster | null = null;
  try {
    options.onPhase?.(`starting the floor's processes (${fsyncsPerNode} fdatasync(s) per node)`);
    floor = await openLatencyFloor({ fsyncsPerNode, recordBytes: options.sizeBytes, dir: root, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    options.onPhase?.('starting 3 nodes');
    cluster = await LocalCluster.start({ nodes: 3, dataRoot: path.join(root, 'data'), flush: options.flush, durableMark: options.durableMark });
    const target: BenchTarget = { brokers: cluster.clientAddresses };
    const topic = options.api === 'broker' ? await createBenchTopic(target) : null;
    const measureOurs = async (durationMs = options.windowMs): Promise<{ readonly p50Ms: number; readonly p90Ms: number; readonly messages: number }> => {
      const produce = await runProduce({
        ...target,
        producers: 1,
        inflight: 1,
        sizeBytes: options.sizeBytes,
        warmupMs: Math.min(PRODUCE_WARMUP_MS, options.windowMs),
        durationMs,
        clientBatching: true,
        endToEnd: false,
        acks: 'all',
        ...(topic === null ? {} : { topic }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      if (produce.messages === 0) throw new Error(`floor pairs: a produce window acknowledged nothing${produce.firstError === null ? '' : ` (${produce.firstError})`}`);
      return { p50Ms: produce.latency.p50Ms, p90Ms: produce.latency.p90Ms, messages: produce.messages };
    };
    const running = floor;
    if (options.warmupMs > 0) {
      // Measured in the first rounds of a run without it: 2.1x, 2.1x and 1.9x, then 1.0-1.4x.
      options.onPhase?.('warming up');
      await measureOurs(options.warmupMs);
      await running.measure(options.warmupMs);
    }
    const pairs: FloorPair[] = [];
    const hostAtStart = readHostCpu();
    for (let k = 0; k < options.rounds; k++) {
      options.signal?.throwIfAborted();
      options.onPhase?.(`round ${k + 1} of ${options.rounds}`);
      const oursFirst = k % 2 === 0;
      const hostBefore = readHostCpu();
      let ours: Awaited<ReturnType<typeof measureOurs>>;
      let base: LatencyFloorResult;
      if (oursFirst) {
        ours = await measureOurs();
        base = await running.measure(options.windowMs);
      } else {
        base = await running.measure(options.windowMs);
        ours = await measureOurs();
      }
      pairs.push({
        oursFirst,
        oursP50Ms: ours.p50Ms,
        oursP90Ms: ours.p90Ms,
        oursMessages: ours.messages,
        floorP50Ms: base.p50Ms,
        floorP90Ms: base.p90Ms,
        floorRounds: base.rounds,
        ratio: base.p50Ms > 0 ? ours.p50Ms / base.p50Ms : 0,
        steal: hostCpuShares(hostBefore, readHostCpu())?.steal ?? null,
      });
    }
    const windowCpu = hostCpuShares(hostAtStart, readHostCpu());
    return {
      version: 1,
      kind: 'floor-pairs',
      api: options.api,
      sizeBytes: options.sizeBytes,
      fsyncsPerNode,
      windowMs: options.windowMs,
      warmupMs: options.warmupMs,
      pairs,
      ratio: medianInterval(pairs.map((p) => p.ratio)),
      target: FLOOR_RATIO_TARGET,
      windowCpu,
    };
  } finally {
    await cluster?.stop();
    await floor?.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** The report as lines: each round, then the median ratio against the target. */
export function formatFloorPairs(report: FloorPairsReport): string {
  const ms = (n: number): string => n.toFixed(2);
  const lines = [
    `one in flight against the latency floor, alternating windows of ${(report.windowMs / 1000).toFixed(1)} s after ${(report.warmupMs / 1000).toFixed(1)} s of each unmeasured (${report.api} API, ${report.sizeBytes} B, floor with ${report.fsyncsPerNode} fdatasync(s) per node)`,
    ...report.pairs.map(
      (p, k) =>
        `  round ${k + 1} (${p.oursFirst ? 'ours first' : 'floor first'}): ack p50 ${ms(p.oursP50Ms)} ms (p90 ${ms(p.oursP90Ms)}, ${p.oursMessages.toLocaleString('en-US')} msgs), floor p50 ${ms(p.floorP50Ms)} ms (p90 ${ms(p.floorP90Ms)}, ${p.floorRounds.toLocaleString('en-US')} rounds): ${p.ratio.toFixed(2)}x${p.steal === null ? '' : `, host CPU stolen ${percent(p.steal)}`}`,
    ),
    `ack p50 over the floor's: median ${report.ratio.median.toFixed(2)}x (95% interval ${report.ratio.low.toFixed(2)}-${report.ratio.high.toFixed(2)}, ${report.ratio.count} rounds); target at most ${report.target.toFixed(2)}x: ${report.ratio.high <= report.target ? 'met' : report.ratio.median <= report.target ? 'met by the median, not by the whole interval' : 'not met'}`,
  ];
  return `${lines.join('\n')}\n`;
}
