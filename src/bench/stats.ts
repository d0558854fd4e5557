/**
 * Statistics of a benchmark run: latency samples with exact percentiles, per-second
 * throughput series, and ratios to the disk's own limit. No I/O here, so it is unit-tested.
 */

/** The percentiles every latency summary reports, as fractions. */
export const PERCENTILES = [0.5, 0.9, 0.99, 0.999] as const;

export interface LatencySummary {
  readonly count: number;
  readonly minMs: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

const EMPTY_SUMMARY: LatencySummary = { count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };

/**
 * Latency samples in milliseconds, kept exactly in one growing Float64Array: recording is a
 * store, not an allocation per sample. Bounded by `samplesMax`; beyond it every other sample
 * is dropped (decimation keeps the distribution, and the count stays exact).
 */
export class LatencyRecorder {
  #samples: Float64Array;
  #length = 0;
  #count = 0;
  #stride = 1;
  #sumMs = 0;
  #maxMs = 0;
  #minMs = Number.POSITIVE_INFINITY;
  readonly #samplesMax: number;

  constructor(options: { readonly initialCapacity?: number; readonly samplesMax?: number } = {}) {
    this.#samples = new Float64Array(options.initialCapacity ?? 65_536);
    this.#samplesMax = options.samplesMax ?? 8_000_000;
  }

  get count(): number {
    return this.#count;
  }

