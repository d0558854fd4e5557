import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import type { BenchReport } from '../../src/bench/run-bench.js';
import { Admin } from '../../src/client/index.js';
import { ensureBuilt } from '../harness/build.js';
import { runCli } from '../harness/cli.js';
import { LONG_RUN } from '../harness/long-run.js';
import { startClusterForTest } from '../harness/use-cluster.js';

/**
 * The shape of a bench run's output, not its speed: a few seconds, random ports, nothing left
 * running. The runs with --acks leader, --durable-mark lagging and --flush async are in
 * test:long only (LONG_RUN).
 */
describe('quorumlog bench (smoke)', () => {
  beforeAll(async () => {
    await ensureBuilt();
  });

  it('runs a short produce and drain, writes JSON and a chart, creates a --dir that does not exist yet, and stops every node', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-bench-smoke-'));
    try {
      const json = path.join(dir, 'out.json');
      const chart = path.join(dir, 'chart.html');
      const compare = path.join(dir, 'compare.json');
      // --dir need not exist: it is created, parents too, instead of failing with ENOENT.
      const notYet = path.join(dir, 'not', 'yet');
      fs.writeFileSync(compare, JSON.stringify({ results: [
        { system: 'Broker A', messagesPerSecond: 1_000, p50Ms: 1.5, p99Ms: 9, sizeBytes: 128, inflight: 8, source: 'a-perf-tool -s 128' },
        { system: 'Broker B', messagesPerSecond: 2_000, sizeBytes: 1024 },
      ] }));
      const result = await runCli(
        ['bench', '--duration', '2s', '--warmup', '0.5s', '--inflight', '8', '--size', '128', '--disk-probe', '100ms', '--group-drain', '3000', '--segment-bytes', '65536', '--dir', notYet, '--json', json, '--chart', chart, '--compare', compare],
        { timeoutMs: 60_000 },
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^produce\s+[\d,]+ msg\/s/m);
      expect(result.stdout).toMatch(/^consume\s+[\d,]+ msg\/s/m);
      expect(result.stdout).toMatch(/^group drain\s+[\d,]+ msg\/s/m);
      expect(result.stdout).toMatch(/p50\s+p90\s+p99\s+p99\.9\s+max/);
      // Each node's event-loop delay over the measured window, max / p99 in ms.
      expect(result.stdout).toMatch(/^  node\s+CPU s \(measured \/ total\)\s+CPU us\/msg\s+peak RSS\s+event-loop delay max \/ p99 \(ms\)$/m);
      for (const id of ['n1', 'n2', 'n3']) expect(result.stdout).toMatch(new RegExp(`^  ${id} .* MiB\\s+[\\d.]+ / [\\d.]+( {2}over 10 ms)?( {2}\\(main thread waited for a CPU [\\d.]+ ms/s\\))?$`, 'm'));
      // The compared systems beside the run, ours over theirs, a different workload flagged.
      expect(result.stdout).toMatch(/^  Broker A\s+1,000\s+1\.50\s+9\.00\s+[\d.]+x\s+[\d.]+x\s+[\d.]+x$/m);
      expect(result.stdout).toMatch(/^  Broker B\s+2,000\s+n\/a\s+n\/a\s+[\d.]+x\s+n\/a\s+n\/a\n    not the same workload: 1024 B messages, not 128$/m);
      expect(result.stdout).toContain('    source: a-perf-tool -s 128');

      const report = JSON.parse(fs.readFileSync(json, 'utf8')) as BenchReport;
      expect(report.config).toMatchObject({ nodes: 3, inflight: 8, sizeBytes: 128, acks: 'all', flush: 'sync', durableMark: 'ordered', segmentBytes: 65536 });
      const produce = report.produce;
      expect(produce.messages).toBeGreaterThan(0);
      expect(produce.errors).toBe(0);
      for (const key of ['p50Ms', 'p90Ms', 'p99Ms', 'p999Ms', 'maxMs'] as const) {
        expect(produce.latency[key]).toBeGreaterThan(0);
        expect(produce.endToEnd[key]).toBeGreaterThan(0);
      }
      expect(produce.latency.p50Ms).toBeLessThanOrEqual(produce.latency.p99Ms);
      expect(produce.latency.p99Ms).toBeLessThanOrEqual(produce.latency.maxMs);
      expect(report.drain?.messages).toBeGreaterThanOrEqual(produce.messages);
      expect(report.groupDrain).toMatchObject({ messages: 3000, bytes: 3000 * 128, ackErrors: 0 });
      expect(report.groupDrain?.messagesPerSecond).toBeGreaterThan(0);
      expect(report.disk.cases.map((c) => c.recordsPerSync)).toEqual([1, 16, 256]);
      expect(report.ratios.produceToSingleSync).toBeGreaterThan(0);
      expect(report.nodes).toHaveLength(3);
      for (const node of report.nodes) {
        expect(node.cpuSeconds).toBeGreaterThan(0);
        expect(node.peakRssBytes).toBeGreaterThan(0);
        // Sampled every 2 ms over the window (about 1.5 s here): hundreds of samples.
        const loop = node.eventLoop;
        expect(loop?.samples).toBeGreaterThan(10);
        expect(loop?.maxMs).toBeGreaterThanOrEqual(loop?.p99Ms ?? Infinity);
        expect(loop?.p99Ms).toBeGreaterThanOrEqual(0);
        expect(Array.isArray(loop?.stalls)).toBe(true);
        expect(loop?.runQueueMsPerSecond).toBeGreaterThanOrEqual(0);
        for (const [atMs, maxMs] of loop?.stalls ?? []) {
          expect(atMs).toBeGreaterThan(0);
          expect(maxMs).toBeGreaterThan(10);
        }
        expect(isAlive(node.pid)).toBe(false);
      }
      const page = fs.readFileSync(chart, 'utf8');
      // Six charts, each with labelled tick values and its unit; one sets the run against the
      // disk, two against the compared systems (throughput, and p99 for the one that gave it).
      expect(page.match(/<svg /g)).toHaveLength(6);
      for (const svg of page.match(/<svg [\s\S]*?<\/svg>/g) ?? []) expect(svg).toMatch(/class="(x|y)-tick"[^>]*>[^<]+</);
      expect(page).toContain('disk: 1 x 128 B per fdatasync');
      expect(page).toContain('ms, log scale');
      expect(page).toContain('Broker B (1024 B messages, not 128)');
      expect((report as BenchReport & { compared?: unknown[] }).compared).toHaveLength(2);
      // The cluster's data went under --dir and was removed; the folder asked for stays.
      expect(fs.readdirSync(dir).sort()).toEqual(['chart.html', 'compare.json', 'not', 'out.json']);
      expect(fs.readdirSync(notYet)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(LONG_RUN)('with --acks leader, acknowledges on the leader\'s fsync and still drains every record', async () => {
    const { stdout, report } = await shortBench(['--acks', 'leader', '--group-drain', '0', '--no-e2e']);
    expect(stdout).toMatch(/acks=leader/);
    expect(report.config).toMatchObject({ acks: 'leader' });
    expect(report.produce.messages).toBeGreaterThan(0);
    expect(report.produce.errors).toBe(0);
    // Acknowledged before replication, yet (no failover here) every record committed.
    expect(report.drain?.messages).toBeGreaterThanOrEqual(report.produce.messages);
  });

  it.runIf(LONG_RUN)('with --durable-mark lagging, says so in its heading, notes and JSON, and drains every acknowledged record', async () => {
    const { stdout, report } = await shortBench(['--durable-mark', 'lagging', '--group-drain', '0', '--no-e2e']);
    expect(stdout).toMatch(/acks=all, flush sync, lagging mark/);
    expect(stdout).toMatch(/durable mark lagging: each node acknowledges after its data's fdatasync/);
    expect(report.config).toMatchObject({ flush: 'sync', durableMark: 'lagging' });
    expect(report.produce.messages).toBeGreaterThan(0);
    expect(report.produce.errors).toBe(0);
    expect(report.drain?.messages).toBeGreaterThanOrEqual(report.produce.messages);
  });

  it.runIf(LONG_RUN)('with --flush async, starts its nodes with async flush and says so', async () => {
    const { stdout, report } = await shortBench(['--flush', 'async', '--group-drain', '0', '--no-e2e']);
    expect(stdout).toMatch(/acks=all, flush async,/);
    expect(stdout).toMatch(/flush async: nodes fdatasync on a timer/);
    expect(report.config).toMatchObject({ flush: 'async' });
    expect(report.produce.errors).toBe(0);
    expect(report.drain?.messages).toBeGreaterThanOrEqual(report.produce.messages);
  });

  it.runIf(LONG_RUN)('at --inflight 1, measures the latency floor in the same run and prints the ack p50 over it', async () => {
    const { stdout, report } = await shortBench(['--inflight', '1', '--floor', '0.3s', '--durable-mark', 'lagging', '--group-drain', '0', '--no-drain', '--no-e2e']);
    expect(stdout).toMatch(/^ {2}floor \(same run: 128 B over gRPC to a leader and two followers, 1 fdatasync\(s\) per node, answered by two of three\): p50 [\d.]+ ms, p90 [\d.]+ ms \([\d,]+ rounds\); ack p50 is [\d.]+x the floor$/m);
    expect(stdout).toMatch(/^ {2}floor CPU: its three node processes [\d,]+ us a round; this run's nodes [\d,]+ us a message, [\d.]+x the floor's$/m);
    expect(report.floor).toMatchObject({ fsyncsPerNode: 1 });
    expect(report.floor?.rounds).toBeGreaterThan(0);
    expect(report.floor?.p50Ms).toBeLessThanOrEqual(report.floor?.p90Ms ?? 0);
  });

  it('with --api broker, produces through the Producer to a fresh topic, reads it end to end with a group and drains it with another', async () => {
    const { stdout, report } = await shortBench(['--api', 'broker', '--warmup', '0.3s']);
    expect(stdout).toMatch(/128 B messages to a topic \(Producer\)/);
    expect(stdout).toMatch(/^group drain\s+[\d,]+ msg\/s/m);
    expect(stdout).not.toMatch(/^consume /m);
    expect(report.config).toMatchObject({ api: 'broker' });
    expect(report.produce.messages).toBeGreaterThan(0);
    expect(report.produce.errors).toBe(0);
    expect(report.produce.endToEnd.count).toBeGreaterThan(0);
    expect(report.drain).toBeNull();
    // The drain group took every message the run had acknowledged (warm-up included).
    expect(report.produce.acknowledgedTotal).toBeGreaterThanOrEqual(report.produce.messages);
    expect(report.groupDrain).toMatchObject({ messages: report.produce.acknowledgedTotal, bytes: report.produce.acknowledgedTotal * 128, ackErrors: 0 });
    for (const node of report.nodes) expect(isAlive(node.pid)).toBe(false);
  });

  it('against a running cluster (--brokers), leaves no topic or group of its own behind', async () => {
    const cluster = await startClusterForTest({ label: 'bench-brokers' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    try {
      await admin.createTopic('kept');
      const brokers = ['--brokers', cluster.brokers().join(',')];
      for (const args of [
        ['bench', '--api', 'broker', ...brokers, '--duration', '1s', '--warmup', '0.3s', '--inflight', '8', '--size', '128', '--disk-probe', '100ms'],
        ['bench', ...brokers, '--duration', '1s', '--warmup', '0.3s', '--inflight', '8', '--size', '128', '--disk-probe', '100ms', '--group-drain', '1000'],
      ]) {
        const result = await runCli(args, { timeoutMs: 60_000 });
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toMatch(/^group drain\s+[\d,]+ msg\/s/m);
      }
      expect((await admin.listTopics()).map((t) => t.name)).toEqual(['kept']);
      expect(await admin.listGroups()).toEqual([]);
    } finally {
      admin.close();
    }
  });

  // Two bench runs back to back (about 11 s): npm run test:long.
  it.runIf(LONG_RUN)('with --metrics-cost, runs the case without HTTP and with every node scraped each second, and prints the ratio', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-bench-smoke-'));
    try {
      const json = path.join(dir, 'cost.json');
      const result = await runCli(['bench', '--metrics-cost', '1', '--duration', '2s', '--warmup', '0.3s', '--inflight', '8', '--size', '128', '--disk-probe', '100ms', '--dir', dir, '--json', json], { timeoutMs: 90_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^round 1: [\d,]+ msg\/s plain, [\d,]+ msg\/s metered, scraped every 1 s \([1-9]\d* scrapes\): [\d.]+x; nodes' CPU [\d.]+ against [\d.]+ us\/msg$/m);
      expect(result.stdout).toMatch(/^metrics cost, fresh clusters in turn: metered over plain, the nodes' CPU per message: median [\d.]+x/m);
      expect(result.stdout).toMatch(/^metrics cost, fresh clusters in turn: metered over plain: throughput cost -?[\d.]+% \(95% interval -?[\d.]+% to -?[\d.]+%\)$/m);
      expect(result.stdout).toMatch(/^metrics cost, fresh clusters in turn: metered over plain throughput, median of 1 rounds [\d.]+x/m);
      const cost = JSON.parse(fs.readFileSync(json, 'utf8')) as { mode: string; rounds: { scrapes: number; failedScrapes: number }[] };
      expect(cost.mode).toBe('alternating');
      expect(cost.rounds[0]).toMatchObject({ failedScrapes: 0 });
      expect(cost.rounds[0]?.scrapes).toBeGreaterThan(0);
      expect(fs.readdirSync(dir)).toEqual(['cost.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // Two clusters taking turns (about 15 s): npm run test:long.
  it.runIf(LONG_RUN)('with --metrics-cost --interleaved, runs two clusters in turns, the idle one stopped, and prints the ratio per round', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-bench-smoke-'));
    try {
      const json = path.join(dir, 'interleaved.json');
      const result = await runCli(['bench', '--metrics-cost', '2', '--interleaved', '--duration', '1s', '--warmup', '0.3s', '--inflight', '8', '--size', '128', '--dir', dir, '--json', json], { timeoutMs: 120_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^round 2: [\d,]+ msg\/s plain, [\d,]+ msg\/s metered, scraped every 1 s \([1-9]\d* scrapes\): [\d.]+x;/m);
      expect(result.stdout).toMatch(/^metrics cost, in turns: metered over plain: throughput cost -?[\d.]+% \(95% interval -?[\d.]+% to -?[\d.]+%\)$/m);
      const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { mode: string; rounds: { plainPerSecond: number; meteredPerSecond: number; failedScrapes: number }[] };
      expect(report.mode).toBe('interleaved');
      expect(report.rounds).toHaveLength(2);
      for (const round of report.rounds) {
        expect(round.plainPerSecond).toBeGreaterThan(0);
        expect(round.meteredPerSecond).toBeGreaterThan(0);
        expect(round.failedScrapes).toBe(0);
      }
      // Both clusters and their data went with the run.
      expect(fs.readdirSync(dir)).toEqual(['interleaved.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // Two bench runs back to back, one with TLS (about 12 s): npm run test:long.
  it.runIf(LONG_RUN)('with --tls-cost, runs the case plaintext and with TLS (certificates made for the run), and prints the ratio', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-bench-smoke-'));
    try {
      const json = path.join(dir, 'tls.json');
      const result = await runCli(['bench', '--tls-cost', '1', '--duration', '2s', '--warmup', '0.3s', '--inflight', '8', '--size', '128', '--disk-probe', '100ms', '--dir', dir, '--json', json], { timeoutMs: 90_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^pair 1: [\d,]+ msg\/s plaintext \(p99 [\d.]+ ms\), [\d,]+ msg\/s TLS \(p99 [\d.]+ ms\): [\d.]+x$/m);
      expect(result.stdout).toMatch(/^TLS cost: TLS over plaintext throughput, median of 1 pairs [\d.]+x/m);
      const cost = JSON.parse(fs.readFileSync(json, 'utf8')) as { pairs: { plainPerSecond: number; tlsPerSecond: number }[] };
      expect(cost.pairs[0]?.tlsPerSecond).toBeGreaterThan(0);
      // The certificates went with the run's data.
      expect(fs.readdirSync(dir)).toEqual(['tls.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with --metrics-cpu, runs a metered pair (one node scraped over HTTP) and a control pair side by side and prints CPU per record with an interval', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-bench-smoke-'));
    try {
      const json = path.join(dir, 'cpu.json');
      const result = await runCli(['bench', '--metrics-cpu', '1', '--records', '4000', '--inflight', '16', '--size', '128', '--metrics-scrape', '200ms', '--dir', dir, '--json', json], { timeoutMs: 90_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^round 1: [\d.]+ us CPU\/record \([\d,]+ records\/s\) without metrics, [\d.]+ \([\d,]+ records\/s\) with, \d+ scrapes: [\d.]+x$/m);
      expect(result.stdout).toMatch(/^round 1 control: [\d.]+ us CPU\/record .* and again without: [\d.]+x$/m);
      expect(result.stdout).toMatch(/^metrics cost, one node per process, 4,000 records of 128 B in calls of 16 after 800, held to 10,000 records\/s, flush sync, \/metrics scraped over HTTP every 0.2 s$/m);
      expect(result.stdout).toMatch(/^ {2}metered over plain: CPU per record median [\d.]+x \(95% interval [\d.]+-[\d.]+, 1 pairs\), as a CPU-bound node's throughput cost -?[\d.]+%/m);
      expect(result.stdout).toMatch(/^ {2}control, plain over plain: CPU per record median [\d.]+x/m);
      const report = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<'metered' | 'control', { scrapesAnswered: number; first: { metered: boolean; records: number; scrapes: number }; second: { metered: boolean; records: number; scrapes: number } }[]>;
      const sides = (kind: 'metered' | 'control'): [boolean, number][] => report[kind].flatMap((p) => [p.first, p.second].map((run): [boolean, number] => [run.metered, run.records]));
      expect(sides('metered')).toEqual([[false, 4_000], [true, 4_000]]);
      expect(sides('control')).toEqual([[false, 4_000], [false, 4_000]]);
      // The metered node answered the parent's scrapes over HTTP (its run waited for the first); the others serve none.
      expect(report.metered[0]?.scrapesAnswered).toBeGreaterThanOrEqual(1);
      expect(report.control[0]?.scrapesAnswered).toBe(0);
      expect(report.metered[0]?.first.scrapes).toBe(0);
      // Each side's data directory was removed.
      expect(fs.readdirSync(dir)).toEqual(['cpu.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A one-second bench of 128 B records, 8 in flight, with `args` added (a later flag wins over
 * the defaults here); checks it exited 0 with nothing on stderr and returns its output and JSON.
 */
async function shortBench(args: readonly string[]): Promise<{ stdout: string; report: BenchReport }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-bench-smoke-'));
  try {
    const json = path.join(dir, 'out.json');
    const base = ['bench', '--duration', '1s', '--warmup', '0.2s', '--inflight', '8', '--size', '128', '--disk-probe', '100ms'];
    const result = await runCli([...base, ...args, '--dir', dir, '--json', json], { timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return { stdout: result.stdout, report: JSON.parse(fs.readFileSync(json, 'utf8')) as BenchReport };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
