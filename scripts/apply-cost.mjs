// CPU of applying one produce entry on a node, per entry, from the process's CPU time (all
// threads, so the garbage collector's share counts): the leader's encoding of a produce of
// COUNT messages of SIZE bytes (empty key, no headers, as `bench --api broker` sends them),
// applied as a committed entry through NodeStateMachine.apply (decode and the broker state's
// apply, what every node does per produce entry) to a fresh state, ENTRIES entries a state.
// With --lease a consumer group holds a standing lease on the topic, so each entry hands its
// messages out, and a lease listener reads them, as the node that runs the consumer's loop does.
// Point it at a build's dist/ to set two builds side by side:
//   node scripts/apply-cost.mjs [DIST] [--size BYTES] [--count MESSAGES] [--lease]
// (DIST defaults to this checkout's dist/; run `npm run build` first).
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import { refuse, scriptCommandLine } from '../dist/storage/bench/script-args.js';

const NAME = 'apply-cost';
const USAGE = 'Usage: node scripts/apply-cost.mjs [DIST] [--size BYTES] [--count MESSAGES] [--lease]\n\nCPU of applying one produce entry of COUNT messages of SIZE bytes on a node (DIST: a build\'s dist/, this checkout\'s by default).';
const { values, positionals } = scriptCommandLine(NAME, USAGE, { size: { type: 'string', default: '1024' }, count: { type: 'string', default: '64' }, lease: { type: 'boolean', default: false } });
if (positionals.length > 1) refuse(NAME, `takes one DIST at most, not ${positionals.length}`);
if (!(Number.isSafeInteger(Number(values.size)) && Number(values.size) > 0)) refuse(NAME, `--size takes a whole number of bytes above 0, not "${values.size}"`);
if (!(Number.isSafeInteger(Number(values.count)) && Number(values.count) > 0)) refuse(NAME, `--count takes a whole number above 0, not "${values.count}"`);
const dist = path.resolve(positionals[0] ?? new URL('../dist', import.meta.url).pathname);
const { NodeStateMachine, brokerEntryPayload } = await import(pathToFileURL(path.join(dist, 'src/node/state-machine.js')).href);
const { EntryKind } = await import(pathToFileURL(path.join(dist, 'raft/index.js')).href);

const ENTRIES = 1000;
const payload = Buffer.alloc(Number(values.size), 7);
const messages = Array.from({ length: Number(values.count) }, () => ({ key: new Uint8Array(0), headers: [], payload, timestampMs: 1_700_000_000_000 }));
const entryOf = (index, command) => ({ index, term: 1, kind: EntryKind.normal, payload: brokerEntryPayload({ leaderTimeMs: 1_700_000_000_000 + index, command }) });
const createTopic = entryOf(1, { kind: 'createTopic', name: 'bench', messageBytesMax: 1024 * 1024 });
const settings = { ackDeadlineMs: 3_600_000, retriesMax: 3, retryDelaysMs: [1000] };
const leaseEntries = [
  entryOf(2, { kind: 'createGroup', group: 'g', topic: 'bench', start: { kind: 'earliest' }, settings, ifAbsent: false }),
  entryOf(3, { kind: 'lease', group: 'g', consumer: 'c', max: 1_000_000 }),
];
const firstIndex = values.lease ? 4 : 2;
// One encoding, applied at every index: an entry's index is not in its payload.
const produce = entryOf(2, { kind: 'produce', topic: 'bench', producerId: 0, firstSequence: 0, messages });

/** CPU (us) of applying the produce entry ENTRIES times to each of `states` fresh states. */
const cpuOfStates = (states) => {
  let used = 0;
  for (let s = 0; s < states; s++) {
    const machine = new NodeStateMachine();
    machine.apply(createTopic);
    if (values.lease) {
      for (const entry of leaseEntries) machine.apply(entry);
      machine.onLeaseDeliveries((deliveries, applied) => {
        for (const d of deliveries) for (const m of d.messages) if (applied.messages[m.position] === undefined) throw new Error(`no message at ${m.position}`);
      });
    }
    const start = process.cpuUsage();
    for (let index = firstIndex; index < ENTRIES + firstIndex; index++) {
      const result = machine.apply({ ...produce, index });
      if (result?.kind !== 'produced') throw new Error(`entry ${index}: ${result?.kind}`);
    }
    const took = process.cpuUsage(start);
    used += took.user + took.system;
  }
  return used;
};
cpuOfStates(20); // warm-up: the decoder and the apply optimized before anything is counted
const states = 200;
console.log(`${dist}, ${values.count} x ${values.size} B messages${values.lease ? ', handed out under a lease' : ''}, CPU an applied produce entry: ${(cpuOfStates(states) / (states * ENTRIES)).toFixed(2)} us`);
