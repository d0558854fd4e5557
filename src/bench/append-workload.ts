import { performance } from 'node:perf_hooks';

import type { LogClient } from '../client/index.js';
import { sleep } from '../process/index.js';

/** What became of one append, as the client saw it. */
export type AppendFate = 'acked' | 'unknown' | 'rejected';

export interface AckedRecord {
  readonly id: string;
  /** The log index the append was acknowledged at. */
  readonly index: number;
  readonly writer: number;
  /** performance.now() when the acknowledgement arrived. */
  readonly atMs: number;
}

/**
 * Error names after which, by LogClient's contract, the write certainly did not happen: it
 * reports a write that may have reached a leader as OutcomeUnknownError, and UnavailableError
 * only when no broker took it. The checker holds the client to that (a "rejected" record
 * found in a log is a failure). Anything else counts as unknown: it may or may not be in the
 * log, and the checker accepts it at most once.
 */
const CERTAINLY_NOT_WRITTEN = new Set(['InvalidArgumentError', 'ResourceExhaustedError', 'UnavailableError']);

const ERROR_BACKOFF_MS = 50;

/**
 * Used by `quorumlog verify-writes` and by the integration tests (test/harness re-exports it).
 *
 * Appends records with unique ids ("PREFIX-000042") through a LogClient, one at a time per
 * writer, and remembers every outcome. An id is never sent twice, so a record found twice in
 * a log is a duplicate the system made, and acknowledged order is checkable by index.
 */
export class AppendWorkload {
  readonly acked: AckedRecord[] = [];
  readonly unknown = new Set<string>();
  readonly rejected = new Set<string>();
  /** Error name -> count, for the report. */
  readonly errorCounts = new Map<string, number>();
  private next = 0;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly client: LogClient,
    readonly prefix: string,
  ) {}

  /** Every id this workload sent, whatever became of it. */
  get sent(): number {
    return this.next;
  }

  fateOf(id: string): AppendFate | 'never sent' {
    if (this.unknown.has(id)) return 'unknown';
    if (this.rejected.has(id)) return 'rejected';
    if (id.startsWith(`${this.prefix}-`) && Number(id.slice(this.prefix.length + 1)) < this.next) return 'acked';
    return 'never sent';
  }

  async appendOne(writer = 0): Promise<AppendFate> {
    const id = `${this.prefix}-${String(this.next++).padStart(6, '0')}`;
    try {
      const result = await this.client.append([this.encoder.encode(id)]);
      this.acked.push({ id, index: result.firstIndex, writer, atMs: performance.now() });
      return 'acked';
    } catch (error) {
      const name = error instanceof Error ? error.name : typeof error;
      this.errorCounts.set(name, (this.errorCounts.get(name) ?? 0) + 1);
      if (CERTAINLY_NOT_WRITTEN.has(name)) {
        this.rejected.add(id);
        return 'rejected';
      }
      this.unknown.add(id);
      return 'unknown';
    }
  }

  /** `count` appends from `concurrency` writers, each writer sequential. */
  async run(options: { readonly count: number; readonly concurrency: number }): Promise<void> {
    let remaining = options.count;
    await Promise.all(
      Array.from({ length: options.concurrency }, async (_, writer) => {
        // Bounded by count.
        while (remaining > 0) {
          remaining--;
          if ((await this.appendOne(writer)) !== 'acked') await sleep(ERROR_BACKOFF_MS);
        }
      }),
    );
  }

  /**
   * Writers that keep appending until stop() (or `recordsMax` sent, or `durationMsMax` passed), so a
   * test can kill and restart nodes mid-stream. Errors back off briefly and go on.
   */
  background(options: { readonly concurrency: number; readonly recordsMax: number; readonly durationMsMax: number }): BackgroundWrites {
    let stopping = false;
    const deadline = performance.now() + options.durationMsMax;
    const done = Promise.all(
      Array.from({ length: options.concurrency }, async (_, writer) => {
        while (!stopping && this.next < options.recordsMax && performance.now() < deadline) {
          if ((await this.appendOne(writer)) !== 'acked') await sleep(ERROR_BACKOFF_MS);
        }
      }),
    ).then(() => undefined);
    return {
      done,
      stop: async () => {
        stopping = true;
        await done;
      },
    };
  }

  /** The number of acknowledgements received so far. */
  get ackedCount(): number {
    return this.acked.length;
  }

  summary(): string {
    const errors = [...this.errorCounts].map(([name, n]) => `${name} x${n}`).join(', ');
    return `${this.prefix}: sent ${this.next}, acked ${this.acked.length}, unknown ${this.unknown.size}, rejected ${this.rejected.size}${errors ? ` (${errors})` : ''}`;
  }
}

export interface BackgroundWrites {
  /** Resolves when every writer has finished (stop() called or a limit reached). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}
