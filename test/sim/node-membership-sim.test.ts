import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { RetentionPolicy } from '../../src/node/config.js';
import { hunt, isSafetyViolation } from './bug-hunt.js';
import { newNodeVotesBeforeItHasALog } from './cores.js';
import { RaftNode, type NodeId, type RaftOptions } from '../../raft/index.js';
import type { NodeMembership } from '../../src/node/node-membership.js';
import { SafetyViolation } from './invariants.js';
import { NodeCluster } from './node-cluster.js';
import { MembershipOperator } from './node-operator.js';
import { MEMBERSHIP_NODE_WEIGHTS, runNodeSchedule, type NodeSimConfig } from './node-schedule.js';
import { describeSchedule, scheduleArbitrary, simRuns, simSeed, type Schedule } from './schedule.js';


/**
 * Membership changes on production nodes: generated schedules interleave the operator's
 * changes (through a leader's ChangeMember: add a joining node as a learner, promote, remove a
 * member or the leader, replace, and a voter's disk wiped and restarted under its id, then
 * replaced) with every fault of node-sim.test.ts. Every safety property is checked after
 * every step across configurations (one leader per term, one vote per node per term, log
 * matching, leader completeness, commits durable on a majority of the leader's
 * configuration); after healing, the operator finishes, and the final configuration's
 * members must hold every acknowledged append, apply a fresh one, and keep the term.
 *
 * SIM_RUNS=<n> sets schedules per property; SIM_SEED=<seed> replays a seed or soaks another;
 * without it the seed is FIXED_SEED.
 */
/** Schedules of the plain property in npm test (about 1.3 s each; the snapshot property runs half as many). */
const DEFAULT_RUNS = 4;
/** The properties' fast-check seed when SIM_SEED is not set (its first 2,000 schedules pass, of each property: FINDINGS O6). */
const FIXED_SEED = 20261207;
/** Past the property's own time limit (interruptAfterTimeLimit), so fast-check stops first. */
const PROPERTY_TIMEOUT_MS = 60_000 + simRuns(DEFAULT_RUNS) * 3_000;

interface Totals {
  acked: number;
  committed: Record<string, number>;
  joined: number;
  wipes: number;
  installed: number;
}

async function checkMembership(extra: Partial<NodeSimConfig>, runs: number): Promise<Totals> {
  // A fixed seed unless SIM_SEED names one; SIM_SEED=<n> with SIM_RUNS soaks other seeds.
  const seed = process.env['SIM_SEED'] === undefined || process.env['SIM_SEED'] === '' ? FIXED_SEED : simSeed();
  const config: NodeSimConfig = { size: 3, membership: true, ...extra };
  const totals: Totals = { acked: 0, committed: {}, joined: 0, wipes: 0, installed: 0 };
  console.log(`[node-membership] fast-check seed ${seed}, ${runs} schedules (replay with SIM_SEED=${seed})`);
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(scheduleArbitrary({ size: config.size, stepsMax: 20, weights: MEMBERSHIP_NODE_WEIGHTS }), async (schedule: Schedule) => {
      const result = await runNodeSchedule(config, schedule);
      totals.acked += result.acked;
      totals.installed += result.snapshotsInstalled;
      if (result.membership !== null) {
        for (const [kind, n] of Object.entries(result.membership.committed)) totals.committed[kind] = (totals.committed[kind] ?? 0) + n;
        totals.joined += result.membership.joined;
        totals.wipes += result.membership.wipes;
      }
      if (result.failure !== null) {
        throw new Error(`${result.failure.message}\nschedule:\n${describeSchedule(schedule)}\nreplay alone: runNodeSchedule(${JSON.stringify(config)}, ${JSON.stringify(schedule)})\nlast events:\n${result.failure.trace}`);
      }
    }),
    { seed, numRuns: runs, interruptAfterTimeLimit: 30_000 + runs * 2_000 },
  );
  console.log(`[node-membership] ${runs} schedules in ${Math.round(performance.now() - started)} ms: ${totals.acked} acknowledged appends, changes committed ${JSON.stringify(totals.committed)}, ${totals.joined} nodes joined, ${totals.wipes} disks wiped, ${totals.installed} snapshots installed`);
  return totals;
}

