import type { DurableMarkPolicy } from '../../storage/index.js';

/** A command line that cannot be run: printed as one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Parses a whole number flag, or says which flag is wrong and why. */
export function parseWholeNumber(flag: string, value: string | undefined, options: { min: number; max?: number }): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < options.min || n > max) {
    throw new UsageError(`--${flag} must be a whole number from ${options.min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, not "${value}"`);
  }
  return n;
}

/** Parses a duration like 500ms, 2s, 1m or 24h (a bare number is milliseconds). */
export function parseDurationMs(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (match === null) throw new UsageError(`--${flag} must be a duration such as 500ms, 2s, 1m or 24h, not "${value}"`);
  const unit = match[2] ?? 'ms';
  const ms = Number(match[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
  if (!(ms >= 1)) throw new UsageError(`--${flag} must be at least 1 ms`);
  return Math.round(ms);
}

/** What `--flush` and `--durable-mark` ask of every node a command starts. */
export interface FlushFlags {
  readonly flush: 'sync' | 'async';
  /** Only with sync flush: whether an acknowledgement also waits for the durable mark's fdatasync. */
  readonly durableMark: DurableMarkPolicy;
}

/** Parses `--flush sync|async` and `--durable-mark ordered|lagging` (sync only), as node, cluster and bench take them. */
export function parseFlushFlags(flush: string | undefined, durableMark: string | undefined): FlushFlags {
  const mode = flush ?? 'sync';
  if (mode !== 'sync' && mode !== 'async') throw new UsageError(`--flush must be sync or async, not "${mode}"`);
  const mark = durableMark ?? 'ordered';
  if (mark !== 'ordered' && mark !== 'lagging') throw new UsageError(`--durable-mark must be ordered or lagging, not "${mark}"`);
  if (mode === 'async' && durableMark !== undefined) {
    throw new UsageError('--durable-mark applies to --flush sync (async flush acknowledges before any fdatasync)');
  }
  return { flush: mode, durableMark: mark };
}
