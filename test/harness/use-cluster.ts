import { onTestFinished } from 'vitest';

import { TestCluster, type ClusterOptions } from './test-cluster.js';

/**
 * Starts a cluster for the current test and registers its teardown with the test itself:
 * when the test ends, pass or fail (or time out), every node is stopped. On failure the
 * nodes' output tails are printed and the data root is kept for a look (its path printed).
 */
export async function startClusterForTest(options: ClusterOptions = {}): Promise<TestCluster> {
  const cluster = await TestCluster.start(options);
  onTestFinished(async (context) => {
    const failed = testFailed(context.task);
    await cluster.stopAll({ keepData: failed });
    if (failed) {
      console.log(`[harness] test failed; node output follows; data kept in ${cluster.dataRoot}\n${cluster.renderOutput()}`);
    }
  });
  return cluster;
}

/**
 * True when the test failed for real. An it.fails test that failed as it should is still
 * 'fail' while hooks run (vitest flips it afterwards), so it does not count.
 */
export function testFailed(task: { readonly fails?: boolean | undefined; readonly result?: { readonly state?: string } | undefined }): boolean {
  return task.result?.state === 'fail' && task.fails !== true;
}
