import { strict as assert } from 'node:assert';

import type { Histogram, Registry } from 'prom-client';

/**
 * One series of a FastHistogram: a count per bucket (not cumulative; the last slot counts
 * values above every bound), the sum and the count. An observation is a bucket search and
 * three additions: no allocation, no label hashing.
 */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly upperBounds: readonly number[]) {
    this.counts = new Float64Array(upperBounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.upperBounds;
    let k = 0;
    while (k < bounds.length && value > (bounds[k] ?? Infinity)) k++;
    this.counts[k] = (this.counts[k] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

/** A sample as prom-client's registry formats it (what its own Histogram.get() returns). */
interface Sample {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  /** Labels of the whole series, formatted once by the registry (see getForPromString). */
  readonly sharedLabels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** No labels: one object, so the registry's cache of formatted shared labels hits. */
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A Prometheus histogram for the node's hot paths, with at most one label: exposed exactly as
 * prom-client's Histogram exposes the same observations (same names, `le` bounds, cumulative
 * buckets, +Inf, _sum, _count; unlabelled: always shown; labelled: a series once observed),
 * but observing through a series looked up once (`series()`), where prom-client's observe
 * builds label objects and hashes them on every call. Registered in prom-client's registry,
 * which reads it through get() like its own metrics.
 */
export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly upperBounds: readonly number[];
  private readonly labelName: string | null;
  private readonly bySeries = new Map<string, HistogramSeries>();
  /** Each series' label object, kept across scrapes (see sharedLabelsOf). */
  private readonly sharedLabels = new Map<string, Readonly<Record<string, string>>>();

  constructor(config: { readonly name: string; readonly help: string; readonly buckets: readonly number[]; readonly labelName?: string; readonly registers: readonly Registry[] }) {
    for (let k = 1; k < config.buckets.length; k++) assert((config.buckets[k] ?? 0) > (config.buckets[k - 1] ?? 0), 'FastHistogram: buckets must ascend');
    this.name = config.name;
    this.help = config.help;
    this.upperBounds = [...config.buckets];
    this.labelName = config.labelName ?? null;
    // prom-client's registry takes any object with its metrics' shape (name, help, type, get, reset).
    for (const registry of config.registers) registry.registerMetric(this as unknown as Histogram);
  }

  /** The series of `labelValue` (none for an unlabelled histogram): keep it and observe through it. */
  series(labelValue: string | null = null): HistogramSeries {
    assert((labelValue === null) === (this.labelName === null), `FastHistogram ${this.name}: a label value exactly when the histogram has a label`);
    const key = labelValue ?? '';
    let found = this.bySeries.get(key);
    if (found === undefined) {
      found = new HistogramSeries(this.upperBounds);
      this.bySeries.set(key, found);
    }
    return found;
  }

  reset(): void {
    for (const series of this.bySeries.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  /**
   * The samples as prom-client's registry formats them (it asks for this before get()): each
   * line's own label (`le`) apart from the series' label, which is one object per series, so
   * the registry formats it once (it caches a shared label object's text) instead of once a
   * line. The text is what get() would give.
   */
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const values: Sample[] = [];
    if (this.labelName === null) this.series();
    for (const [labelValue, series] of this.bySeries) {
      if (this.labelName !== null && series.count === 0) continue;
      const shared = this.sharedLabelsOf(labelValue);
      let cumulative = 0;
      for (const [k, bound] of this.upperBounds.entries()) {
        cumulative += series.counts[k] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound }, sharedLabels: shared, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, sharedLabels: shared, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: NO_LABELS, sharedLabels: shared, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: NO_LABELS, sharedLabels: shared, value: series.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** The samples with each line's labels whole (what getMetricsAsJSON shows). */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const metric = await this.getForPromString();
    return { ...metric, values: metric.values.map((v) => ({ metricName: v.metricName, labels: { ...v.labels, ...v.sharedLabels }, value: v.value })) };
  }

  /** The series' label as one object, the same one at every scrape. */
  private sharedLabelsOf(labelValue: string): Readonly<Record<string, string>> {
    if (this.labelName === null) return NO_LABELS;
    let shared = this.sharedLabels.get(labelValue);
    if (shared === undefined) {
      shared = Object.freeze({ [this.labelName]: labelValue });
      this.sharedLabels.set(labelValue, shared);
    }
    return shared;
  }
}
