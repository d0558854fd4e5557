import { NODE_DEFAULTS, RetentionPolicy, type RetentionConfig } from '../node/index.js';
import { parseWholeNumber, UsageError } from './usage-error.js';

/**
 * Parses `--retention-hours`, `--retention-bytes` and `--retention-policy` (as `quorumlog
 * node` takes them, and `quorumlog cluster` checks them before passing them on); an absent
 * flag takes the node's default.
 */
export function parseRetention(hours: string | undefined, bytes: string | undefined, policy: string | undefined): RetentionConfig {
  const defaults = NODE_DEFAULTS.retention;
  let parsedHours = defaults.hours;
  if (hours !== undefined) {
    parsedHours = Number(hours);
    if (hours.trim() === '' || !Number.isFinite(parsedHours) || parsedHours < 0) throw new UsageError(`--retention-hours must be a number of hours of at least 0, not ${JSON.stringify(hours)}`);
  }
  if (policy !== undefined && policy !== RetentionPolicy.keepUnconsumed && policy !== RetentionPolicy.delete) {
    throw new UsageError(`--retention-policy must be keep-unconsumed or delete, not ${JSON.stringify(policy)}`);
  }
  return {
    hours: parsedHours,
    bytes: parseWholeNumber('retention-bytes', bytes, { min: 0 }) ?? defaults.bytes,
    policy: policy ?? defaults.policy,
  };
}
