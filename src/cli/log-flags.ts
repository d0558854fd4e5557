import { LOG_LEVELS, LogFormat, logLevelOf, type LogLevel } from '../log/index.js';
import { UsageError } from './usage-error.js';

/** How the node writes its lines; format null: text on a terminal, JSON otherwise. */
export interface LogFlags {
  readonly level: LogLevel;
  readonly format: LogFormat | null;
}

/** --log-level and --log-format, checked. */
export function logFlagsFrom(level: string | undefined, format: string | undefined): LogFlags {
  const parsedLevel = level === undefined ? 'info' : logLevelOf(level);
  if (parsedLevel === null) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level)}`);
  if (format !== undefined && format !== LogFormat.json && format !== LogFormat.text) throw new UsageError(`--log-format must be json or text, not ${JSON.stringify(format)}`);
  return { level: parsedLevel, format: format ?? null };
}
