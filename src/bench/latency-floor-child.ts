/**
 * Entry of one latency-floor child process (forked by latency-floor.ts, never imported): runs
 * the role its one JSON argument names, tells the parent its port over IPC, and exits when
 * the parent goes (the IPC channel closes), so no child outlives the run.
 */
import { runFollower, runLeader, type FloorListening, type FloorRoleOptions } from './latency-floor-roles.js';

const options = JSON.parse(process.argv[2] ?? '') as FloorRoleOptions;
process.on('disconnect', () => process.exit(0));
const port = options.role === 'leader' ? await runLeader(options) : await runFollower(options);
const listening: FloorListening = { port };
process.send?.(listening);
