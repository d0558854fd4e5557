import { describe, expect, it } from 'vitest';

import type { NodeId } from '../../raft/index.js';
import { runNodeSchedule } from './node-schedule.js';
import type { Schedule } from './schedule.js';

/**
 * FINDINGS.md O4: the schedule (fast-check seed 1395261964 of the roll-over property in
 * node-sim.test.ts) after which a leader's own append never became durable and the cluster
 * stopped applying. Replayed alone, it must heal and pass every recovery check.
 */
const O4_SCHEDULE: Schedule = {"tuning":{"maxInflightAppends":8,"maxBatchBytes":64,"maxUncommittedEntries":10000,"preVote":false,"checkQuorum":true,"electionTicks":3,"heartbeatTicks":1,"preferredLeader":"n3" as NodeId},"seed":44008798,"proposeEveryMs":18,"steps":[{"waitMs":237,"action":{"kind":"heal"}},{"waitMs":41,"action":{"kind":"slowDisk","node":1,"fsyncMaxMs":150}},{"waitMs":172,"action":{"kind":"crashLeader","tear":true,"downMs":26}},{"waitMs":248,"action":{"kind":"crashLeader","tear":false,"downMs":512}},{"waitMs":83,"action":{"kind":"partition","groups":[1,1,0]}},{"waitMs":122,"action":{"kind":"heal"}},{"waitMs":150,"action":{"kind":"crash","node":0,"tear":false}},{"waitMs":150,"action":{"kind":"partition","groups":[1,0,2]}},{"waitMs":271,"action":{"kind":"partition","groups":[0,2,1]}},{"waitMs":41,"action":{"kind":"isolateLeader"}},{"waitMs":62,"action":{"kind":"crashLeader","tear":true,"downMs":63}},{"waitMs":108,"action":{"kind":"crashLeader","tear":false,"downMs":318}},{"waitMs":269,"action":{"kind":"partition","groups":[0,0,0]}},{"waitMs":226,"action":{"kind":"transfer","to":2}},{"waitMs":187,"action":{"kind":"network","dropRate":0.05,"duplicateRate":0.1,"delayMaxMs":30}},{"waitMs":63,"action":{"kind":"network","dropRate":0.05,"duplicateRate":0.3,"delayMaxMs":8}},{"waitMs":132,"action":{"kind":"crashLeader","tear":true,"downMs":135}},{"waitMs":8,"action":{"kind":"burst","count":22,"batch":false}},{"waitMs":246,"action":{"kind":"network","dropRate":0.5,"duplicateRate":0,"delayMaxMs":30}},{"waitMs":70,"action":{"kind":"heal"}},{"waitMs":293,"action":{"kind":"heal"}},{"waitMs":50,"action":{"kind":"network","dropRate":0.2,"duplicateRate":0,"delayMaxMs":120}},{"waitMs":80,"action":{"kind":"partition","groups":[0,2,0]}},{"waitMs":203,"action":{"kind":"network","dropRate":0,"duplicateRate":0.3,"delayMaxMs":8}},{"waitMs":70,"action":{"kind":"partition","groups":[1,0,2]}},{"waitMs":293,"action":{"kind":"burst","count":16,"batch":true}},{"waitMs":95,"action":{"kind":"powerLoss","tear":true,"downMs":533}},{"waitMs":151,"action":{"kind":"powerLoss","tear":false,"downMs":261}},{"waitMs":245,"action":{"kind":"burst","count":13,"batch":true}},{"waitMs":36,"action":{"kind":"partition","groups":[2,1,2]}},{"waitMs":93,"action":{"kind":"campaign","node":0}},{"waitMs":101,"action":{"kind":"burst","count":18,"batch":false}},{"waitMs":153,"action":{"kind":"burst","count":12,"batch":false}},{"waitMs":220,"action":{"kind":"cutLink","from":0,"to":2}},{"waitMs":208,"action":{"kind":"isolateLeader"}},{"waitMs":242,"action":{"kind":"network","dropRate":0.5,"duplicateRate":0.3,"delayMaxMs":8}},{"waitMs":165,"action":{"kind":"crash","node":1,"tear":false}},{"waitMs":64,"action":{"kind":"heal"}}]};

describe('O4: a leader whose own append never became durable', () => {
  it('the roll-over schedule with power losses and clock skew recovers', async () => {
    const result = await runNodeSchedule({ size: 3, fsyncMinMs: 2, fsyncMaxMs: 40, segmentBytes: 4 * 1024, clockSkewMaxMs: 2_000 }, O4_SCHEDULE);
    expect(result.failure, result.failure === null ? '' : `${result.failure.message}\n${result.failure.trace}`).toBeNull();
    expect(result.acked).toBeGreaterThan(0);
  }, 60_000);
});
