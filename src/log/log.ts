import { levelWritten, type LogLevel } from './log-level.js';

/**
 * Structured facts of one line beside its message, e.g. `{ event: 'snapshot-written', index }`.
 * Flat and of plain values, so a line stays one short JSON object. The names `level`, `time`,
 * `msg`, `node`, `term` and `role` belong to the line itself (LogLine) and are not used here.
 */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/**
 * Where a component's lines go. The message is the human sentence (people and our tools read
 * it); the fields say the same for machines. A call below the log's level costs a comparison.
 * Implementations never throw: a line that cannot be written is dropped.
 */
export interface Log {
  /** Whether a line at `level` would be written (skip building costly fields otherwise). */
  enabled(level: LogLevel): boolean;
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  fatal(msg: string, fields?: LogFields): void;
}

/** One line as a Log hands it on. */
export type LogWrite = (level: LogLevel, msg: string, fields: LogFields) => void;

const NO_FIELDS: LogFields = Object.freeze({});

/** A Log that hands each line at or above `threshold` to `write`. */
export function logTo(write: LogWrite, threshold: LogLevel): Log {
  return logOf((level) => levelWritten(level, threshold), write);
}

/** Writes nothing: for components whose owner does not want their lines. */
export const SILENT_LOG: Log = logOf(
  () => false,
  () => undefined,
);

/**
 * `log`, with the fields `annotate()` returns put before each written line's own (the node's
 * term and role, read when the line is written). `annotate` runs only for lines `log` writes.
 */
export function annotatedLog(log: Log, annotate: () => LogFields): Log {
  return logOf(
    (level) => log.enabled(level),
    (level, msg, fields) => log[level](msg, { ...annotate(), ...fields }),
  );
}

/** The Log whose every method writes through `write` when `enabled` says so. */
function logOf(enabled: (level: LogLevel) => boolean, write: LogWrite): Log {
  const at =
    (level: LogLevel) =>
    (msg: string, fields: LogFields = NO_FIELDS): void => {
      if (enabled(level)) write(level, msg, fields);
    };
  return { enabled, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') };
}
