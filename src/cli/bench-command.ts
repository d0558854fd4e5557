import * as fs from 'node:fs';
import * as os from 'node:os';

import { chartHtml, ComparisonFileError, floorFsyncsFor, formatFloorPairs, runFloorPairs, formatMetricsCost, formatReport, pairedRunConfig, BenchInterruptedError, runMetricsAlternating, runMetricsInterleaved, runMetricsTogether, METRICS_CPU_DEFAULTS, parseComparison, runBench, type BenchConfig, type ComparedResult, PAYLOAD_HEADER_BYTES } from '../bench/index.js';
import { parseDurationMs, parseFlushFlags, parseWholeNumber, UsageError } from './usage-error.js';
import { parseCommandLine } from './parse-command-line.js';
import { runMetricsCpuChild, runMetricsCpuCommand } from './metrics-cpu-command.js';
import { runSnapshotBenchCommand } from './snapshot-bench-command.js';

export const BENCH_HELP = `Usage: quorumlog bench [options]

Starts a local cluster (or targets --brokers), produces for a while, then drains what was
produced, and prints throughput, latency percentiles, the disk's own write + fdatasync
limit measured in the same run (and, at one record in flight, the latency floor: see
--floor), each node's CPU seconds and peak memory, and how the host's CPU time divided over
the measured window (busy, idle, and steal: taken by the hypervisor for other guests).

Options:
  --api log|broker     what produce measures: appends to the replicated log (log, the
                       default), or the broker: a Producer (idempotent) sending messages
                       to a fresh topic, read end to end by a consumer group, then drained
                       by another group acking each message (broker)
  --nodes N            nodes of the local cluster (default 3)
  --producers N        producers, each with its own connection (default 1)
  --inflight N         records each producer keeps unacknowledged (default 64)
  --size BYTES         record size, at least ${PAYLOAD_HEADER_BYTES} (default 1024)
  --acks all|leader    acknowledge once committed on a majority, each node having
                       fdatasync'ed (all, the default), or once the leader alone has
                       (leader: a leader failure can lose acknowledged records)
  --flush sync|async   the nodes' flush policy (default sync)
  --durable-mark ordered|lagging
                       sync flush only: lagging acknowledges after each node's data
                       fdatasync, before its durable mark's (default ordered; see
                       quorumlog node --help)
  --segment-bytes N    the nodes' --segment-bytes (default theirs, 64 MiB): small segments
                       roll often, to measure what a roll costs
  --duration D         measured time, e.g. 20s (default 20s)
  --warmup D           unmeasured time before it (default 3s)
  --brokers LIST       benchmark a running cluster at host:port,... instead of starting one
  --no-batch           one Append request per record (default: a producer's pending records
                       share a request, like a Kafka producer's batch)
  --batch-records N    records per Append request at most (default 4096)
  --no-drain           skip the consume phases
  --group-drain N      messages a consumer group drains from a topic filled for it, acking
                       each (default 100000; 0 skips; with --api broker the group drains
                       all the run produced instead, any N above 0)
  --no-e2e             no reader following the log while producing (no end-to-end latency;
                       produce alone, as the reference figures were measured)
  --disk-probe D       time per raw disk case (default 1s; three cases)
  --floor D            with one producer and --inflight 1 on a plaintext three-node cluster
                       the bench starts (acks all): after the disk probe, measure the
                       latency floor for D (default 3s; 0 skips): a bare gRPC round trip
                       from this process to a leader and two follower processes, each
                       writing the record and paying the fdatasyncs the configuration
                       needs (2 with the ordered mark, 1 with --durable-mark lagging, 0 with
                       --flush async), answered once two of three have; prints its p50 and
                       p90, the run's ack p50 over the floor's, and the floor's CPU a round
                       beside the nodes' CPU a message
  --floor-pairs N      one in flight against the floor in N rounds of alternating windows
                       (each as long as --floor), the floor's processes and the cluster both
                       up throughout: prints each round's ack p50 and floor p50 and the
                       median of their ratios with its 95% interval, against the target of
                       1.25x, after --warmup of each unmeasured (takes --api, --size,
                       --flush, --durable-mark, --warmup, --dir, --json)
  --dir DIR            where the cluster's data and the disk probe go, created if missing
                       (default the OS temp dir)
  --json FILE          write the full result as JSON
  --chart FILE         write an HTML page with SVG charts of latency and throughput
  --compare FILE       other systems' results (JSON, measured elsewhere: see docs/bench.md)
                       to print and chart beside this run's, as ratios
  --cpu-prof DIR       run each node under node --cpu-prof, profiles written into DIR
  --metrics-scrape D   the nodes serve HTTP and the bench scrapes each one's /metrics every D
                       (e.g. 1s) while it produces, as a Prometheus server would
  --case snapshots     snapshot and retention cases instead (restart time, disk use under
                       retention, InstallSnapshot against the disk, produce with and without
                       snapshots); see quorumlog bench --case snapshots --help
  --tls                the cluster serves TLS to clients and mutual TLS between peers, with
                       development certificates made for the run (not with --brokers)
  --tls-cost N         N pairs of produce runs, one plaintext and one with --tls, in
                       alternating order; prints each pair's msg/s and the median ratio
  --metrics-cost N     N pairs of produce runs, one without HTTP and one scraped every second
                       (--metrics-scrape, default 1s), in alternating order; prints each
                       pair's msg/s and the nodes' CPU per message, and the median ratios
                       with a 95% interval and the throughput cost in percent (no drain)
  --together           with --metrics-cost: each pair's two clusters produce at the same
                       time, each from a bench process of its own, so the machine's other
                       work falls on both; prints the throughput ratio per pair and the median
  --interleaved        with --metrics-cost: two clusters started once take turns, each
                       round producing to one while every process of the other is stopped
                       (SIGSTOP), so a round's two windows are seconds apart on the same
                       clusters; prints the throughput ratio per round and the median
  --control            with --metrics-cost: neither run or cluster keeps metrics (an A/A
                       run: what the measure reads when there is nothing to find)
  --metrics-cpu N      N rounds of the CPU metrics cost a node: each round runs a metered
                       pair and a control pair, each two processes at once, each a one-node
                       cluster (real files, appends through the node's service, no gRPC,
                       flush sync unless --flush async) taking --records records of --size
                       after a fifth as many unmeasured, in calls of --inflight records; in
                       the metered pair one serves /metrics and the status page over HTTP,
                       scraped every second (--metrics-scrape); in the control pair neither
                       keeps metrics. Prints each one's CPU per measured record, the median
                       ratios with a 95% bootstrap interval, and what that ratio takes from
                       the throughput of a node bound by its CPU
  --records N          with --metrics-cpu: records measured on each side (default 100000)
  --records-per-second N
                       with --metrics-cpu: the rate both sides of a pair are held to
                       (default 10000; 0: flat out)
  -h, --help           show this help
`;

