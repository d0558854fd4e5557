import * as fs from 'node:fs';

import { nodeId } from '../../raft/index.js';
import type { Scheduler, Timer } from '../../storage/index.js';
import type { NodeInspection } from '../node/index.js';
import { clusterView, type ClusterView } from './cluster-view.js';
import { HistogramSeries } from './fast-histogram.js';
import { LatencyWindow, type LatencyCounts } from './latency-buckets.js';
import { MemberViews } from './member-views.js';
import { nodeView, type NodeView } from './node-view.js';
import { HISTORY_INTERVAL_MS, HISTORY_SAMPLES_MAX, StatusHistory } from './status-history.js';

export interface StatusPageOptions {
  readonly node: NodeInspection;
  /** Where the node's clock and timers come from: the history samples on it (its timers must not keep a process alive). */
  readonly scheduler: Scheduler;
  /**
   * HTTP addresses by member id (--http-members): ahead of what the member book records
   * (this node's own may be among them; a member with neither is shown as unreachable).
   */
  readonly httpMembers: ReadonlyMap<string, string>;
  /** Ids of the members --members names, this node included: shown while the node holds no configuration (it is joining). */
  readonly memberIds: readonly string[];
  /** The write latencies measured since the last sample (NodeMetrics.writeLatency); absent, the latency chart stays empty. */
  readonly writeLatency?: { drain(): LatencyCounts };
  readonly appliedLagEntriesMax: number;
  readonly history?: { readonly capacity: number; readonly intervalMs: number };
  /** How long a member may take to answer /node.json (default 700 ms: the page asks every second). */
  readonly memberTimeoutMs?: number;
}

/** One file of the page as served. */
export interface PageAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

/** The page's files, by route, beside this module (dist/ gets them from scripts/copy-assets.mjs). */
const ASSETS: Readonly<Record<string, { readonly file: string; readonly contentType: string }>> = {
  '/': { file: 'status-page.html', contentType: 'text/html; charset=utf-8' },
  '/status-page.js': { file: 'status-page.js', contentType: 'text/javascript; charset=utf-8' },
  '/status-page.css': { file: 'status-page.css', contentType: 'text/css; charset=utf-8' },
};

/**
 * The live status page's server side: the history it charts (sampled every interval on the
 * node's scheduler until stop), this node's own view (/node.json), the cluster as this node
 * sees it (/status.json: its own view, the other members' views read over HTTP, its
 * applied topics and groups), and the page's static files.
 */
export class StatusPage {
  readonly history: StatusHistory;
  private readonly members: MemberViews;
  private readonly emptyLatency = new LatencyWindow([new HistogramSeries([1])]);
  private timer: Timer | null = null;
  private readonly assets = new Map<string, PageAsset | string>();

  constructor(
    private readonly options: StatusPageOptions,
    /** host:port this node's HTTP endpoint listens on. */
    private readonly httpAddress: string,
  ) {
    this.history = new StatusHistory(options.history ?? { capacity: HISTORY_SAMPLES_MAX, intervalMs: HISTORY_INTERVAL_MS });
    this.members = new MemberViews({
      timeoutMs: options.memberTimeoutMs ?? 700,
      reuseMs: 500,
      nowMs: () => options.scheduler.nowMs(),
    });
    for (const [route, asset] of Object.entries(ASSETS)) this.assets.set(route, loadAsset(asset.file, asset.contentType));
  }

  /** Starts sampling the history (one sample now, then every interval). */
  start(): void {
    if (this.timer !== null) return;
    this.sample();
    this.timer = this.options.scheduler.every(this.history.intervalMs, () => this.sample());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** Takes one history sample now (the timer's work; tests call it directly). */
  sample(): void {
    const latency = this.options.writeLatency ?? this.emptyLatency;
    this.history.record(this.options.scheduler.nowMs(), this.options.node.status().commit, latency.drain());
  }

  nodeView(): NodeView {
    return nodeView({
      node: this.options.node,
      httpAddress: this.httpAddress,
      appliedLagEntriesMax: this.options.appliedLagEntriesMax,
      history: this.history.columns(),
      nowMs: this.options.scheduler.nowMs(),
    });
  }

  /** The cluster as this node sees it: the members of the configuration it holds now (so a change shows without a restart). */
  async clusterView(): Promise<ClusterView> {
    const { node, httpMembers, memberIds } = this.options;
    const status = node.status();
    const config = status.config;
    const ids: readonly string[] = config.voters.length === 0 ? memberIds : [...config.voters, ...config.learners];
    const others = ids.filter((id) => id !== status.id).map((id) => ({ id, httpAddress: httpMembers.get(id) ?? node.httpAddressOf(nodeId(id)) }));
    const answers = await this.members.read(others);
    return clusterView(this.nodeView(), answers, node, config.learners);
  }

  /** The page's file at `route`, a string saying why it cannot be served, or undefined when `route` is none of them. */
  asset(route: string): PageAsset | string | undefined {
    return this.assets.get(route);
  }
}

function loadAsset(file: string, contentType: string): PageAsset | string {
  const url = new URL(`./page/${file}`, import.meta.url);
  try {
    return { contentType, body: fs.readFileSync(url) };
  } catch (error) {
    return `the status page's file ${url.pathname} cannot be read: ${(error as Error).message}`;
  }
}
