/**
 * Other systems' results to set a bench run against (`quorumlog bench --compare FILE`): what
 * someone measured with another broker's own tools, written down as JSON. We do not run the
 * other systems; the file says what was measured, how and where, and the report shows it
 * beside our figures with the ratio, flagging a workload that differs from the run's.
 *
 * The file:
 *   { "results": [ { "system": "RabbitMQ 3.13 quorum queue",
 *                    "messagesPerSecond": 14000, "p50Ms": 1.1, "p99Ms": 6.5,
 *                    "sizeBytes": 1024, "inflight": 64,
 *                    "source": "perf-test -s 1024 -q 64 ..., same machine, same hour" } ] }
 * system and messagesPerSecond are required; p50Ms and p99Ms are ack latencies; sizeBytes and
 * inflight describe the workload; source says how to reproduce the figure.
 */
export interface ComparedResult {
  readonly system: string;
  readonly messagesPerSecond: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly sizeBytes: number | null;
  readonly inflight: number | null;
  readonly source: string | null;
}

/** A comparison file that is not what the format above says, with the one line that says why. */
export class ComparisonFileError extends Error {
  override readonly name = 'ComparisonFileError';
}

const RESULTS_MAX = 50;
const TEXT_MAX = 200;

/** Parses a comparison file's text; throws ComparisonFileError naming the first thing wrong. */
export function parseComparison(text: string): ComparedResult[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ComparisonFileError(`not JSON: ${(error as Error).message}`);
  }
  const results = (json as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) throw new ComparisonFileError('expected an object with a "results" array');
  if (results.length === 0 || results.length > RESULTS_MAX) throw new ComparisonFileError(`"results" holds 1 to ${RESULTS_MAX} entries, not ${results.length}`);
  return results.map((entry: unknown, k) => parseResult(entry, `results[${k}]`));
}

function parseResult(entry: unknown, where: string): ComparedResult {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ComparisonFileError(`${where} is not an object`);
  const e = entry as Record<string, unknown>;
  const known = new Set(['system', 'messagesPerSecond', 'p50Ms', 'p99Ms', 'sizeBytes', 'inflight', 'source']);
  const unknown = Object.keys(e).find((key) => !known.has(key));
  if (unknown !== undefined) throw new ComparisonFileError(`${where} has an unknown field "${unknown}"`);
  const system = text(e['system'], `${where}.system`);
  if (system === null) throw new ComparisonFileError(`${where}.system is required`);
  const messagesPerSecond = positive(e['messagesPerSecond'], `${where}.messagesPerSecond`);
  if (messagesPerSecond === null) throw new ComparisonFileError(`${where}.messagesPerSecond is required`);
  return {
    system,
    messagesPerSecond,
    p50Ms: positive(e['p50Ms'], `${where}.p50Ms`),
    p99Ms: positive(e['p99Ms'], `${where}.p99Ms`),
    sizeBytes: positive(e['sizeBytes'], `${where}.sizeBytes`),
    inflight: positive(e['inflight'], `${where}.inflight`),
    source: text(e['source'], `${where}.source`),
  };
}

function text(value: unknown, where: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.trim() === '' || value.length > TEXT_MAX) throw new ComparisonFileError(`${where} must be text of 1 to ${TEXT_MAX} characters`);
  return value;
}

function positive(value: unknown, where: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ComparisonFileError(`${where} must be a number above 0`);
  return value;
}

/** What differs between a compared result's workload and the run's (empty: the same, or not said). */
export function workloadDifferences(result: ComparedResult, run: { readonly sizeBytes: number; readonly inflight: number }): string[] {
  const differences: string[] = [];
  if (result.sizeBytes !== null && result.sizeBytes !== run.sizeBytes) differences.push(`${result.sizeBytes} B messages, not ${run.sizeBytes}`);
  if (result.inflight !== null && result.inflight !== run.inflight) differences.push(`${result.inflight} in flight, not ${run.inflight}`);
  return differences;
}