const FLOOR_DEFAULT_MS = 3_000;
const FLOOR_MAX_MS = 60_000;

const OPTIONS = {
  api: { type: 'string' },
  nodes: { type: 'string' },
  producers: { type: 'string' },
  inflight: { type: 'string' },
  size: { type: 'string' },
  acks: { type: 'string' },
  flush: { type: 'string' },
  'durable-mark': { type: 'string' },
  'segment-bytes': { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  brokers: { type: 'string' },
  'no-batch': { type: 'boolean' },
  'batch-records': { type: 'string' },
  'no-drain': { type: 'boolean' },
  'group-drain': { type: 'string' },
  'no-e2e': { type: 'boolean' },
  'disk-probe': { type: 'string' },
  floor: { type: 'string' },
  'floor-pairs': { type: 'string' },
  dir: { type: 'string' },
  json: { type: 'string' },
  chart: { type: 'string' },
  compare: { type: 'string' },
  'cpu-prof': { type: 'string' },
  'metrics-scrape': { type: 'string' },
  'metrics-cost': { type: 'string' },
  together: { type: 'boolean' },
  interleaved: { type: 'boolean' },
  control: { type: 'boolean' },
  tls: { type: 'boolean' },
  'tls-cost': { type: 'string' },
  'metrics-cpu': { type: 'string' },
  records: { type: 'string' },
  'records-per-second': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses the command line into a run's configuration, or 'help'. */
export function benchConfigFromArgs(argv: readonly string[]): { config: BenchConfig; json: string | null; chart: string | null; costPairs: number | null; together: boolean; interleaved: boolean; control: boolean; tlsPairs: number | null; cpuRounds: number | null; cpuRecords: number; cpuRate: number | null; floorPairs: number | null; compared: ComparedResult[] } | 'help' {
  const { values } = parseCommandLine(argv, OPTIONS, { allowPositionals: false });
  if (values.help === true) return 'help';
  const acks = values.acks ?? 'all';
  if (acks !== 'all' && acks !== 'leader') throw new UsageError(`--acks must be all or leader, not "${acks}"`);
  const { flush, durableMark } = parseFlushFlags(values.flush, values['durable-mark']);
  const api = values.api ?? 'log';
  if (api !== 'log' && api !== 'broker') throw new UsageError(`--api must be log or broker, not "${api}"`);
  const brokers = values.brokers ?? null;
  const config: BenchConfig = {
    api,
    nodes: parseWholeNumber('nodes', values.nodes, { min: 1, max: 9 }) ?? 3,
    producers: parseWholeNumber('producers', values.producers, { min: 1, max: 256 }) ?? 1,
    inflight: parseWholeNumber('inflight', values.inflight, { min: 1, max: 65_536 }) ?? 64,
    sizeBytes: parseWholeNumber('size', values.size, { min: PAYLOAD_HEADER_BYTES, max: 4 * 1024 * 1024 }) ?? 1024,
    acks,
    flush,
    durableMark,
    segmentBytes: parseWholeNumber('segment-bytes', values['segment-bytes'], { min: 4096, max: 1024 * 1024 * 1024 }) ?? null,
    durationMs: parseDurationMs('duration', values.duration) ?? 20_000,
    warmupMs: values.warmup === '0' ? 0 : (parseDurationMs('warmup', values.warmup) ?? 3_000),
    brokers: brokers === null ? null : brokers.split(',').map((b) => b.trim()).filter((b) => b !== ''),
    clientBatching: values['no-batch'] !== true,
    batchRecordsMax: parseWholeNumber('batch-records', values['batch-records'], { min: 1, max: 65_536 }) ?? null,
    diskProbeMs: parseDurationMs('disk-probe', values['disk-probe']) ?? 1_000,
    floorMs: parseFloorMs(values.floor),
    dataParent: values.dir ?? os.tmpdir(),
    cpuProfileDir: values['cpu-prof'] ?? null,
    drain: values['no-drain'] !== true,
    groupDrainMessages: values['no-drain'] === true ? 0 : (parseWholeNumber('group-drain', values['group-drain'], { min: 0, max: 10_000_000 }) ?? 100_000),
    endToEnd: values['no-e2e'] !== true,
    metricsScrapeMs: parseDurationMs('metrics-scrape', values['metrics-scrape']) ?? null,
    tls: values.tls === true,
  };
  if (config.brokers !== null && config.tls) throw new UsageError('--tls applies to a cluster the bench starts, not to --brokers');
  if (config.brokers !== null && config.metricsScrapeMs !== null) throw new UsageError('--metrics-scrape applies to a cluster the bench starts, not to --brokers');
  if (config.brokers !== null && config.brokers.length === 0) throw new UsageError('--brokers needs at least one host:port');
  if (config.brokers !== null && values.flush !== undefined) throw new UsageError('--flush applies to a cluster the bench starts, not to --brokers');
  if (config.brokers !== null && config.segmentBytes !== null) throw new UsageError('--segment-bytes applies to a cluster the bench starts, not to --brokers');
  if (config.brokers !== null && values['durable-mark'] !== undefined) throw new UsageError('--durable-mark applies to a cluster the bench starts, not to --brokers');
  if (config.floorMs > 0 && values.floor !== undefined && values['floor-pairs'] === undefined && floorFsyncsFor(config) === null) {
    throw new UsageError('--floor models one producer with --inflight 1 and acks all on a plaintext three-node cluster the bench starts (not --brokers or --tls)');
  }
  const costPairs = parseWholeNumber('metrics-cost', values['metrics-cost'], { min: 1, max: 50 }) ?? null;
  if (costPairs !== null && config.brokers !== null) throw new UsageError('--metrics-cost starts its own clusters; it does not take --brokers');
  const together = values.together === true;
  const interleaved = values.interleaved === true;
  const control = values.control === true;
  if (together && costPairs === null) throw new UsageError('--together goes with --metrics-cost');
  if (interleaved && costPairs === null) throw new UsageError('--interleaved goes with --metrics-cost');
  if (interleaved && together) throw new UsageError('--interleaved and --together are two ways to pair the runs: pick one');
  if (control && costPairs === null) throw new UsageError('--control goes with --metrics-cost N');
  const cpuRounds = parseWholeNumber('metrics-cpu', values['metrics-cpu'], { min: 1, max: 50 }) ?? null;
  if (cpuRounds !== null && (config.brokers !== null || costPairs !== null)) throw new UsageError('--metrics-cpu runs a node in this process; it takes neither --brokers nor --metrics-cost');
  const cpuRecords = parseWholeNumber('records', values.records, { min: 1_000, max: 10_000_000 }) ?? METRICS_CPU_DEFAULTS.records;
  if (values.records !== undefined && cpuRounds === null) throw new UsageError('--records goes with --metrics-cpu');
  const cpuRate = parseWholeNumber('records-per-second', values['records-per-second'], { min: 0, max: 10_000_000 }) ?? METRICS_CPU_DEFAULTS.recordsPerSecond;
  if (values['records-per-second'] !== undefined && cpuRounds === null) throw new UsageError('--records-per-second goes with --metrics-cpu');
  const tlsPairs = parseWholeNumber('tls-cost', values['tls-cost'], { min: 1, max: 50 }) ?? null;
  if (tlsPairs !== null && (config.brokers !== null || costPairs !== null || cpuRounds !== null || config.tls)) throw new UsageError('--tls-cost starts its own clusters, plaintext and TLS; it takes neither --brokers, --tls, --metrics-cost nor --metrics-cpu');
  if (values.floor !== undefined && (costPairs !== null || tlsPairs !== null || cpuRounds !== null)) throw new UsageError('--floor goes with a single run; --metrics-cost, --metrics-cpu and --tls-cost measure no floor');
  const compared = values.compare === undefined ? [] : readComparison(values.compare);
  if (compared.length > 0 && (costPairs !== null || tlsPairs !== null || cpuRounds !== null)) throw new UsageError('--compare sets one run against other systems; --metrics-cost, --metrics-cpu and --tls-cost run on their own');
  const floorPairs = parseWholeNumber('floor-pairs', values['floor-pairs'], { min: 1, max: 100 }) ?? null;
  if (floorPairs !== null) {
    if (costPairs !== null || tlsPairs !== null || cpuRounds !== null || compared.length > 0) throw new UsageError('--floor-pairs runs on its own; it takes neither --metrics-cost, --metrics-cpu, --tls-cost nor --compare');
    if ((values.inflight !== undefined && config.inflight !== 1) || config.producers !== 1) throw new UsageError('--floor-pairs measures one producer with one record in flight');
    if (floorFsyncsFor({ ...config, inflight: 1 }) === null) throw new UsageError('--floor-pairs models acks all on a plaintext three-node cluster the bench starts (not --brokers, --tls, --nodes or --acks leader)');
    if (config.floorMs === 0) throw new UsageError('--floor-pairs measures windows as long as --floor, which must be above 0');
  }
  return { config, json: values.json ?? null, chart: values.chart ?? null, costPairs, together, interleaved, control, tlsPairs, cpuRounds, cpuRecords, cpuRate: cpuRate === 0 ? null : cpuRate, floorPairs, compared };
}

/** `--floor D` in milliseconds, at most a minute; 0 (or 0s) skips the floor. */
function parseFloorMs(value: string | undefined): number {
  if (value === undefined) return FLOOR_DEFAULT_MS;
  if (/^0+(\.0+)?(ms|s|m|h)?$/.test(value.trim())) return 0;
  const ms = parseDurationMs('floor', value) ?? FLOOR_DEFAULT_MS;
  if (ms > FLOOR_MAX_MS) throw new UsageError(`--floor must be at most ${FLOOR_MAX_MS / 1000}s, not "${value}"`);
  return ms;
}

/** The --compare file's results, read before anything starts: a bad file is one line, exit 2. */
function readComparison(file: string): ComparedResult[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--compare ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  try {
    return parseComparison(text);
  } catch (error) {
    if (error instanceof ComparisonFileError) throw new UsageError(`--compare ${file}: ${error.message}`);
    throw error;
  }
}

export async function runBenchCommand(argv: readonly string[]): Promise<number> {
  if (argv.some((arg) => arg === '--case' || arg.startsWith('--case='))) return runSnapshotBenchCommand(argv);
  // One side of a --metrics-cpu round, started by the bench itself (not in --help).
  if (argv[0] === '--metrics-cpu-run' && argv.length === 2) return runMetricsCpuChild(argv[1] ?? '');
  const parsed = benchConfigFromArgs(argv);
  if (parsed === 'help') {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  const { config } = parsed;
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Progress goes to stderr on a terminal only; piped output stays the result alone.
  const tty = process.stderr.isTTY === true;
  const status = (text: string): void => {
    if (tty) process.stderr.write(`\r\x1b[K${text}`);
  };
  try {
    if (parsed.cpuRounds !== null) {
      status('quorumlog bench: measuring the CPU metrics cost ...');
      return await runMetricsCpuCommand({
        ...METRICS_CPU_DEFAULTS,
        rounds: parsed.cpuRounds,
        flush: config.flush,
        scrapeMs: config.metricsScrapeMs ?? METRICS_CPU_DEFAULTS.scrapeMs,
        onPhase: (phase) => status(`quorumlog bench: ${phase} ...`),
        records: parsed.cpuRecords,
        recordsPerSecond: parsed.cpuRate,
        warmupRecords: Math.ceil(parsed.cpuRecords / 5),
        recordBytes: config.sizeBytes,
        recordsPerCall: config.inflight,
        dataParent: config.dataParent,
        json: parsed.json,
      });
    }
    if (parsed.costPairs !== null) {
      const run = parsed.together ? runMetricsTogether : parsed.interleaved ? runMetricsInterleaved : runMetricsAlternating;
      const report = await run({ config, rounds: parsed.costPairs, scrapeMs: config.metricsScrapeMs ?? 1_000, control: parsed.control, signal: abort.signal, onPhase: (phase) => status(`quorumlog bench: ${phase} ...`) });
      status('');
      if (abort.signal.aborted) throw new BenchInterruptedError();
      process.stdout.write(formatMetricsCost(report, config));
      if (parsed.json !== null) fs.writeFileSync(parsed.json, JSON.stringify(report, null, 2) + '\n');
      return report.rounds.every((r) => r.plainPerSecond > 0 && r.meteredPerSecond > 0 && (parsed.control || r.scrapes > 0)) ? 0 : 1;
    }
    if (parsed.tlsPairs !== null) return await runTlsCost(config, parsed.tlsPairs, { signal: abort.signal, status, json: parsed.json });
    if (parsed.floorPairs !== null) {
      const report = await runFloorPairs({
        api: config.api,
        sizeBytes: config.sizeBytes,
        flush: config.flush,
        durableMark: config.durableMark,
        rounds: parsed.floorPairs,
        windowMs: config.floorMs,
        warmupMs: config.warmupMs,
        dataParent: config.dataParent,
        onPhase: (phase) => status(`quorumlog bench: ${phase} ...`),
        signal: abort.signal,
      }).catch((error: unknown) => {
        if (abort.signal.aborted) throw new BenchInterruptedError();
        throw error;
      });
      status('');
      process.stdout.write(formatFloorPairs(report));
      if (parsed.json !== null) fs.writeFileSync(parsed.json, JSON.stringify(report, null, 2) + '\n');
      return 0;
    }
    const report = await runBench(config, {
      signal: abort.signal,
      onPhase: (phase) => status(`quorumlog bench: ${phase} ...`),
      onProgress: (p) => {
        const totalS = (config.warmupMs + config.durationMs) / 1000;
        status(`quorumlog bench: ${p.phase === 'warmup' ? 'warming up' : 'measuring'} ${(p.elapsedMs / 1000).toFixed(0)}/${totalS.toFixed(0)} s  ${p.ackedInLastSecond.toLocaleString('en-US')} msg/s${p.errors > 0 ? `  ${p.errors} errors` : ''}`);
      },
    });
    status('');
    process.stdout.write(formatReport(report, parsed.compared));
    if (parsed.json !== null) fs.writeFileSync(parsed.json, JSON.stringify(parsed.compared.length === 0 ? report : { ...report, compared: parsed.compared }, null, 2) + '\n');
    if (parsed.chart !== null) fs.writeFileSync(parsed.chart, chartHtml(report, parsed.compared));
    return report.produce.messages > 0 ? 0 : 1;
  } catch (error) {
    if (!(error instanceof BenchInterruptedError)) throw error;
    status('');
    process.stderr.write('quorumlog bench: interrupted; every node was stopped\n');
    return 130;
  } finally {
    status('');
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/**
 * What TLS costs: `pairs` pairs of produce runs on fresh clusters, one plaintext and one with
 * TLS to clients and mutual TLS between peers, the order flipping each pair (so neither side
 * always runs on a warmer machine); prints each pair's msg/s and the median ratio.
 */
async function runTlsCost(config: BenchConfig, pairs: number, io: { readonly signal: AbortSignal; readonly status: (text: string) => void; readonly json: string | null }): Promise<number> {
  const base = pairedRunConfig(config);
  const results: { plainPerSecond: number; tlsPerSecond: number; plainP99Ms: number; tlsP99Ms: number }[] = [];
  const once = async (tls: boolean, label: string): Promise<{ perSecond: number; p99Ms: number }> => {
    io.status(`quorumlog bench: ${label} ...`);
    const report = await runBench({ ...base, tls }, { signal: io.signal });
    return { perSecond: report.produce.messagesPerSecond, p99Ms: report.produce.latency.p99Ms };
  };
  for (let k = 0; k < pairs; k++) {
    const tlsFirst = k % 2 === 1;
    const first = await once(tlsFirst, `pair ${k + 1} of ${pairs}, ${tlsFirst ? 'TLS' : 'plaintext'}`);
    const second = await once(!tlsFirst, `pair ${k + 1} of ${pairs}, ${tlsFirst ? 'plaintext' : 'TLS'}`);
    const [plain, tls] = tlsFirst ? [second, first] : [first, second];
    results.push({ plainPerSecond: plain.perSecond, tlsPerSecond: tls.perSecond, plainP99Ms: plain.p99Ms, tlsP99Ms: tls.p99Ms });
  }
  io.status('');
  const ratioOf = (r: (typeof results)[number]): number => (r.plainPerSecond > 0 ? r.tlsPerSecond / r.plainPerSecond : 0);
  const ratios = results.map(ratioOf).sort((a, b) => a - b);
  const median = ratios[Math.floor(ratios.length / 2)] ?? 0;
  const msgs = (n: number): string => Math.round(n).toLocaleString('en-US');
  const lines = results.map((r, k) => `pair ${k + 1}: ${msgs(r.plainPerSecond)} msg/s plaintext (p99 ${r.plainP99Ms.toFixed(1)} ms), ${msgs(r.tlsPerSecond)} msg/s TLS (p99 ${r.tlsP99Ms.toFixed(1)} ms): ${ratioOf(r).toFixed(3)}x`);
  lines.push(`TLS cost: TLS over plaintext throughput, median of ${pairs} pairs ${median.toFixed(3)}x (spread ${ratios[0]?.toFixed(3)}-${ratios.at(-1)?.toFixed(3)}), ${config.producers} x ${config.inflight} in flight, ${config.sizeBytes} B`);
  process.stdout.write(lines.join('\n') + '\n');
  if (io.json !== null) fs.writeFileSync(io.json, JSON.stringify({ pairs: results, medianRatio: median }, null, 2) + '\n');
  return results.every((r) => r.plainPerSecond > 0 && r.tlsPerSecond > 0) ? 0 : 1;
}
