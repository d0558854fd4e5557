import type { Cluster } from './cluster.js';
import { sleep } from '../src/process/index.js';

/** What one node did with snapshots over the run, from its /metrics (docs/metrics.md). */
export interface NodeSnapshotStats {
  readonly node: string;
  /** Summed over the node's starts (each start's counters begin at 0); see SnapshotMonitor. */
  readonly snapshotsWritten: number;
  readonly snapshotsInstalled: number;
  readonly segmentsDeleted: number;
  /** At the final scrape: the newest snapshot's index and the log's first index (null: no answer). */
  readonly snapshotIndex: number | null;
  readonly firstIndex: number | null;
  /** Starts of the node whose counters were read at least once. */
  readonly startsScraped: number;
  readonly starts: number;
}

const METRIC = {
  written: 'quorumlog_snapshots_written_total',
  installed: 'quorumlog_snapshots_installed_total',
  deleted: 'quorumlog_log_segments_deleted_total',
  snapshotIndex: 'quorumlog_snapshot_index',
  firstIndex: 'quorumlog_log_first_index',
} as const;

/** The value of each unlabelled sample named in `names` (a missing one is absent from the map). */
export function parseMetrics(text: string, names: readonly string[]): Map<string, number> {
  const wanted = new Set(names);
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const [name, value] = line.trim().split(/\s+/);
    if (name === undefined || value === undefined || !wanted.has(name)) continue;
    const n = Number(value);
    if (Number.isFinite(n)) values.set(name, n);
  }
  return values;
}

interface StartCounters {
  written: number;
  installed: number;
  deleted: number;
}

const SCRAPE_INTERVAL_MS = 1_000;
const SCRAPES_MAX = 10_000_000;

/**
 * Scrapes every running node's /metrics once a second while the run goes on, and once more at
 * the end. A node's counters start at 0 at each start, so the totals are summed over its starts,
 * each at the last value read from it: what a node counted after its last scrape before it was
 * killed is missed, so the totals are lower bounds (exact for a node never killed).
 */
export class SnapshotMonitor {
  /** Per node, per start (1-based), the counters last read. */
  readonly #counters = new Map<string, Map<number, StartCounters>>();
  readonly #gauges = new Map<string, { snapshotIndex: number; firstIndex: number }>();
  readonly #stop = new AbortController();
  #loop: Promise<void> = Promise.resolve();

  constructor(private readonly cluster: Cluster) {}

  start(): void {
    this.#loop = this.#scrapeUntilStopped();
  }

  /** Stops the periodic scrapes (safe to call more than once). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /** Stops the periodic scrapes, scrapes every node once more, and returns the totals. */
  async finish(): Promise<NodeSnapshotStats[]> {
    await this.stop();
    this.#gauges.clear();
    await this.#scrapeAll();
    return this.cluster.ids.map((node) => {
      const starts = [...(this.#counters.get(node)?.values() ?? [])];
      const sum = (pick: (c: StartCounters) => number): number => starts.reduce((total, c) => total + pick(c), 0);
      const gauges = this.#gauges.get(node);
      return {
        node,
        snapshotsWritten: sum((c) => c.written),
        snapshotsInstalled: sum((c) => c.installed),
        segmentsDeleted: sum((c) => c.deleted),
        snapshotIndex: gauges?.snapshotIndex ?? null,
        firstIndex: gauges?.firstIndex ?? null,
        startsScraped: starts.length,
        starts: this.cluster.startsOf(node),
      };
    });
  }

  async #scrapeUntilStopped(): Promise<void> {
    const signal = this.#stop.signal;
    for (let k = 0; k < SCRAPES_MAX && !signal.aborted; k++) {
      await this.#scrapeAll();
      await sleep(SCRAPE_INTERVAL_MS, signal);
    }
  }

  async #scrapeAll(): Promise<void> {
    await Promise.all(this.cluster.ids.map((id) => this.#scrape(id)));
  }

  async #scrape(id: string): Promise<void> {
    if (this.cluster.state(id) !== 'running') return;
    const start = this.cluster.startsOf(id);
    const text = await this.cluster.metricsText(id).catch(() => null);
    // A restart between the ask and the answer: the answer may be either start's; drop it.
    if (text === null || this.cluster.startsOf(id) !== start) return;
    const values = parseMetrics(text, Object.values(METRIC));
    const read = (name: string): number => values.get(name) ?? 0;
    let byStart = this.#counters.get(id);
    if (byStart === undefined) this.#counters.set(id, (byStart = new Map()));
    byStart.set(start, { written: read(METRIC.written), installed: read(METRIC.installed), deleted: read(METRIC.deleted) });
    this.#gauges.set(id, { snapshotIndex: read(METRIC.snapshotIndex), firstIndex: read(METRIC.firstIndex) });
  }
}

/** One line for run.log: `snapshots: n1 12 written 1 installed 30 segments deleted first index 1501; ...`. */
export function snapshotSummary(stats: readonly NodeSnapshotStats[]): string {
  const nodes = stats.map((s) => `${s.node} ${s.snapshotsWritten} written ${s.snapshotsInstalled} installed ${s.segmentsDeleted} segments deleted, snapshot at ${s.snapshotIndex ?? '?'}, first index ${s.firstIndex ?? '?'}${s.startsScraped < s.starts ? ` (${s.starts - s.startsScraped} of ${s.starts} starts never scraped)` : ''}`);
  return `snapshots: ${nodes.join('; ')}`;
}
