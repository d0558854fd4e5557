import * as path from 'node:path';

import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The test files that take longest (one `npm test` on two cores, measured with
 * `vitest run --reporter=json`, longest first; 17-60 s each on a loaded machine), started
 * first so that no long file starts last and runs alone while the other worker idles.
 * Without this, a clean clone (no vitest results cache) runs larger files first, and
 * jepsen/runs.test.ts (56 s, a small file) started last: about 50 s of one worker idle at the
 * end. Files not listed follow in vitest's own order.
 */
export const SLOW_FIRST: readonly string[] = [
  'test/jepsen/runs.test.ts',
  'test/integration/cluster-command.test.ts',
  'test/integration/damaged-log.test.ts',
  'test/sim/node-sim.test.ts',
  'test/bench/bench-smoke.test.ts',
  'test/integration/consumer-lifecycle.test.ts',
  'test/integration/auth.test.ts',
  'test/integration/bad-input.test.ts',
  'test/integration/crash-recovery.test.ts',
  'test/integration/consumer-groups-cli.test.ts',
  'test/integration/consumer-kill.test.ts',
  'test/integration/transactions.test.ts',
  'test/node/membership.test.ts',
  'test/integration/tls.test.ts',
  'test/integration/broker-cli.test.ts',
  'test/integration/consumer-groups.test.ts',
  'test/integration/membership.test.ts',
  'test/integration/data-dir-lock.test.ts',
  'test/integration/broker-api.test.ts',
  'test/storage/fault-injection.test.ts',
  'test/integration/producer-spool.test.ts',
  'test/integration/producer-acks.test.ts',
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rest = await super.sort(files);
    const rank = (spec: TestSpecification): number => {
      const k = SLOW_FIRST.indexOf(path.relative(spec.project.config.root, spec.moduleId).split(path.sep).join('/'));
      return k === -1 ? SLOW_FIRST.length : k;
    };
    // A stable sort: listed files in the list's order, then the rest as vitest ordered them.
    return rest.map((spec, k) => ({ spec, k })).sort((a, b) => rank(a.spec) - rank(b.spec) || a.k - b.k).map(({ spec }) => spec);
  }
}
