import { logLevelOf, type LogLevel } from './log-level.js';

/** One line the node wrote, as its readers see it. */
export interface LogLine {
  readonly level: LogLevel;
  /** When it was written, ISO 8601 (UTC), or null when the line carries no time. */
  readonly time: string | null;
  readonly msg: string;
  readonly node: string | null;
  readonly term: number | null;
  readonly role: string | null;
  /** Every other field (`event` and the event's facts). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** The fields every line may carry; the rest are the event's own. */
const LINE_KEYS: ReadonlySet<string> = new Set(['level', 'time', 'msg', 'node', 'term', 'role']);

/**
 * The node's JSON line `text` parsed, or null when it is not one (anything that is not a JSON
 * object with a `msg` string and a pino level, by name or number): a stack trace on stderr, a
 * line of a test's client program, a line of text format. Never throws.
 */
export function parseLogLine(text: string): LogLine | null {
  if (!text.startsWith('{')) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const record = parsed as Record<string, unknown>;
  const level = logLevelOf(record['level']);
  const msg = record['msg'];
  if (level === null || typeof msg !== 'string') return null;
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (!LINE_KEYS.has(key)) fields[key] = value;
  return {
    level,
    time: timeOf(record['time']),
    msg,
    node: typeof record['node'] === 'string' ? record['node'] : null,
    term: typeof record['term'] === 'number' ? record['term'] : null,
    role: typeof record['role'] === 'string' ? record['role'] : null,
    fields,
  };
}

function timeOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value).toISOString();
  return null;
}

export interface TextOptions {
  /** Print the node's id (false under a prefix that already names it). */
  readonly node: boolean;
  /** Print only the time of day (HH:MM:SS.mmm) rather than the whole ISO date. */
  readonly clock: boolean;
}

/**
 * The readable one-line form: time, level, node, `[role tTERM]` where known, message, e.g.
 * `2025-01-02T10:00:01.234Z INFO  n1 [leader t3] leader in term 3`. The event's fields are
 * left out: the message states them.
 */
export function renderLogText(line: LogLine, options: TextOptions = { node: true, clock: false }): string {
  const parts: string[] = [];
  if (line.time !== null) parts.push(options.clock ? clockOf(line.time) : line.time);
  parts.push(line.level.toUpperCase().padEnd(5));
  if (options.node && line.node !== null) parts.push(line.node);
  const where = [line.role, line.term === null ? null : `t${line.term}`].filter((part) => part !== null);
  if (where.length > 0) parts.push(`[${where.join(' ')}]`);
  parts.push(line.msg);
  return parts.join(' ');
}

/** "2025-01-02T10:00:01.234Z" -> "10:00:01.234"; anything else as it is. */
function clockOf(iso: string): string {
  const match = /T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(iso);
  return match?.[1] ?? iso;
}
