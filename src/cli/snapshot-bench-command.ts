import * as fs from 'node:fs';
import * as os from 'node:os';

import { formatSnapshotReport, runSnapshotBench, SNAPSHOT_BENCH_CASES, type SnapshotBenchCase, type SnapshotBenchConfig } from '../bench/index.js';
import { parseCommandLine } from './parse-command-line.js';
import { parseDurationMs, parseWholeNumber, UsageError } from './usage-error.js';

export const SNAPSHOT_BENCH_HELP = `Usage: quorumlog bench --case snapshots [options]

Measures snapshots and retention on local clusters of its own (127.0.0.1, temp data, every
process stopped at the end), each figure beside a reference measured in the same run:

  restart     one node filled with plain appends (one entry each), killed with SIGKILL and
              started again: time from spawn to its first acknowledged append, for each
              history size, with a snapshot every --snapshot-entries and without
  retention   three nodes under a steady produce (one entry a message) and a consumer group
              acking each, short retention and small segments: du of each data directory
              every --sample; first, max, last and the second half's slope
  install     a follower stopped while the others take one-message produce requests and
              compact: the snapshot the leader sends it, MB/s against the same disk writing
              a file of that size (1 MiB writes, one fdatasync)
  throughput  produce with snapshots against without, in alternating pairs on fresh
              clusters, median ratio; each node's event-loop delay (max, p99) from /metrics
  encode      in this process: a broker state of --encode-deliveries in-flight deliveries
              and one of --encode-runs offset runs; the event loop's largest delay while a
              snapshot of each is written the way a node writes it (in ~2 ms slices), beside
              the same measure over an idle window and the one-shot encoding's time

Options:
  --cases LIST              which of ${SNAPSHOT_BENCH_CASES.join(',')} (default all, in that order)
  --snapshot-entries N      the nodes' interval "with snapshots" (default 10000)
  --restart-history LIST    history sizes in records (default 100000,1000000)
  --restart-size BYTES      record size of the restart history (default 128)
  --retention-duration D    length of the steady load (default 60s; 10m for the documented run)
  --retention-rate N        messages per second (default 1000)
  --retention-size BYTES    message size (default 1024)
  --retention-hours H       the nodes' --retention-hours (default 0.005, 18 s)
  --segment-bytes N         the nodes' --segment-bytes in the retention and install cases
                            (default 1048576)
  --sample D                how often each data directory is measured (default 5s)
  --install-entries N       produce requests while the follower is down (default 200000)
  --pairs N                 throughput pairs (default 3)
  --inflight N              throughput: records in flight (default 64)
  --size BYTES              throughput: record size (default 1024)
  --duration D              throughput: measured time of each run (default 10s)
  --warmup D                throughput: unmeasured time before it (default 2s)
  --encode-deliveries N     encode: in-flight deliveries (default 1000000)
  --encode-runs N           encode: offset runs (default 175000, a ~4 MiB snapshot)
  --encode-rounds N         encode: snapshots written of each state (default 3)
  --dir DIR                 where the clusters' data and the disk probe go (default the OS temp dir)
  --json FILE               write the full result as JSON
  -h, --help                show this help
`;

