/**
 * Two builds of the commit log side by side in one process, for a change to the flush loop:
 *
 *   node dist/storage/bench/compare-builds.js --base /path/to/other/checkout [--head .]
 *        [--payloads 128,1024] [--appenders 64] [--rounds 15] [--ms 400] [--stagger]
 *
 * Each checkout must be built (`npm run build`, so `dist/storage/index.js` exists). Every
 * round runs base and head back to back (the order flipping each round), each beside its
 * own raw figure (one 128 B record per write + fdatasync into synced zeros, as the storage
 * bench's reference), and prints per case the median x raw of each and the median of the
 * per-round head/base ratios. Those are paired, so a shared disk whose speed drifts by
 * several times within a minute still gives a comparison. --stagger as in storage-bench.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { closedLoopAppendRate } from './append-loop.js';
import { median, rawSyncRate } from './raw-sync.js';
import { refuse, scriptArgs } from './script-args.js';

type StorageModule = typeof import('../index.js');

const USAGE = `Usage: node dist/storage/bench/compare-builds.js --base PATH [options]

Two builds of the commit log side by side in one process, each beside its own raw fdatasync
figure; prints per case the median x raw of each and the median of the per-round head/base
ratios. Each checkout must be built (npm run build).

  --base PATH            the other checkout (required)
  --head PATH            this one (default .)
  --payloads 128,1024    payload sizes
  --appenders 64         concurrent appenders
  --rounds 15            rounds (1-51), the order flipping each round
  --ms 400               time per case and round
  --stagger              break the appenders' lockstep, as storage-bench does`;
const NAME = 'compare-builds';
const flags = scriptArgs(NAME, USAGE, {
  base: { type: 'string' },
  head: { type: 'string', default: '.' },
  payloads: { type: 'string', default: '128,1024' },
  appenders: { type: 'string', default: '64' },
  rounds: { type: 'string', default: '15' },
  ms: { type: 'string', default: '400' },
  stagger: { type: 'boolean', default: false },
});
if (flags.base === undefined) refuse(NAME, '--base takes the path of a built checkout to compare against');
const base: string = flags.base;
if (!(Number(flags.ms) > 0)) refuse(NAME, `--ms takes a number above 0, not "${flags.ms}"`);
const caseMs = Math.max(100, Number(flags.ms));
if (!(Number.isInteger(Number(flags.rounds)) && Number(flags.rounds) >= 1 && Number(flags.rounds) <= 51)) refuse(NAME, `--rounds takes a whole number from 1 to 51, not "${flags.rounds}"`);
const rounds = Number(flags.rounds);
const RAW_ZEROS_BYTES = 16 * 1024 * 1024;

/** `appenders` closed loops of one-entry appends on a fresh log (ordered mark), for caseMs. */
async function appendRate(storage: StorageModule, dir: string, appenders: number, payloadBytes: number): Promise<number> {
  const log = await storage.openLog({ dir, fs: new storage.NodeFileSystem(), flush: { mode: 'sync' } });
  const rate = await closedLoopAppendRate(log, { appenders, payloadBytes, caseMs, stagger: flags.stagger });
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function main(): Promise<void> {
  const load = async (checkout: string): Promise<StorageModule> =>
    (await import(path.resolve(checkout, 'dist/storage/index.js'))) as StorageModule;
  const builds = { base: await load(base), head: await load(flags.head) };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-compare-'));
  console.log(`base ${flags.base}, head ${flags.head}, ${rounds} rounds of ${caseMs} ms${flags.stagger ? ', staggered appenders' : ''}`);
  try {
    for (const payloadBytes of flags.payloads.split(',').map(Number)) {
      for (const appenders of flags.appenders.split(',').map(Number)) {
        const ratios = { base: [] as number[], head: [] as number[], headOverBase: [] as number[] };
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? (['base', 'head'] as const) : (['head', 'base'] as const);
          const rates = { base: 0, head: 0 };
          for (const which of order) {
            const raw = rawSyncRate(dir, 128, caseMs, RAW_ZEROS_BYTES).perSecond;
            rates[which] = await appendRate(builds[which], path.join(dir, which), appenders, payloadBytes);
            ratios[which].push(rates[which] / raw);
          }
          ratios.headOverBase.push(rates.head / rates.base);
        }
        const spread = (values: number[]): string => `${Math.min(...values).toFixed(2)}..${Math.max(...values).toFixed(2)}`;
        console.log(
          `${payloadBytes} B x ${appenders}: base ${median(ratios.base).toFixed(2)}x raw, head ${median(ratios.head).toFixed(2)}x raw, ` +
            `head/base paired median ${median(ratios.headOverBase).toFixed(2)} (${spread(ratios.headOverBase)})`,
        );
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