describe('membership changes on production nodes under faults', () => {
  it('3 nodes: changes through ChangeMember among crashes, partitions, damage, wiped disks; safety across configurations, and the final members hold every acknowledged append', async () => {
    const totals = await checkMembership({}, simRuns(DEFAULT_RUNS));
    expect(totals.acked).toBeGreaterThan(0);
    // A few schedules may change nothing (a generated schedule may hold no membership action);
    // dozens always add and remove.
    if (simRuns(DEFAULT_RUNS) >= 20) expect(Math.min(totals.committed['add'] ?? 0, totals.committed['remove'] ?? 0, totals.wipes)).toBeGreaterThan(0);
  }, PROPERTY_TIMEOUT_MS);

  it('3 nodes snapshotting every 5 to 50 entries, compacting at once: new learners catch up by InstallSnapshot', async () => {
    const totals = await checkMembership({ segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete } } }, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 2)));
    expect(totals.acked).toBeGreaterThan(0);
  }, PROPERTY_TIMEOUT_MS);

  it('F7, fixed: a member restarted with a saved commit below the entry that added the leader finds the leader in that entry, admits it and catches up', async () => {
    // Shrunk from fast-check seed 722237972: n3 leads, adds n4 and is crashed; n4 is promoted
    // and elected; n3 restarts with commit 0, so its book (applied state) has no n4. It used to
    // refuse n4 ("not a member": no address) and never apply again.
    const schedule: Schedule = {
      seed: 251573166,
      proposeEveryMs: 5,
      steps: [
        { waitMs: 110, action: { kind: 'replace', member: 0, joinDelayMs: 0 } },
        { waitMs: 156, action: { kind: 'crashLeader', tear: false, downMs: 157 } },
        { waitMs: 0, action: { kind: 'promote', learner: 0 } },
      ],
    };
    for (const operator of ['plain', 'careful'] as const) {
      const result = await runNodeSchedule({ size: 3, membership: true, operator }, schedule);
      expect(result.failure).toBeNull();
      expect(result.membership?.committed).toMatchObject({ add: 1, promote: 1, remove: 1 });
    }
  }, 60_000);

  it('F7, fixed: a learner that catches up by a snapshot older than the leader\'s own addition takes the leader it follows, though the snapshot\'s configuration does not name it', async () => {
    // Shrunk from the snapshot property (fast-check seed 1808602776): after n1..n3 are removed
    // one by one, n4 leads alone and adds n5, which installs n4's snapshot at 88, whose
    // configuration is {n3}; n5 then refused n4 (not a member of {n3}) and never applied on.
    const schedule = JSON.parse('{"seed":0,"proposeEveryMs":5,"steps":[{"waitMs":115,"action":{"kind":"pause","node":2,"ms":665}},{"waitMs":107,"action":{"kind":"remove","member":0}},{"waitMs":14,"action":{"kind":"remove","member":0}},{"waitMs":12,"action":{"kind":"replace","member":0,"joinDelayMs":0}},{"waitMs":40,"action":{"kind":"isolateLeader"}},{"waitMs":119,"action":{"kind":"pauseLeader","ms":353}},{"waitMs":81,"action":{"kind":"remove","member":9}},{"waitMs":17,"action":{"kind":"network","dropRate":0,"duplicateRate":0.3,"delayMaxMs":8}},{"waitMs":204,"action":{"kind":"addLearner","joinDelayMs":59}},{"waitMs":119,"action":{"kind":"isolateLeader"}},{"waitMs":268,"action":{"kind":"transfer","to":1}}]}') as Schedule;
    const result = await runNodeSchedule({ size: 3, membership: true, segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete } } }, schedule);
    expect(result.failure?.message ?? null).toBeNull();
    expect(result.snapshotsInstalled).toBeGreaterThan(0);
  }, 60_000);

  it('F9, fixed: a member whose removal was appended and then cut still knows its old disk, and never takes a wiped disk under its id', async () => {
    // Found by the snapshot property (fast-check seed 1304888864): n3's disk is wiped and the
    // operator removes it; n1 appends the removal and forgets n3's first-heard incarnation;
    // the removal is cut (a leader change), n3 is a member again on n1, which then heard n3's
    // wiped disk first and took its pre-vote (wipedDiskCounted).
    const schedule = JSON.parse('{"seed":2147319804,"proposeEveryMs":5,"steps":[{"waitMs":151,"action":{"kind":"wipe","member":2}},{"waitMs":58,"action":{"kind":"pauseLeader","ms":1}},{"waitMs":47,"action":{"kind":"crashAfterSyncs","node":2,"syncs":1,"tear":false}},{"waitMs":115,"action":{"kind":"crashAfterSyncs","node":2,"syncs":1,"tear":false}},{"waitMs":277,"action":{"kind":"addLearner","joinDelayMs":0}},{"waitMs":141,"action":{"kind":"pauseLeader","ms":901}},{"waitMs":48,"action":{"kind":"slowDisk","node":0,"fsyncMaxMs":6}},{"waitMs":252,"action":{"kind":"promote","learner":0}},{"waitMs":209,"action":{"kind":"crash","node":1,"tear":false}},{"waitMs":92,"action":{"kind":"crashAfterSyncs","node":0,"syncs":1,"tear":false}}]}') as Schedule;
    const result = await runNodeSchedule({ size: 3, membership: true, segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete } } }, schedule);
    expect(result.failure?.message ?? null).toBeNull();
    expect(result.membership?.wipes).toBe(1);
  }, 60_000);

  it('O6, fixed: a voter that missed a learner\'s promotion answers its campaign, so the promoted learner and it elect a leader after the leader\'s disk is wiped', async () => {
    // Found by a membership soak (fast-check seed 1060696210): n3 leads {n1,n3,n4} (n4 promoted
    // from learner, n2 removed) and its disk is wiped; n1, paused meanwhile, still holds
    // {n1,n2,n3} with n4 a learner. Only n1 and n4 could elect a leader, and n1 dropped n4's
    // (pre-)vote requests as a non-voter's: no leader after healing, ever.
    const schedule = JSON.parse('{"seed":1634064528,"proposeEveryMs":5,"steps":[{"waitMs":181,"action":{"kind":"replace","member":4,"joinDelayMs":113}},{"waitMs":47,"action":{"kind":"addLearner","joinDelayMs":66}},{"waitMs":74,"action":{"kind":"partition","groups":[2,0,0]}},{"waitMs":154,"action":{"kind":"partition","groups":[0,0,0]}},{"waitMs":124,"action":{"kind":"heal"}},{"waitMs":16,"action":{"kind":"pause","node":0,"ms":144}},{"waitMs":154,"action":{"kind":"wipe","member":10}},{"waitMs":0,"action":{"kind":"crashLeader","tear":false,"downMs":0}}]}') as Schedule;
    const result = await runNodeSchedule({ size: 3, membership: true }, schedule);
    expect(result.failure?.message ?? null).toBeNull();
    expect(result.membership?.wipes).toBe(1);
  }, 60_000);

  it('O6, the harness: no disk is wiped while the operator\'s removal of a voter is on its way (it could leave two voters, one of them the wiped disk)', async () => {
    // The fixed seed's 1,374th schedule: n2 leads and hands over before its own removal; the
    // removal waits at n1 for a commit in its term, n3's disk is wiped meanwhile, and n1 then
    // appends {n1,n3} and is cut off. Two voters, one of them a wiped disk, elect no one (n2
    // lacks the entry and n1 refuses its shorter log): no leader was possible, the harness
    // made a fault the configuration cannot survive.
    const schedule = JSON.parse('{"seed":1030213788,"proposeEveryMs":5,"steps":[{"waitMs":0,"action":{"kind":"pause","node":0,"ms":311}},{"waitMs":165,"action":{"kind":"crashLeader","tear":false,"downMs":151}},{"waitMs":100,"action":{"kind":"restart","node":0}},{"waitMs":100,"action":{"kind":"restart","node":0}},{"waitMs":50,"action":{"kind":"removeLeader"}},{"waitMs":154,"action":{"kind":"wipe","member":11}},{"waitMs":6,"action":{"kind":"isolateLeader"}}]}') as Schedule;
    const result = await runNodeSchedule({ size: 3, membership: true }, schedule);
    expect(result.failure?.message ?? null).toBeNull();
    expect(result.membership).toMatchObject({ wipes: 0, committed: { removeLeader: 1 } });
  }, 60_000);

  it('O7, fixed: two bootstrap members whose disks are lost, restarted with their old command lines, elect no leader of their own; the member that knew the old disks stops them', async () => {
    // FINDINGS O7: each wiped member bootstrapped {n1,n2,n3} again and trusted the other on
    // first use; together a majority of that configuration, they elected a leader of their
    // own. A node that bootstraps on a new data directory now votes only once every other
    // bootstrap member has confirmed it knows no other directory under its id
    // (src/node/bootstrap-check.ts); told otherwise, it stops for good.
    const { cluster, lost, keeper } = await twoDisksLost();
    expect(await cluster.runUntil(() => lost.some((id) => cluster.raft(id)?.status().role === 'leader'), 3_000)).toBe(false);
    for (const id of lost) expect(cluster.status(id).votingHeld).toBe(true);
    cluster.network.heal();
    expect(await cluster.runUntil(() => cluster.stoppedForGood.length === 2, 3_000)).toBe(true);
    expect(cluster.stoppedForGood.sort()).toEqual([...lost].sort());
    expect(cluster.raft(keeper)?.status().role).not.toBe('leader');
  }, 60_000);

  it('O7, the same without the hold: the two lost disks elect a leader of their own', async () => {
    // Shows the scripted case above can fail: cores that ignore votingHeld.
    const { cluster, lost } = await twoDisksLost((options) => new RaftNode({ ...options, votingHeld: false }));
    let elected: boolean;
    try {
      elected = await cluster.runUntil(() => lost.some((id) => cluster.raft(id)?.status().role === 'leader'), 3_000);
    } catch (error) {
      // A leader in a term the real cluster also used: the safety checker's own finding.
      if (!(error instanceof SafetyViolation)) throw error;
      elected = true;
    }
    expect(elected).toBe(true);
  }, 60_000);

  it('F7, fixed: a voter that misses the entries adding and promoting a member serves that member once it leads (a stranger to a follower), and catches up', async () => {
    // Scripted from what a generated schedule showed (fast-check seed 722237972): n3 is cut
    // off while n4 joins, is added and promoted, and takes over; once healed, n3's
    // configuration ({n1,n2,n3}) does not name n4. It refused n4's appends for good; now a
    // follower serves a caller it does not know and dials it back (NodeMembership.admitsStranger).
    const cluster = new NodeCluster({ seed: 7, size: 3 });
    const operator = new MembershipOperator(cluster, 'plain');
    expect(await cluster.runUntil(() => cluster.leader() !== null, 2_000)).toBe(true);
    const first = cluster.leader() as NodeId;
    const lagging = cluster.ids.find((id) => id !== first) as NodeId;
    cluster.network.partition([[lagging], cluster.ids.filter((id) => id !== lagging)]);
    const n4 = cluster.startJoiner();
    operator.enqueue({ kind: 'add', id: n4 }, { kind: 'promote', id: n4 });
    expect(await cluster.runUntil(() => operator.idle, 10_000)).toBe(true);
    expect(operator.stats.committed).toMatchObject({ add: 1, promote: 1 });
    cluster.transfer(n4);
    expect(await cluster.runUntil(() => cluster.leader() === n4, 5_000)).toBe(true);
    cluster.network.heal();
    for (let k = 0; k < 20; k++) cluster.append();
    await cluster.runFor(3_000);
    expect(cluster.leader()).toBe(n4);
    // The lagging voter took n4's entries: the ones adding n4, and the appends after.
    expect(cluster.status(lagging).config.voters).toContain(n4);
    expect(cluster.appliedIndex(lagging)).toBe(cluster.appliedIndex(n4));
  }, 60_000);
});

