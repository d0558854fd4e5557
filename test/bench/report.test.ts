import { describe, expect, it } from 'vitest';

import { floorFsyncsFor, formatReport, type BenchReport } from '../../src/bench/index.js';
import { benchReport as reportWith } from './report-fixture.js';

describe('formatReport with the latency floor', () => {
  it('prints the floor measured in the same run and the ack p50 over it', () => {
    const text = formatReport(reportWith({ p50Ms: 0.8, p90Ms: 1.25, p99Ms: 3, rounds: 3_456, nodesCpuMicrosPerRound: 400, fsyncsPerNode: 2 }, 1));
    const line = text.split('\n').find((l) => l.startsWith('  floor'));
    expect(line).toBe(
      '  floor (same run: 1024 B over gRPC to a leader and two followers, 2 fdatasync(s) per node, answered by two of three): p50 0.80 ms, p90 1.25 ms (3,456 rounds); ack p50 is 1.25x the floor',
    );
    // Right under the latency table's rows.
    const lines = text.split('\n');
    expect(lines[lines.indexOf(line ?? '') - 1]).toMatch(/^ {2}ack\s/);
    // The nodes' CPU: 0.3 + 0.2 + 0.1 s over 1,000 messages is 600 us a message.
    expect(lines[lines.indexOf(line ?? '') + 1]).toBe("  floor CPU: its three node processes 400 us a round; this run's nodes 600 us a message, 1.50x the floor's");
  });

  it('prints the floor\'s CPU alone when the nodes\' is not known', () => {
    const text = formatReport({ ...reportWith({ p50Ms: 0.8, p90Ms: 1.25, p99Ms: 3, rounds: 3_456, nodesCpuMicrosPerRound: 400, fsyncsPerNode: 2 }, 1), nodes: [] });
    expect(text).toContain('  floor CPU: its three node processes 400 us a round\n');
  });

  it('prints no floor line when none was measured', () => {
    expect(formatReport(reportWith(null, 1))).not.toContain('floor');
  });
});

describe('formatReport: the host\'s CPU in the measured window', () => {
  const hostLines = (windowCpu: BenchReport['host']['windowCpu']): string[] => {
    const base = reportWith(null, 1);
    return formatReport({ ...base, host: { ...base.host, windowCpu } }).split('\n').filter((l) => l.includes('hypervisor') || l.startsWith('  host CPU'));
  };

  it('prints how the CPUs\' time divided, steal included, under the host line', () => {
    expect(hostLines({ busy: 0.6, idle: 0.35, steal: 0.05 })).toEqual(['  host CPU in the measured window: 60% busy, 35% idle, 5% taken by the hypervisor for other guests (steal)']);
  });

  it('warns when the hypervisor took a tenth of the CPUs\' time or more', () => {
    const lines = hostLines({ busy: 0.45, idle: 0.1, steal: 0.45 });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe("  warning: the hypervisor took 45% of this machine's CPU time in the measured window; compare ratios within this run, and CPU per message across runs, rather than its rates with another run's");
  });

  it('prints nothing of it where the host\'s CPU time could not be read', () => {
    expect(hostLines(null)).toEqual([]);
  });
});

describe('floorFsyncsFor', () => {
  const oneInFlight = { brokers: null, tls: false, nodes: 3, acks: 'all', producers: 1, inflight: 1, flush: 'sync', durableMark: 'ordered' } as const;

  it('asks for the fdatasyncs per node the configuration pays', () => {
    expect(floorFsyncsFor(oneInFlight)).toBe(2);
    expect(floorFsyncsFor({ ...oneInFlight, durableMark: 'lagging' })).toBe(1);
    expect(floorFsyncsFor({ ...oneInFlight, flush: 'async' })).toBe(0);
  });

  it('skips runs the floor does not model', () => {
    expect(floorFsyncsFor({ ...oneInFlight, inflight: 64 })).toBeNull();
    expect(floorFsyncsFor({ ...oneInFlight, producers: 2 })).toBeNull();
    expect(floorFsyncsFor({ ...oneInFlight, tls: true })).toBeNull();
    expect(floorFsyncsFor({ ...oneInFlight, brokers: ['127.0.0.1:7501'] })).toBeNull();
    expect(floorFsyncsFor({ ...oneInFlight, nodes: 5 })).toBeNull();
    expect(floorFsyncsFor({ ...oneInFlight, acks: 'leader' })).toBeNull();
  });
});
