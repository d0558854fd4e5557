import type { Scheduler, Timer } from '../../storage/index.js';
import { LogEvent, type Log } from '../log/index.js';
import { ResourceExhaustedError } from '../transport/index.js';

/**
 * How full the file system holding the data directory is. `sizeBytes` is what this process
 * can fill (used plus available to it, as df counts: blocks the file system reserves for
 * root are left out), so a disk at 100% here is one this node can no longer write to.
 */
export interface DiskUsage {
  readonly usedBytes: number;
  readonly sizeBytes: number;
}

/** Reads the data directory's disk usage: fs.statfs in a process, a fake in the simulator and tests. */
export type DiskUsageSource = () => Promise<DiskUsage>;

/** What a service asks before it proposes a new message (never for acks, reads or replication). */
export interface WriteAdmission {
  /** Throws ResourceExhaustedError when new messages are refused now. */
  admitNewWrite(): void;
}

/** Admits everything: a node assembled without a disk guard. */
export const ADMIT_ALL: WriteAdmission = { admitNewWrite: () => undefined };

export const DISK_GUARD_DEFAULTS = {
  /** Percent of the disk used above which new client writes are refused; 100 turns the guard off. */
  highWatermarkPercent: 90,
  /** How often the disk is sampled (also at each snapshot); never per request. */
  sampleIntervalMs: 5_000,
} as const;

export interface DiskGuardOptions {
  /** Absent: the disk is never sampled and nothing is refused (usage stays unknown). */
  readonly diskUsage: DiskUsageSource | null;
  /** 1..100; above it new client writes are refused; 100 never refuses. */
  readonly highWatermarkPercent: number;
  readonly scheduler: Scheduler;
  readonly sampleIntervalMs?: number;
  /** Only a leader refuses: a follower's client writes are redirected, and replication never stops. */
  readonly isLeader: () => boolean;
  /** One line when refusing starts (warn), when it stops, and when sampling starts (warn) or stops failing. */
  readonly log: Log;
}

/**
 * The disk guard: keeps a node with a nearly full disk from taking NEW messages (client log
 * appends, produces, transactional half messages), so the room left goes to what must go on
 * (Raft replication, acks, group changes, clock and transaction decisions, snapshots) and
 * the node degrades into read-mostly instead of failing on a full disk. The disk is sampled
 * every `sampleIntervalMs` and when a snapshot is written; a request only reads the last
 * sample, so refusals do not flap from request to request, and writes resume by themselves
 * at the first sample below the watermark.
 */
export class DiskGuard implements WriteAdmission {
  private readonly options: DiskGuardOptions;
  private last: DiskUsage | null = null;
  private refusingNow = false;
  /** The sample in progress: at most one at a time (a stuck statfs must not pile up calls). */
  private sampling: Promise<void> | null = null;
  private timer: Timer | null = null;
  /** The last sample failed (logged once, until one succeeds). */
  private failing = false;

  constructor(options: DiskGuardOptions) {
    const percent = options.highWatermarkPercent;
    if (!(Number.isInteger(percent) && percent >= 1 && percent <= 100)) throw new RangeError(`disk high watermark must be a whole percent 1..100, not ${percent}`);
    this.options = options;
  }

  /** The last disk usage sampled, or null before the first sample (or without a source). */
  get usage(): DiskUsage | null {
    return this.last;
  }

  /** Whether new client writes are refused now (as of the last sample). */
  get refusing(): boolean {
    return this.refusingNow;
  }

  get highWatermarkPercent(): number {
    return this.options.highWatermarkPercent;
  }

  /** Samples now and then every sampleIntervalMs, until stop(). */
  start(): void {
    if (this.options.diskUsage === null || this.timer !== null) return;
    void this.sample();
    this.timer = this.options.scheduler.every(this.options.sampleIntervalMs ?? DISK_GUARD_DEFAULTS.sampleIntervalMs, () => void this.sample());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** Reads the disk usage and updates whether writes are refused; joins a sample already in progress. */
  sample(): Promise<void> {
    const source = this.options.diskUsage;
    if (source === null) return Promise.resolve();
    this.sampling ??= source()
      .then(
        (usage) => this.update(usage),
        (error: unknown) => {
          // Not knowing is not a reason to refuse: the state of the last good sample holds.
          if (!this.failing) {
            this.options.log.warn(`disk guard: cannot read the disk usage (${error instanceof Error ? error.message : String(error)}); keeping the last state`, { event: LogEvent.diskUsageUnreadable });
          }
          this.failing = true;
        },
      )
      .finally(() => (this.sampling = null));
    return this.sampling;
  }

  /**
   * Throws ResourceExhaustedError when this node leads and its disk is above the watermark;
   * called before a new message is proposed, never for acks, reads or replication.
   */
  admitNewWrite(): void {
    if (!this.refusingNow || !this.options.isLeader()) return;
    throw new ResourceExhaustedError(this.refusal());
  }

  private update(usage: DiskUsage): void {
    if (this.failing) this.options.log.info('disk guard: reading the disk usage works again', { event: LogEvent.diskUsageReadable });
    this.failing = false;
    this.last = usage;
    const percent = usedPercent(usage);
    const refusing = percent !== null && this.options.highWatermarkPercent < 100 && percent > this.options.highWatermarkPercent;
    if (refusing === this.refusingNow) return;
    this.refusingNow = refusing;
    const fields = { usedBytes: usage.usedBytes, sizeBytes: usage.sizeBytes, highWatermarkPercent: this.options.highWatermarkPercent };
    if (refusing) this.options.log.warn(`disk guard: ${this.refusal()}`, { event: LogEvent.diskGuardRefusing, ...fields });
    else this.options.log.info(`disk guard: disk ${percentText(usage, this.options.highWatermarkPercent)} full (limit ${this.options.highWatermarkPercent}%): taking produce again`, { event: LogEvent.diskGuardAccepting, ...fields });
  }

  private refusal(): string {
    const usage = this.last;
    const limit = this.options.highWatermarkPercent;
    const full = usage === null ? 'over the limit' : percentText(usage, limit);
    return `disk ${full} full (limit ${limit}%): produce refused until space is freed; reads and acks still work`;
  }
}

/** Percent of the disk used, or null for a disk of no size (nothing to judge by). */
export function usedPercent(usage: DiskUsage): number | null {
  if (!(usage.sizeBytes > 0)) return null;
  return (usage.usedBytes / usage.sizeBytes) * 100;
}

/** "93%"; one decimal when the whole number would read as the limit itself ("90.4%" against 90%). */
function percentText(usage: DiskUsage, limit: number): string {
  const percent = usedPercent(usage) ?? 0;
  const whole = Math.floor(percent);
  return whole === limit && percent !== whole ? `${(Math.floor(percent * 10) / 10).toFixed(1)}%` : `${whole}%`;
}
