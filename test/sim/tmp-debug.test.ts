import { it } from 'vitest';
import { RetentionPolicy } from '../../src/node/config.js';
import { runNodeSchedule } from './node-schedule.js';
it('debug', async () => {
  const r = await runNodeSchedule({ size: 3, broker: {}, segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: { hours: 0, bytes: Infinity, policy: RetentionPolicy.keepUnconsumed } } }, {"seed":0,"proposeEveryMs":5,"steps":[{"waitMs":0,"action":{"kind":"crashLeader","tear":false,"downMs":0}}]} as never);
  console.log('RESULT', r.failure?.message);
}, 60000);
