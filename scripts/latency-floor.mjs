// The latency floor on its own: what one 1-in-flight acks=all round costs on this machine
// with nothing of quorumlog in it (src/bench/latency-floor.ts, which `quorumlog bench`
// also runs in the same run as a one-in-flight case). Needs a build: `npm run bench:floor`
// builds first.
//
//   node scripts/latency-floor.mjs [--fsyncs 0|1|2] [--seconds 4] [--size 1024] [--dir DIR]
import * as os from 'node:os';

import { measureLatencyFloor } from '../dist/src/bench/index.js';
import { refuse, scriptArgs } from '../dist/storage/bench/script-args.js';

const NAME = 'latency-floor';
const USAGE = `Usage: npm run bench:floor -- [--fsyncs 0|1|2] [--seconds 4] [--size 1024] [--dir DIR]

What one 1-in-flight acks=all round costs with nothing of quorumlog in it: a leader and two
follower processes on loopback, each writing the record and paying --fsyncs fdatasyncs
(2: the ordered durable mark, the default; 1: lagging; 0: async flush).`;
const values = scriptArgs(NAME, USAGE, { fsyncs: { type: 'string', default: '2' }, seconds: { type: 'string', default: '4' }, size: { type: 'string', default: '1024' }, dir: { type: 'string', default: os.tmpdir() } });
const fsyncsPerNode = Number(values.fsyncs);
if (fsyncsPerNode !== 0 && fsyncsPerNode !== 1 && fsyncsPerNode !== 2) refuse(NAME, `--fsyncs takes 0, 1 or 2, not "${values.fsyncs}"`);
const seconds = Number(values.seconds);
if (!(seconds > 0 && seconds <= 60)) refuse(NAME, `--seconds takes a number above 0 and at most 60, not "${values.seconds}"`);
const recordBytes = Number(values.size);
if (!(Number.isSafeInteger(recordBytes) && recordBytes > 0 && recordBytes <= 4 << 20)) refuse(NAME, `--size takes 1 to 4194304 bytes, not "${values.size}"`);

const abort = new AbortController();
process.once('SIGINT', () => abort.abort());
const floor = await measureLatencyFloor({ durationMs: seconds * 1000, fsyncsPerNode, recordBytes, dir: values.dir, signal: abort.signal });
console.log(`${fsyncsPerNode} fdatasync(s) per node, ${recordBytes} B: p50 ${floor.p50Ms.toFixed(3)} ms, p90 ${floor.p90Ms.toFixed(3)} ms, p99 ${floor.p99Ms.toFixed(3)} ms over ${floor.rounds} rounds${floor.nodesCpuMicrosPerRound === null ? '' : `; the three node processes' CPU ${Math.round(floor.nodesCpuMicrosPerRound)} us a round`}`);
