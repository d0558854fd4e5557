import { afterAll, afterEach, onTestFinished } from 'vitest';

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
 * One cluster for several tests of a describe block (call it in the block): the first test
 * that asks starts it (and waits for a leader); it stops after the block's last test, its
 * data kept and the nodes' output printed if any test failed. Each test must leave it as
 * it found it (topics and groups of its own names, no node left stopped).
 */
export function sharedClusterForTests(options: ClusterOptions): () => Promise<TestCluster> {
  let shared: Promise<TestCluster> | undefined;
  let failed = false;
  afterEach((context) => {
    if (testFailed(context.task)) failed = true;
  });
  afterAll(async () => {
    const cluster = await shared?.catch(() => undefined);
    await cluster?.stopAll({ keepData: failed });
    if (failed && cluster !== undefined) console.log(`[harness] data kept in ${cluster.dataRoot}\n${cluster.renderOutput()}`);
  });
  return () => {
    shared ??= TestCluster.start(options).then(async (cluster) => {
      await cluster.leader();
      return cluster;
    });
    return shared;
  };
}

/**
 * True when the test failed for real. An it.fails test that failed as it should is still
 * 'fail' while hooks run (vitest flips it afterwards), so it does not count.
 */
export function testFailed(task: { readonly fails?: boolean | undefined; readonly result?: { readonly state?: string } | undefined }): boolean {
  return task.result?.state === 'fail' && task.fails !== true;
}