/**
 * Three members take appends, every one hears the others' disks; then two of them lose their
 * disks and restart on empty ones with their old command lines, cut off from the third.
 */
async function twoDisksLost(createRaft?: (options: RaftOptions) => RaftNode): Promise<{ cluster: NodeCluster; lost: readonly NodeId[]; keeper: NodeId }> {
  const cluster = new NodeCluster({ seed: 17, size: 3, ...(createRaft === undefined ? {} : { createRaft }) });
  expect(await cluster.runUntil(() => cluster.leader() !== null, 2_000)).toBe(true);
  for (let k = 0; k < 10; k++) cluster.append();
  const keeper = cluster.ids[2] as NodeId;
  const lost = cluster.ids.filter((id) => id !== keeper);
  const heardAll = (): boolean => cluster.ids.every((id) => cluster.ids.every((peer) => peer === id || cluster.peerLinks.recorded(id, cluster.node(id).node?.membership as NodeMembership, peer) === cluster.node(peer).incarnation));
  expect(await cluster.runUntil(heardAll, 2_000)).toBe(true);
  cluster.network.partition([[...lost], [keeper]]);
  for (const id of lost) cluster.loseDisk(id);
  return { cluster, lost, keeper };
}

/**
 * A planted membership bug of cores.ts, run inside production nodes (the simulator's
 * createRaft): the generated membership schedules must find it. A fixed hunt seed (SIM_SEED
 * replaces it). The other, changesConfigBeforeOwnTermCommit, was not found here (README).
 */
describe('planted membership bugs, found on production nodes', () => {
  const huntSeed = (fixed: number): number => (process.env['SIM_SEED'] !== undefined && process.env['SIM_SEED'] !== '' ? simSeed() : fixed);

  it('a new node that votes before it has a log (it takes itself for a one-voter cluster)', async () => {
    const seed = huntSeed(1);
    const found = await hunt({ size: 3, membership: true, createRaft: newNodeVotesBeforeItHasALog }, scheduleArbitrary({ size: 3, stepsMax: 20, weights: MEMBERSHIP_NODE_WEIGHTS }), { seed, runsMax: 30, wanted: isSafetyViolation, shrinkBudgetMs: 500 });
    console.log(`[node-membership] newNodeVotesBeforeItHasALog: hunt seed ${seed}, found after ${String(found.foundAfterRuns)} schedules\n${found.report}`);
    expect(found.foundAfterRuns).not.toBeNull();
  }, 60_000);
});
