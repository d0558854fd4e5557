import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { FastHistogram } from '../../src/observe/index.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

/** The same observations through prom-client's Histogram and a FastHistogram, each in a registry of its own. */
async function expositions(observations: readonly (readonly [string, number])[], labelled: boolean): Promise<{ prom: string; fast: string; promJson: unknown; fastJson: unknown }> {
  const promRegistry = new Registry();
  const fastRegistry = new Registry();
  const config = { name: 'x_seconds', help: 'Some durations', buckets: BUCKETS };
  const prom = new Histogram({ ...config, labelNames: labelled ? ['call'] : [], registers: [promRegistry] });
  const fast = new FastHistogram({ ...config, ...(labelled ? { labelName: 'call' } : {}), registers: [fastRegistry] });
  for (const [call, value] of observations) {
    if (labelled) {
      prom.labels(call).observe(value);
      fast.series(call).observe(value);
    } else {
      prom.observe(value);
      fast.series().observe(value);
    }
  }
  return { prom: await promRegistry.metrics(), fast: await fastRegistry.metrics(), promJson: await promRegistry.getMetricsAsJSON(), fastJson: await fastRegistry.getMetricsAsJSON() };
}

/** prom-client's JSON carries `exemplar` fields the text never shows; the rest must match. */
const withoutExemplars = (json: unknown): unknown => JSON.parse(JSON.stringify(json, (key, value: unknown) => (key === 'exemplar' ? undefined : value)));

describe('FastHistogram', () => {
  it('is exposed exactly as prom-client exposes the same observations, unlabelled and by label', async () => {
    const seed = Date.now();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('append', 'produce', 'ack'), fc.oneof(fc.constantFrom(0, 0.001, 0.01, 10, 11), fc.double({ min: 0, max: 20, noNaN: true }))), { maxLength: 40 }), fc.boolean(), async (observations, labelled) => {
          // prom-client lists label values in the order first observed; so does this, when series are made on first use.
          const out = await expositions(observations, labelled);
          expect(out.fast).toBe(out.prom);
          expect(withoutExemplars(out.fastJson)).toEqual(withoutExemplars(out.promJson));
        }),
        { seed, numRuns: 200 },
      );
    } catch (error) {
      throw new Error(`seed ${seed}: ${(error as Error).message}`);
    }
  });

  it('shows an unlabelled histogram with no observation as zeros, and a labelled one without series', async () => {
    const unlabelled = await expositions([], false);
    expect(unlabelled.fast).toBe(unlabelled.prom);
    expect(unlabelled.fast).toContain('x_seconds_count 0');
    const labelled = await expositions([], true);
    expect(labelled.fast).toBe(labelled.prom);
    expect(labelled.fast).not.toContain('x_seconds_count');
  });

  it('counts a value on a bound in that bound\'s bucket and a value above all of them only in +Inf', async () => {
    const registry = new Registry();
    const fast = new FastHistogram({ name: 'y', help: 'h', buckets: [1, 2], registers: [registry] });
    for (const value of [1, 1.5, 3]) fast.series().observe(value);
    const text = await registry.metrics();
    expect(text).toContain('y_bucket{le="1"} 1\ny_bucket{le="2"} 2\ny_bucket{le="+Inf"} 3\ny_sum 5.5\ny_count 3');
  });
});
