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
