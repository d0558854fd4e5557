import { describe, expect, it } from 'vitest';

import { hostCpuShares, parseHostCpu, readHostCpu } from '../../src/process/index.js';

// The head of a real /proc/stat: user nice system idle iowait irq softirq steal guest guest_nice.
const STAT_BEFORE = 'cpu  3065713 35 1012116 5440814 262604 0 114749 203746 0 0\ncpu0 1532856 17 506058 2720407 131302 0 57374 101873 0 0\nintr 1 2 3\n';
const STAT_AFTER = 'cpu  3065813 35 1012216 5441014 262704 0 114749 204146 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n';

describe('host CPU shares (/proc/stat)', () => {
  it('reads the aggregate cpu line: busy, idle, iowait and steal ticks', () => {
    expect(parseHostCpu(STAT_BEFORE)).toEqual({ busy: 3065713 + 35 + 1012116 + 0 + 114749, idle: 5440814, iowait: 262604, steal: 203746 });
  });

  it('does not count guest time twice: the kernel already counts it in user and nice', () => {
    expect(parseHostCpu('cpu  100 0 0 0 0 0 0 0 40 10\n')).toEqual({ busy: 100, idle: 0, iowait: 0, steal: 0 });
  });

  it('splits the time between two readings into busy, idle (iowait included) and steal', () => {
    const before = parseHostCpu(STAT_BEFORE);
    const after = parseHostCpu(STAT_AFTER);
    if (before === null || after === null) throw new Error('fixture did not parse');
    // 200 busy, 200 idle + 100 iowait, 400 steal: 900 ticks.
    const shares = hostCpuShares(before, after);
    expect(shares?.steal).toBeCloseTo(400 / 900, 9);
    expect(shares?.busy).toBeCloseTo(200 / 900, 9);
    expect(shares?.idle).toBeCloseTo(300 / 900, 9);
  });

  it('has no shares when no tick passed between the readings', () => {
    const reading = parseHostCpu(STAT_BEFORE);
    if (reading === null) throw new Error('fixture did not parse');
    expect(hostCpuShares(reading, reading)).toBeNull();
  });

  it('refuses text that is not /proc/stat', () => {
    expect(parseHostCpu('')).toBeNull();
    expect(parseHostCpu('cpu0 1 2 3 4 5 6 7 8\n')).toBeNull();
    expect(parseHostCpu('cpu  1 2 x 4 5 6 7 8\n')).toBeNull();
  });

  it('reads this host where /proc/stat exists', () => {
    const reading = readHostCpu();
    if (process.platform !== 'linux') expect(reading).toBeNull();
    else expect(reading?.busy).toBeGreaterThan(0);
  });
});
