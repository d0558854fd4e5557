import type { LogLevel } from './log-level.js';
import { logTo, type Log, type LogFields } from './log.js';

/** One line a LogRecorder kept. */
export interface RecordedLine {
  readonly level: LogLevel;
  readonly msg: string;
  readonly fields: LogFields;
}

/** The in-memory twin of the node's log, for tests and the simulator: keeps every line written (at or above `threshold`). */
export class LogRecorder {
  readonly lines: RecordedLine[] = [];
  readonly log: Log;

  constructor(threshold: LogLevel = 'trace') {
    this.log = logTo((level, msg, fields) => this.lines.push({ level, msg, fields }), threshold);
  }

  /** The messages, in order. */
  messages(): string[] {
    return this.lines.map((line) => line.msg);
  }
}
