import * as fs from 'node:fs';
import { constants as perfConstants, createHistogram, performance, PerformanceObserver, type RecordableHistogram } from 'node:perf_hooks';

import { Counter, Gauge, type Registry } from 'prom-client';

import type { Scheduler, Timer } from '../../storage/index.js';
import { FastHistogram, type HistogramSeries } from './fast-histogram.js';

const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
const NS_PER_S = 1e9;
const NS_PER_MS = 1e6;

/**
 * The process's own metrics: CPU, memory, file descriptors, event-loop delay and garbage
 * collection, under the names and meanings prom-client's `collectDefaultMetrics` gives them
 * (dashboards built for those read these), registered in `registry`.
 *
 * Why not `collectDefaultMetrics` itself: scraping a loaded node once a second cost it about
 * 7.8 ms of CPU a second with prom-client's set and 0.6 ms without (docs/bench.md, "What
 * metrics cost"). Code run once a second runs cold, and that set reads more than an operator
 * watches: /proc/self/status, every active handle and resource, per-space heap statistics,
 * an event-loop standard deviation that walks the whole delay histogram. This set reads each
 * figure with one call (`process.cpuUsage`, `process.memoryUsage`, one listing of
 * /proc/self/fd) and leaves those others out: the active handles/requests/resources, the
 * heap-space breakdown, virtual memory, the process heap and
 * `nodejs_eventloop_lag_stddev_seconds`.
 *
 * Event-loop delay is how late the node's own periodic timers fired: each timer set through
 * `timed(scheduler)` records, at every run, how long after its due time it ran (its Raft tick,
 * every 50 ms by default, gives 20 samples a second). The gauges are read and reset at each
 * scrape, as prom-client's are, but an idle loop reads near zero rather than the sampling
 * interval. No timer is added for it: perf_hooks' monitorEventLoopDelay at prom-client's 10 ms
 * woke a loaded node 100 more times a second and cost it about 6.5 ms of CPU a second, more
 * than the rest of its metrics together (docs/bench.md, "What metrics cost"). What that gives
 * up: a stall shorter than the tick interval shows only when a tick fell due within it (a
 * 5 ms stall one time in ten at 50 ms); every stall longer than the interval shows.
 */
export class ProcessMetrics {
  private readonly loopDelay: TimerLateness;
  private readonly gcObserver: PerformanceObserver;

