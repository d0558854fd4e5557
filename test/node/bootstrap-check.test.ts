import { describe, expect, it } from 'vitest';

import { nodeId, type NodeId } from '../../raft/index.js';
import { MemoryFileSystem } from '../../storage/index.js';
import { BOOTSTRAP_CHECK_FILE, BootstrapCheck, DataDirWipedError } from '../../src/node/bootstrap-check.js';
import { LogRecorder } from '../../src/log/index.js';
import type { IncarnationCheckAnswer } from '../../src/transport/index.js';
import { SimProcess, SimScheduler, SimWorld } from '../sim/sim-scheduler.js';

const DIR = '/data/n1';
const LOG_DIR = `${DIR}/log`;
const n2 = nodeId('n2');
const n3 = nodeId('n3');

/** Runs every task due up to `atMs` on the virtual clock (and the promises they settle). */
async function runUntil(world: SimWorld, atMs: number): Promise<void> {
  // Bounded by the tasks scheduled before atMs.
  while ((world.nextAtMs() ?? Infinity) <= atMs) await world.step();
  world.advanceTo(atMs);
  for (let k = 0; k < 10; k++) await Promise.resolve();
}

/** A check of n1 whose peers answer what `answers` says when asked (a function of how often each was asked). */
function check(fs: MemoryFileSystem, answers: (peer: NodeId, askedBefore: number) => IncarnationCheckAnswer | Error) {
  const world = new SimWorld();
  const scheduler = new SimScheduler(world, new SimProcess('n1'));
  const asked = new Map<NodeId, number>();
  const outcome: { confirmed: boolean; fatal: unknown } = { confirmed: false, fatal: null };
  const log = new LogRecorder('info');
  const bootstrap = new BootstrapCheck({
    self: nodeId('n1'),
    incarnation: 'disk-1',
    peers: [nodeId('n1'), n2, n3],
    fs,
    dataDir: DIR,
    scheduler,
    ask: (peer) => {
      const before = asked.get(peer) ?? 0;
      asked.set(peer, before + 1);
      const answer = answers(peer, before);
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    log: log.log,
    onConfirmed: () => (outcome.confirmed = true),
    onFatal: (error) => (outcome.fatal = error),
    retryMs: 100,
  });
  return { world, bootstrap, asked, outcome, log };
}

describe('BootstrapCheck', () => {
  it('a new directory records the check as pending, durably, before its log exists; a directory with a log and no record is not checked', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir(DIR);
    expect(await BootstrapCheck.pending(fs, DIR, LOG_DIR, 'disk-1')).toBe(true);
    // Still pending after a crash: the next start checks again.
    const after = fs.crash();
    expect(after.list(DIR)).toContain(BOOTSTRAP_CHECK_FILE);
    expect(await BootstrapCheck.pending(after, DIR, LOG_DIR, 'disk-1')).toBe(true);

    const old = new MemoryFileSystem();
    old.mkdir(LOG_DIR);
    const handle = old.open(`${LOG_DIR}/state`, 'create');
    old.close(handle);
    expect(await BootstrapCheck.pending(old, DIR, LOG_DIR, 'disk-1')).toBe(false);
    expect(old.list(DIR)).not.toContain(BOOTSTRAP_CHECK_FILE);
  });

  it('confirms once every other member accepted, asking again those that did not answer, and removes the record durably', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir(DIR);
    await BootstrapCheck.pending(fs, DIR, LOG_DIR, 'disk-1');
    const { world, bootstrap, asked, outcome } = check(fs, (peer, before) => (peer === n3 && before < 3 ? new Error('n3 is down') : { verdict: 'accepted', recorded: '' }));
    bootstrap.start();
    await runUntil(world, 250);
    expect(outcome.confirmed).toBe(false);
    expect(asked.get(n2)).toBe(1);
    await runUntil(world, 1_000);
    expect(outcome).toEqual({ confirmed: true, fatal: null });
    expect(asked.get(n3)).toBe(4);
    expect(asked.has(nodeId('n1'))).toBe(false);
    expect(fs.crash().list(DIR)).not.toContain(BOOTSTRAP_CHECK_FILE);
  });

  it('a member that knows another directory under the id stops the node, saying how to replace it; nothing is confirmed after', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir(DIR);
    await BootstrapCheck.pending(fs, DIR, LOG_DIR, 'disk-1');
    const { world, bootstrap, outcome } = check(fs, (peer) => (peer === n3 ? { verdict: 'wiped', recorded: 'disk-0' } : { verdict: 'accepted', recorded: '' }));
    bootstrap.start();
    await runUntil(world, 1_000);
    expect(outcome.confirmed).toBe(false);
    expect(outcome.fatal).toBeInstanceOf(DataDirWipedError);
    const message = (outcome.fatal as Error).message;
    expect(message).toContain('member n3 knows node n1 by data directory incarnation disk-0');
    expect(message).toContain('quorumlog members replace n1 NEW_ID');
    expect(fs.list(DIR)).toContain(BOOTSTRAP_CHECK_FILE);
  });

  it('a member not answering is reported after a while, then at most once a minute; stop() ends the asking', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir(DIR);
    await BootstrapCheck.pending(fs, DIR, LOG_DIR, 'disk-1');
    const { world, bootstrap, asked, outcome, log } = check(fs, (peer) => (peer === n3 ? new Error('connection refused') : { verdict: 'accepted', recorded: '' }));
    bootstrap.start();
    await runUntil(world, 4_000);
    expect(log.messages().filter((line) => line.startsWith('still waiting for n3'))).toEqual([]);
    await runUntil(world, 30_000);
    expect(log.messages().filter((line) => line.startsWith('still waiting for n3'))).toHaveLength(1);
    bootstrap.stop();
    const askedAtStop = asked.get(n3);
    await runUntil(world, 40_000);
    expect(asked.get(n3)).toBe(askedAtStop);
    expect(outcome).toEqual({ confirmed: false, fatal: null });
  });
});
