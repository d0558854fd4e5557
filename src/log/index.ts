/**
 * What a log line is, below every layer that writes or reads one: the levels, the Log every
 * component that logs takes (with an in-memory twin), a gate for conditions that repeat, and
 * the node's line format (JSON fields, the readable text form) that the node writes and the
 * process harness, the bench and `quorumlog cluster` read. Imports nothing.
 */
export { LogEvent } from './log-event.js';
export { LOG_LEVELS, LogFormat, LogLevel, levelNumber, levelWritten, logLevelOf } from './log-level.js';
export { parseLogLine, renderLogText, type LogLine, type TextOptions } from './log-line.js';
export { LogRecorder, type RecordedLine } from './log-recorder.js';
export { annotatedLog, logTo, SILENT_LOG, type Log, type LogFields, type LogWrite } from './log.js';
export { heldBackNote, RepeatGate, type RepeatGateOptions } from './repeat-gate.js';