  record(latencyMs: number): void {
    this.#count++;
    this.#sumMs += latencyMs;
    if (latencyMs > this.#maxMs) this.#maxMs = latencyMs;
    if (latencyMs < this.#minMs) this.#minMs = latencyMs;
    if (this.#count % this.#stride !== 0) return;
    if (this.#length === this.#samples.length) this.#grow();
    this.#samples[this.#length++] = latencyMs;
  }

  summary(): LatencySummary {
    if (this.#count === 0) return EMPTY_SUMMARY;
    const sorted = this.#samples.slice(0, this.#length).sort();
    return {
      count: this.#count,
      minMs: this.#minMs,
      meanMs: this.#sumMs / this.#count,
      p50Ms: percentileOfSorted(sorted, 0.5),
      p90Ms: percentileOfSorted(sorted, 0.9),
      p99Ms: percentileOfSorted(sorted, 0.99),
      p999Ms: percentileOfSorted(sorted, 0.999),
      // The exact maximum, also when decimation dropped its sample.
      maxMs: this.#maxMs,
    };
  }

  #grow(): void {
    if (this.#samples.length * 2 <= this.#samplesMax) {
      const bigger = new Float64Array(this.#samples.length * 2);
      bigger.set(this.#samples);
      this.#samples = bigger;
      return;
    }
    // Full: keep every other sample and record half as often from now on.
    let kept = 0;
    for (let k = 1; k < this.#length; k += 2) this.#samples[kept++] = this.#samples[k] ?? 0;
    this.#length = kept;
    this.#stride *= 2;
  }
}

/**
 * The nearest-rank percentile of ascending `sorted`: the smallest sample such that at least
 * a fraction `p` of all samples are at or below it. 0 for no samples.
 */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`percentile must be within 0..1, not ${p}`);
  const n = sorted.length;
  if (n === 0) return 0;
  const rank = Math.max(1, Math.ceil(p * n));
  return sorted[Math.min(n, rank) - 1] ?? 0;
}

/** Counts per whole second since `startMs`, for throughput over time. Bounded by `secondsMax`. */
export class RateSeries {
  readonly #counts: number[] = [];
  readonly #startMs: number;
  readonly #secondsMax: number;

  constructor(startMs: number, secondsMax = 3600) {
    this.#startMs = startMs;
    this.#secondsMax = secondsMax;
  }

  add(nowMs: number, count = 1): void {
    const second = Math.floor((nowMs - this.#startMs) / 1000);
    if (second < 0 || second >= this.#secondsMax) return;
    while (this.#counts.length <= second) this.#counts.push(0);
    this.#counts[second] = (this.#counts[second] ?? 0) + count;
  }

  /** One count per elapsed second (a last partial second included as it stands). */
  perSecond(): readonly number[] {
    return [...this.#counts];
  }
}

/** a / b, or null when b is not a positive number (a ratio to nothing is no ratio). */
export function ratio(a: number, b: number): number | null {
  return b > 0 && Number.isFinite(a) ? a / b : null;
}

/** Events per second over `elapsedMs`; 0 for no time. */
export function perSecond(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : 0;
}

/** The median of `values` (the upper one of an even count's middle two); 0 for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The least-squares slope of y over x (y units per x unit); 0 with fewer than two distinct x. */
export function slope(points: readonly { readonly x: number; readonly y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sumX = 0;
  let sumY = 0;
  for (const p of points) {
    sumX += p.x;
    sumY += p.y;
  }
  const meanX = sumX / n;
  const meanY = sumY / n;
  let covariance = 0;
  let varianceX = 0;
  for (const p of points) {
    covariance += (p.x - meanX) * (p.y - meanY);
    varianceX += (p.x - meanX) ** 2;
  }
  return varianceX > 0 ? covariance / varianceX : 0;
}

/** A median with a confidence interval, and how many values it came from. */
export interface MedianInterval {
  readonly count: number;
  readonly median: number;
  /** The interval's ends; both the median itself for a single value, both 0 for none. */
  readonly low: number;
  readonly high: number;
  readonly confidence: number;
}

/**
 * The median of `values` (as `median`) with a percentile-bootstrap confidence interval: the
 * (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the median of a resample of
 * `values` drawn with replacement. The bootstrap distribution is computed exactly rather than
 * drawn: a resample's median is at or below the j-th smallest value exactly when more than
 * half of its n draws (as `median` counts) fall among the j smallest, a binomial tail with
 * p = j / n. So the interval is a function of the values alone. With few values it is wide
 * (five values give at best their second-lowest and second-highest): it says what the values
 * can resolve.
 */
export function medianInterval(values: readonly number[], options: { readonly confidence?: number } = {}): MedianInterval {
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new RangeError('medianInterval: confidence must be within (0, 1)');
  const n = values.length;
  const middle = median(values);
  if (n <= 1) return { count: n, median: middle, low: middle, high: middle, confidence };
  const sorted = [...values].sort((a, b) => a - b);
  // `median` takes the sorted resample's element at floor(n / 2): at or below sorted[j - 1] when at least that many plus one draws are.
  const needed = Math.floor(n / 2) + 1;
  const quantile = (q: number): number => {
    for (let j = 1; j < n; j++) if (binomialTail(n, j / n, needed) >= q) return sorted[j - 1] ?? middle;
    return sorted[n - 1] ?? middle;
  };
  const tail = (1 - confidence) / 2;
  return { count: n, median: middle, low: quantile(tail), high: quantile(1 - tail), confidence };
}

/** P(X >= k) for X ~ Binomial(n, p), 0 < p < 1, summed in logs (no underflow for the n a bench has). */
function binomialTail(n: number, p: number, k: number): number {
  const logs = [0];
  for (let i = 1; i <= n; i++) logs.push((logs[i - 1] ?? 0) + Math.log(i));
  const logChoose = (i: number): number => (logs[n] ?? 0) - (logs[i] ?? 0) - (logs[n - i] ?? 0);
  let sum = 0;
  for (let i = k; i <= n; i++) sum += Math.exp(logChoose(i) + i * Math.log(p) + (n - i) * Math.log1p(-p));
  return sum;
}

/**
 * What a cost that multiplies the CPU per unit of work by `cpuRatio` takes from the
 * throughput of a process bound by its CPU (throughput is 1 / CPU per unit there), in
 * percent: 1.03x the CPU is 2.9% less throughput. Negative for a ratio below 1.
 */
export function throughputCostPercent(cpuRatio: number): number {
  if (!(cpuRatio > 0)) throw new RangeError(`a CPU ratio must be positive, not ${cpuRatio}`);
  return (1 - 1 / cpuRatio) * 100;
}
