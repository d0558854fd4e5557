import { afterEach, describe, expect, it, vi } from 'vitest';

import { runCliInProcess as run } from '../harness/cli-in-process.js';

/**
 * Bad command lines, run in this process through the binary's own runCommand and failureOf
 * (test/harness/cli-in-process.ts): each must end with a non-zero status and exactly one line
 * on stderr, before anything starts. A handful run as real processes in
 * test/integration/bad-input.test.ts, which checks the binary's exit status and line.
 */
const oneLine = (text: string): boolean => text.trim() !== '' && text.trim().split('\n').length === 1;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('bad command lines (in process)', () => {
  it.for([
      [['status', '--bogus-flag']],
      [['status', '--brokers', 'not an address']],
      [['read', '--from', 'abc']],
      [['read', '--from', '0']],
      [['transfer']],
      [['node']],
      [['node', '--id', 'n9', '--members', 'n1=127.0.0.1:1/127.0.0.1:2']],
      [['node', '--id', 'n1', '--members', 'n1=127.0.0.1:1/127.0.0.1:1']],
      [['node', '--id', 'n1', '--members', 'garbage']],
      [['node', '--id', 'n1', '--flush', 'sometimes']],
      [['node', '--id', 'n1', '--durable-mark', 'later']],
      [['node', '--id', 'n1', '--flush', 'async', '--durable-mark', 'lagging']],
      [['cluster', '--durable-mark', 'never']],
      [['cluster', '--restart', 'sometimes']],
      [['cluster', '--retention-policy', 'sometimes']],
      [['cluster', '--retention-hours', 'a while']],
      [['cluster', '--snapshot-entries', '0']],
      [['node', '--id', 'n1', '--retention-policy', 'forever']],
      [['node', '--id', 'n1', '--retention-hours', '-1']],
      [['node', '--id', 'n1', '--snapshot-entries', 'often']],
      [['cluster', '--restart-delay-ms', 'soon']],
      [['cluster', 'frobnicate']],
      [['cluster', 'kill']],
      [['cluster', 'pause', 'n1', 'n2']],
      [['cluster', 'kill', 'n1', '--data-dir', '/nonexistent/quorumlog-no-cluster']],
      [['verify-writes', '--writers', '0']],
      [['verify-writes', '--duration', 'forever']],
      [['verify-writes', '--prefix', 'a b']],
      [['bench', '--brokers', '127.0.0.1:1', '--durable-mark', 'lagging']],
      [['bench', '--together']],
      [['bench', '--control']],
      [['bench', '--interleaved']],
      [['bench', '--metrics-cost', '2', '--interleaved', '--together']],
      [['bench', '--records-per-second', '1000']],
      [['node', '--id', 'n1', '--tick-ms=-5']],
      [['node', '--id', 'n1', '--election-ticks', 'ten']],
      [['read', '--limit', '0']],
      [['append', '--raw', 'record']],
  ] as [string[]][])('%j ends non-zero with one line on stderr', async ([args]) => {
    const { code, stderr } = await run(args);
    expect(code, stderr).not.toBe(0);
    expect(oneLine(stderr), stderr).toBe(true);
    expect(stderr).toMatch(/^quorumlog: /);
  });

  it.each([
      [['read', '--from', '-5'], /--from must be a whole number from 1, not "-5"/],
      [['read', '--max-bytes', '-1'], /--max-bytes must be a whole number from 1, not "-1"/],
      [['status', '--timeout-ms', '-100'], /--timeout-ms must be a whole number from 1, not "-100"/],
      [['node', '--id', 'n1', '--tick-ms', '-5'], /--tick-ms must be a whole number from 1 to 60000, not "-5"/],
      [['status', '--brokers', '127.0.0.1:99999'], /port 99999 .*1 to 65535/],
      [['node', '--id', 'n1', '--log-level', 'loud'], /--log-level must be one of trace, debug, info, warn, error, fatal, not "loud"/],
      [['node', '--id', 'n1', '--log-format', 'pretty'], /--log-format must be json or text, not "pretty"/],
      [['cluster', '--log-level', 'verbose'], /--log-level must be one of trace, debug, info, warn, error, fatal, not "verbose"/],
      [['node', '--id', 'n1', '--members', 'n1=127.0.0.1:1/127.0.0.1:2,n2=127.0.0.1:3/127.0.0.1:4', '--dial', 'n2=127.0.0.1:70000'], /port 70000 .*1 to 65535/],
      [['members'], /members needs an action: list, add, promote, remove or replace/],
      [['members', 'frobnicate'], /members needs an action/],
      [['members', 'list', 'n1'], /members list needs no arguments; unexpected "n1"/],
      [['members', 'add', 'n4'], /members add needs ID and PEER_ADDRESS\/CLIENT_ADDRESS/],
      [['members', 'add', 'n4', '127.0.0.1:7604'], /"127.0.0.1:7604" must be PEER_HOST:PORT\/CLIENT_HOST:PORT/],
      [['members', 'add', 'n4', 'a b/c'], /must be PEER_HOST:PORT\/CLIENT_HOST:PORT/],
      [['members', 'promote'], /members promote needs ID/],
      [['members', 'promote', 'n4', '--catch-up-timeout-ms', 'soon'], /--catch-up-timeout-ms must be a whole number/],
      [['members', 'remove'], /members remove needs ID/],
      [['members', 'promote', 'n4', '--force'], /--force goes with members remove \(or replace\) only/],
      [['members', 'replace', 'n3', 'n4'], /members replace needs OLD_ID, NEW_ID and PEER_ADDRESS\/CLIENT_ADDRESS/],
      [['node', '--id', 'n4', '--join', '127.0.0.1:7501'], /--join needs --members with this node's own addresses/],
      [['bench', '--tls', '--brokers', '127.0.0.1:1'], /--tls applies to a cluster the bench starts, not to --brokers/],
      [['bench', '--tls-cost', '2', '--tls'], /--tls-cost starts its own clusters/],
      [['bench', '--api', 'kafka'], /--api must be log or broker, not "kafka"/],
      [['bench', '--acks', 'none'], /--acks must be all or leader, not "none"/],
      [['bench', '--floor', 'forever'], /--floor must be a duration such as 500ms, 2s, 1m or 24h, not "forever"/],
      [['bench', '--floor', '2m', '--inflight', '1'], /--floor must be at most 60s, not "2m"/],
      [['bench', '--floor', '3s'], /--floor models one producer with --inflight 1/],
      [['bench', '--floor', '3s', '--inflight', '1', '--tls'], /--floor models one producer with --inflight 1 .*not --brokers or --tls/],
      [['bench', '--floor', '3s', '--inflight', '1', '--brokers', '127.0.0.1:1'], /--floor models one producer with --inflight 1 .*not --brokers or --tls/],
      [['bench', '--floor', '1s', '--inflight', '1', '--tls-cost', '2'], /--floor goes with a single run/],
      [['bench', '--floor-pairs', '0'], /--floor-pairs must be a whole number from 1 to 100, not "0"/],
      [['bench', '--floor-pairs', '3', '--inflight', '8'], /--floor-pairs measures one producer with one record in flight/],
      [['bench', '--floor-pairs', '3', '--tls'], /--floor-pairs models acks all on a plaintext three-node cluster/],
      [['bench', '--floor-pairs', '3', '--floor', '0'], /--floor-pairs measures windows as long as --floor, which must be above 0/],
      [['bench', '--floor-pairs', '3', '--metrics-cpu', '2'], /--floor-pairs runs on its own/],
  ])('%j is refused with status 2 in one line that says what is wrong', async (args: string[], message: RegExp) => {
    const { code, stderr } = await run(args);
    expect(code, stderr).toBe(2);
    expect(oneLine(stderr), stderr).toBe(true);
    expect(stderr).toMatch(message);
  });

  it('an unknown command is a usage error', async () => {
    const { code, stderr } = await run(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toBe('quorumlog: unknown command "frobnicate"; run quorumlog --help for the list\n');
  });
});
