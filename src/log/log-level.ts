/** The levels a line is written at, least to most severe (pino's names). */
export const LogLevel = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

/** Every level, least severe first: a log set to one of them writes it and those after it. */
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** How the node writes its lines: one JSON object per line, or a readable line for a terminal. */
export const LogFormat = { json: 'json', text: 'text' } as const;
export type LogFormat = (typeof LogFormat)[keyof typeof LogFormat];

/** pino's number for each level (what a line carries when it was not written with labels). */
const LEVEL_NUMBERS: Readonly<Record<LogLevel, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export function levelNumber(level: LogLevel): number {
  return LEVEL_NUMBERS[level];
}

/** Whether a log set to `threshold` writes a line at `level`. */
export function levelWritten(level: LogLevel, threshold: LogLevel): boolean {
  return LEVEL_NUMBERS[level] >= LEVEL_NUMBERS[threshold];
}

/** The level a name or a pino level number stands for, or null. */
export function logLevelOf(value: unknown): LogLevel | null {
  if (typeof value === 'string') return (LOG_LEVELS as readonly string[]).includes(value) ? (value as LogLevel) : null;
  if (typeof value === 'number') return LOG_LEVELS.find((level) => LEVEL_NUMBERS[level] === value) ?? null;
  return null;
}