  constructor(registry: Registry) {
    const registers = [registry];
    this.registerCpu(registers);
    this.registerMemory(registers);
    this.registerDescriptors(registers);
    const started = Date.now() / 1000 - process.uptime();
    new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers }).set(Math.round(started));
    const [major, minor, patch] = process.versions.node.split('.').map(Number);
    new Gauge({ name: 'nodejs_version_info', help: 'Node.js version info.', labelNames: ['version', 'major', 'minor', 'patch'], registers }).labels(process.version, String(major), String(minor), String(patch)).set(1);
    this.loopDelay = new TimerLateness();
    this.registerLoopDelay(registers, this.loopDelay.histogram);
    this.gcObserver = observeGarbageCollection(new FastHistogram({ name: 'nodejs_gc_duration_seconds', help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.', labelName: 'kind', buckets: GC_BUCKETS, registers }));
  }

  /** `scheduler`, with each of its periodic timers recording how late it fired into the event-loop delay. */
  timed(scheduler: Scheduler): Scheduler {
    return this.loopDelay.timed(scheduler);
  }

  /** Stops recording event-loop delay (the timers keep running) and the garbage-collection observer. */
  close(): void {
    this.loopDelay.stop();
    this.gcObserver.disconnect();
  }

  private registerCpu(registers: Registry[]): void {
    const counter = (name: string, help: string, collect?: () => void): Counter => new Counter({ name, help, registers, ...(collect === undefined ? {} : { collect }) });
    // Registered first and so collected first: its collect reads cpuUsage once for all three.
    const user = counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', () => readCpu());
    const system = counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.');
    const total = counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.');
    let last = process.cpuUsage();
    const readCpu = (): void => {
      const now = process.cpuUsage();
      const [userS, systemS] = [(now.user - last.user) / 1e6, (now.system - last.system) / 1e6];
      last = now;
      user.inc(userS);
      system.inc(systemS);
      total.inc(userS + systemS);
    };
  }

  private registerMemory(registers: Registry[]): void {
    const gauge = (name: string, help: string, collect?: () => void): Gauge => new Gauge({ name, help, registers, ...(collect === undefined ? {} : { collect }) });
    // Registered first and so collected first: its collect reads memoryUsage once for all four.
    const rss = gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => readMemory());
    const heapTotal = gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.');
    const heapUsed = gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.');
    const external = gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.');
    const readMemory = (): void => {
      const usage = process.memoryUsage();
      rss.set(usage.rss);
      heapTotal.set(usage.heapTotal);
      heapUsed.set(usage.heapUsed);
      external.set(usage.external);
    };
  }

  /** Open and maximum file descriptors, where /proc tells them (Linux). */
  private registerDescriptors(registers: Registry[]): void {
    if (process.platform !== 'linux') return;
    new Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors.',
      registers,
      collect() {
        // The listing's own descriptor is in it.
        this.set(fs.readdirSync('/proc/self/fd').length - 1);
      },
    });
    const max = maxOpenFiles();
    if (max !== null) new Gauge({ name: 'process_max_fds', help: 'Maximum number of open file descriptors.', registers }).set(max);
  }

  private registerLoopDelay(registers: Registry[], histogram: RecordableHistogram): void {
    const gauge = (name: string, help: string): Gauge => new Gauge({ name, help, registers });
    // Registered before the others and read first: its collect sets them all, then resets the histogram.
    const of = 'event loop delay since the previous scrape (how late the node\'s timers ran)';
    const min = new Gauge({ name: 'nodejs_eventloop_lag_min_seconds', help: `The minimum ${of}.`, registers, collect: () => readLoopDelay() });
    const max = gauge('nodejs_eventloop_lag_max_seconds', `The maximum ${of}.`);
    const mean = gauge('nodejs_eventloop_lag_mean_seconds', `The mean ${of}.`);
    const p50 = gauge('nodejs_eventloop_lag_p50_seconds', `The 50th percentile ${of}.`);
    const p90 = gauge('nodejs_eventloop_lag_p90_seconds', `The 90th percentile ${of}.`);
    const p99 = gauge('nodejs_eventloop_lag_p99_seconds', `The 99th percentile ${of}.`);
    const lag = gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds: from the previous scrape to its next turn of the loop.');
    const readLoopDelay = (): void => {
      // Nothing recorded since the last reset (no timer has run): the histogram reads its extremes; show zeros.
      const recorded = histogram.count > 0;
      min.set(recorded ? histogram.min / NS_PER_S : 0);
      max.set(recorded ? histogram.max / NS_PER_S : 0);
      mean.set(recorded ? histogram.mean / NS_PER_S : 0);
      p50.set(recorded ? histogram.percentile(50) / NS_PER_S : 0);
      p90.set(recorded ? histogram.percentile(90) / NS_PER_S : 0);
      p99.set(recorded ? histogram.percentile(99) / NS_PER_S : 0);
      histogram.reset();
      const asked = process.hrtime.bigint();
      setImmediate(() => lag.set(Number(process.hrtime.bigint() - asked) / NS_PER_S));
    };
  }
}

/**
 * How late timers fired, in a histogram of nanoseconds. A periodic timer is due one interval
 * after its previous run started (Node reschedules setInterval from the moment it runs the
 * callback); a run records how far past that it started. Node's timers keep whole
 * milliseconds, so a timer may run up to a millisecond before the due time measured here:
 * those runs record the least the histogram holds, 1 ns.
 */
class TimerLateness {
  readonly histogram = createHistogram();
  private recording = true;

  timed(scheduler: Scheduler): Scheduler {
    return {
      nowMs: () => scheduler.nowMs(),
      after: (delayMs, run) => scheduler.after(delayMs, run),
      soon: (run) => scheduler.soon(run),
      every: (intervalMs, run): Timer => {
        let dueMs = performance.now() + intervalMs;
        return scheduler.every(intervalMs, () => {
          const nowMs = performance.now();
          if (this.recording) this.histogram.record(Math.max(1, Math.round((nowMs - dueMs) * NS_PER_MS)));
          dueMs = nowMs + intervalMs;
          run();
        });
      },
    };
  }

  stop(): void {
    this.recording = false;
    this.histogram.reset();
  }
}

/** Feeds every garbage collection's duration into `histogram`, by kind. */
function observeGarbageCollection(histogram: FastHistogram): PerformanceObserver {
  const kinds = new Map<number, HistogramSeries>([
    [perfConstants.NODE_PERFORMANCE_GC_MAJOR, histogram.series('major')],
    [perfConstants.NODE_PERFORMANCE_GC_MINOR, histogram.series('minor')],
    [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL, histogram.series('incremental')],
    [perfConstants.NODE_PERFORMANCE_GC_WEAKCB, histogram.series('weakcb')],
  ]);
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // A gc entry's detail says its kind (NODE_PERFORMANCE_GC_*); the types do not declare it.
      const kind = (entry as unknown as { readonly detail?: { readonly kind?: number } | null }).detail?.kind;
      if (kind !== undefined) kinds.get(kind)?.observe(entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return observer;
}

/** The soft limit on open files, from /proc/self/limits; null where that cannot be read. */
function maxOpenFiles(): number | null {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s+/)[3]);
    return Number.isFinite(soft) ? soft : null;
  } catch {
    return null;
  }
}
