import { pino, type DestinationStream } from 'pino';

import { logTo, parseLogLine, renderLogText, type Log, type LogFormat, type LogLevel } from '../log/index.js';

export interface NodeLogOptions {
  /** The node's id, on every line. */
  readonly node: string;
  /** Lines below it are not written. */
  readonly level: LogLevel;
  readonly format: LogFormat;
  /**
   * Takes each finished line (with its newline). Default: stdout, written synchronously, so a
   * line is out before the process exits (a fatal storage error's line included).
   */
  readonly write?: (chunk: string) => void;
}

/**
 * The node process's log, through pino: one JSON object per line (`level` by name, `time` in
 * ISO 8601, `node`, then the fields of the call, among them `term` and `role` where the node
 * adds them, and `msg`), or, in text format, the same line made readable (renderLogText).
 * pino formats; the text form is ours, re-rendered from pino's JSON, so both carry the same
 * facts and no second dependency (pino-pretty) is needed.
 */
export function createNodeLog(options: NodeLogOptions): Log {
  const write = options.write ?? stdoutWriter();
  const destination: DestinationStream = { write: options.format === 'json' ? write : (chunk) => write(textOf(chunk)) };
  const logger = pino(
    {
      level: options.level,
      base: { node: options.node },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return logTo((level, msg, fields) => logger[level](fields, msg), options.level);
}

/** A JSON line of pino's as a text line (a line it cannot read passes as it is). */
function textOf(chunk: string): string {
  const line = parseLogLine(chunk.trimEnd());
  return line === null ? chunk : `${renderLogText(line)}\n`;
}

/**
 * Synchronous writes to fd 1. A stdout that cannot be written any more (EPIPE: the reader is
 * gone) drops the lines from then on: a logger must not take a replica down.
 */
function stdoutWriter(): (chunk: string) => void {
  const stdout = pino.destination({ dest: 1, sync: true });
  let broken = false;
  stdout.on('error', () => {
    broken = true;
  });
  return (chunk) => {
    if (!broken) stdout.write(chunk);
  };
}
