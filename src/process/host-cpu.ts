import * as fs from 'node:fs';

/**
 * The host's CPU time since boot by kind, in clock ticks summed over its CPUs: the aggregate
 * `cpu` line of /proc/stat. `steal` is time the hypervisor gave this machine's virtual CPUs
 * to other guests while they had work: on a shared host, where a run's figures went that
 * the load average does not show.
 */
export interface HostCpuTicks {
  /** user, nice, system, irq and softirq (guest time is inside user and nice already). */
  readonly busy: number;
  readonly idle: number;
  readonly iowait: number;
  readonly steal: number;
}

/** How the host's CPU time between two readings divided, as fractions summing to 1. */
export interface HostCpuShares {
  readonly busy: number;
  /** Idle, waiting for I/O included. */
  readonly idle: number;
  readonly steal: number;
}

/** The aggregate line of /proc/stat's text, or null when the text has none. */
export function parseHostCpu(procStat: string): HostCpuTicks | null {
  const line = procStat.split('\n', 1)[0] ?? '';
  const fields = line.split(/\s+/);
  if (fields[0] !== 'cpu' || fields.length < 9) return null;
  const ticks = fields.slice(1, 9).map(Number);
  if (ticks.some((t) => !Number.isSafeInteger(t) || t < 0)) return null;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks;
  return { busy: user + nice + system + irq + softirq, idle, iowait, steal };
}

/** This host's reading now, or null where /proc/stat cannot be read (not Linux). */
export function readHostCpu(): HostCpuTicks | null {
  try {
    return parseHostCpu(fs.readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/** The shares of the time from `before` to `after`; null when either reading is missing or no tick passed between them. */
export function hostCpuShares(before: HostCpuTicks | null, after: HostCpuTicks | null): HostCpuShares | null {
  if (before === null || after === null) return null;
  const busy = after.busy - before.busy;
  const idle = after.idle - before.idle + (after.iowait - before.iowait);
  const steal = after.steal - before.steal;
  const total = busy + idle + steal;
  if (total <= 0) return null;
  return { busy: busy / total, idle: idle / total, steal: steal / total };
}