const OPTIONS = {
  case: { type: 'string' },
  cases: { type: 'string' },
  'snapshot-entries': { type: 'string' },
  'restart-history': { type: 'string' },
  'restart-size': { type: 'string' },
  'retention-duration': { type: 'string' },
  'retention-rate': { type: 'string' },
  'retention-size': { type: 'string' },
  'retention-hours': { type: 'string' },
  'segment-bytes': { type: 'string' },
  sample: { type: 'string' },
  'install-entries': { type: 'string' },
  pairs: { type: 'string' },
  inflight: { type: 'string' },
  size: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  'encode-deliveries': { type: 'string' },
  'encode-runs': { type: 'string' },
  'encode-rounds': { type: 'string' },
  dir: { type: 'string' },
  json: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A --snapshot-entries no run here reaches: the nodes then write a snapshot only at a clean shutdown. */
const NO_SNAPSHOT_ENTRIES = 1_000_000_000;

export function snapshotBenchConfigFromArgs(argv: readonly string[]): { config: SnapshotBenchConfig; json: string | null } | 'help' {
  const { values } = parseCommandLine(argv, OPTIONS, { allowPositionals: false });
  if (values.help === true) return 'help';
  if (values.case !== 'snapshots') throw new UsageError(`--case must be snapshots, not "${values.case ?? ''}"`);
  const cases = parseCases(values.cases);
  const history = (values['restart-history'] ?? '100000,1000000').split(',').map((v) => parseWholeNumber('restart-history', v.trim(), { min: 1, max: 100_000_000 }) ?? 0);
  const retentionHours = Number(values['retention-hours'] ?? '0.005');
  if (!(Number.isFinite(retentionHours) && retentionHours >= 0)) throw new UsageError(`--retention-hours must be a number of hours of at least 0, not "${values['retention-hours']}"`);
  const segmentBytes = parseWholeNumber('segment-bytes', values['segment-bytes'], { min: 4096, max: 1024 * 1024 * 1024 }) ?? 1024 * 1024;
  const config: SnapshotBenchConfig = {
    cases,
    snapshotEntries: parseWholeNumber('snapshot-entries', values['snapshot-entries'], { min: 1, max: NO_SNAPSHOT_ENTRIES - 1 }) ?? 10_000,
    noSnapshotEntries: NO_SNAPSHOT_ENTRIES,
    restart: { historyRecords: history, recordBytes: parseWholeNumber('restart-size', values['restart-size'], { min: 1, max: 1024 * 1024 }) ?? 128 },
    retention: {
      durationMs: parseDurationMs('retention-duration', values['retention-duration']) ?? 60_000,
      sampleMs: parseDurationMs('sample', values.sample) ?? 5_000,
      ratePerSecond: parseWholeNumber('retention-rate', values['retention-rate'], { min: 1, max: 100_000 }) ?? 1_000,
      messageBytes: parseWholeNumber('retention-size', values['retention-size'], { min: 1, max: 1024 * 1024 }) ?? 1024,
      retentionHours,
      segmentBytes,
    },
    install: { entries: parseWholeNumber('install-entries', values['install-entries'], { min: 1, max: 100_000_000 }) ?? 200_000, messageBytes: 16, segmentBytes },
    throughput: {
      pairs: parseWholeNumber('pairs', values.pairs, { min: 1, max: 50 }) ?? 3,
      inflight: parseWholeNumber('inflight', values.inflight, { min: 1, max: 65_536 }) ?? 64,
      sizeBytes: parseWholeNumber('size', values.size, { min: 16, max: 4 * 1024 * 1024 }) ?? 1024,
      warmupMs: values.warmup === '0' ? 0 : (parseDurationMs('warmup', values.warmup) ?? 2_000),
      durationMs: parseDurationMs('duration', values.duration) ?? 10_000,
      scrapeMs: 1_000,
    },
    encode: {
      deliveries: parseWholeNumber('encode-deliveries', values['encode-deliveries'], { min: 1, max: 10_000_000 }) ?? 1_000_000,
      runs: parseWholeNumber('encode-runs', values['encode-runs'], { min: 1, max: 10_000_000 }) ?? 175_000,
      rounds: parseWholeNumber('encode-rounds', values['encode-rounds'], { min: 1, max: 50 }) ?? 3,
    },
    dataParent: values.dir ?? os.tmpdir(),
  };
  return { config, json: values.json ?? null };
}

function parseCases(value: string | undefined): SnapshotBenchCase[] {
  if (value === undefined) return [...SNAPSHOT_BENCH_CASES];
  const asked = value.split(',').map((c) => c.trim());
  for (const c of asked) if (!(SNAPSHOT_BENCH_CASES as readonly string[]).includes(c)) throw new UsageError(`--cases takes ${SNAPSHOT_BENCH_CASES.join(', ')}, not "${c}"`);
  // In the documented order, whatever order they were asked in.
  return SNAPSHOT_BENCH_CASES.filter((c) => asked.includes(c));
}

/** `quorumlog bench --case snapshots ...`: runs the cases, prints the summary, writes --json. */
export async function runSnapshotBenchCommand(argv: readonly string[]): Promise<number> {
  const parsed = snapshotBenchConfigFromArgs(argv);
  if (parsed === 'help') {
    process.stdout.write(SNAPSHOT_BENCH_HELP);
    return 0;
  }
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = process.stderr.isTTY === true;
  const status = (text: string): void => {
    if (tty) process.stderr.write(`\r\x1b[K${text}`);
  };
  try {
    const report = await runSnapshotBench(parsed.config, { signal: abort.signal, onPhase: (phase) => status(`quorumlog bench: ${phase} ...`) });
    status('');
    if (abort.signal.aborted) {
      process.stderr.write('quorumlog bench: interrupted; every node was stopped\n');
      return 130;
    }
    process.stdout.write(formatSnapshotReport(report));
    if (parsed.json !== null) fs.writeFileSync(parsed.json, JSON.stringify(report, null, 2) + '\n');
    return 0;
  } finally {
    status('');
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
