/**
 * Storage benchmark: the disk's own fdatasync limit beside our sync-mode appends.
 *
 *   npm run bench:storage -- [--seconds 2] [--repeat 1] [--dir /path/on/the/disk/to/test] [--quick]
 *
 * Measures in one run: the raw rate of write + fdatasync of one small record (what a log
 * without group commit could at best do), our `sync` appends per second with 1, 16, 64 and
 * 256 concurrent appenders for 128 B and 1 KiB payloads, and MB/s for 1 MiB batches, each
 * as a ratio to the raw limit measured the same way. Every case runs for a bounded time
 * and the temp directory is removed at the end. On a shared machine, --repeat N runs each
 * append case N times and reports the median.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import type { Entry, Index, Term } from '../../raft/types.js';
import { type CommitLog, NodeFileSystem, openLog } from '../index.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '1' },
    dir: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const caseMs = Math.max(100, Number(flags.seconds) * 1000);
const repeats = Math.min(9, Math.max(1, Math.floor(Number(flags.repeat))));
const concurrencies = flags.quick ? [1, 64] : [1, 16, 64, 256];
const payloadSizes = flags.quick ? [128] : [128, 1024];
const BIG_BATCH_ENTRIES = 256;
const BIG_ENTRY_BYTES = 4096;

interface Row {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly ratio: number;
}

/** write + fdatasync of `recordBytes` at a time, one after the other, for caseMs. */
function rawSyncRate(dir: string, recordBytes: number): { perSecond: number; bytesPerSecond: number } {
  const file = path.join(dir, `raw-${recordBytes}`);
  const fd = fs.openSync(file, 'w');
  const record = Buffer.alloc(recordBytes, 7);
  let count = 0;
  let position = 0;
  const started = performance.now();
  try {
    while (performance.now() - started < caseMs) {
      fs.writeSync(fd, record, 0, recordBytes, position);
      fs.fdatasyncSync(fd);
      position += recordBytes;
      count++;
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file);
  }
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: count / seconds, bytesPerSecond: position / seconds };
}

async function withLog<T>(dir: string, name: string, run: (log: CommitLog) => Promise<T>): Promise<T> {
  const logDir = path.join(dir, name);
  const log = await openLog({ dir: logDir, fs: new NodeFileSystem(), flush: { mode: 'sync' } });
  try {
    return await run(log);
  } finally {
    await log.close();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}

/** `appenders` loops, each appending one entry and awaiting it, for caseMs. Appends per second. */
async function appendRate(dir: string, appenders: number, payloadBytes: number): Promise<number> {
  return withLog(dir, `append-${appenders}-${payloadBytes}`, async (log) => {
    const payload = new Uint8Array(payloadBytes).fill(1);
    let done = 0;
    const started = performance.now();
    const deadline = started + caseMs;
    const worker = async (): Promise<void> => {
      // Bounded by the deadline.
      while (performance.now() < deadline) {
        const entry: Entry = { index: (log.lastIndex() + 1) as Index, term: 1 as Term, kind: 1, payload };
        await log.append([entry]);
        done++;
      }
    };
    await Promise.all(Array.from({ length: appenders }, worker));
    return done / ((performance.now() - started) / 1000);
  });
}

/** Sequential appends of 1 MiB batches (256 x 4 KiB), each awaited. Bytes of payload per second. */
async function batchThroughput(dir: string): Promise<number> {
  return withLog(dir, 'batches', async (log) => {
    const payload = new Uint8Array(BIG_ENTRY_BYTES).fill(2);
    let bytes = 0;
    const started = performance.now();
    while (performance.now() - started < caseMs) {
      const first = log.lastIndex() + 1;
      const batch: Entry[] = [];
      for (let k = 0; k < BIG_BATCH_ENTRIES; k++) batch.push({ index: (first + k) as Index, term: 1 as Term, kind: 1, payload });
      await log.append(batch);
      bytes += BIG_BATCH_ENTRIES * BIG_ENTRY_BYTES;
    }
    return bytes / ((performance.now() - started) / 1000);
  });
}

function printTable(rows: readonly Row[]): void {
  const nameWidth = Math.max(...rows.map((row) => row.name.length));
  console.log(`${'case'.padEnd(nameWidth)}  ${'rate'.padStart(14)}  ${'x raw'.padStart(8)}`);
  for (const row of rows) {
    const rate = `${row.value.toFixed(row.value >= 100 ? 0 : 1)} ${row.unit}`;
    console.log(`${row.name.padEnd(nameWidth)}  ${rate.padStart(14)}  ${row.ratio.toFixed(2).padStart(8)}`);
  }
}

async function main(): Promise<void> {
  if (flags.dir !== undefined) fs.mkdirSync(flags.dir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(flags.dir ?? os.tmpdir(), 'quorumlog-bench-'));
  process.once('SIGINT', () => {
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
  console.log(`storage bench in ${dir}, ${caseMs} ms per case, node ${process.version}, ${os.cpus().length} cpus`);
  try {
    // The raw limit is measured before and after the other cases and the higher figure is
    // used, so a disk that was busy for a moment does not flatter our ratios.
    const rawBefore = rawSyncRate(dir, 128);
    const cases: Array<{ name: string; rate: number }> = [];
    for (const payloadBytes of payloadSizes) {
      for (const appenders of concurrencies) {
        const rates: number[] = [];
        for (let run = 0; run < repeats; run++) rates.push(await appendRate(dir, appenders, payloadBytes));
        const rate = rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)] ?? 0;
        cases.push({ name: `sync append ${payloadBytes} B x ${appenders} appenders`, rate });
      }
    }
    const rawAfter = rawSyncRate(dir, 128);
    const raw = Math.max(rawBefore.perSecond, rawAfter.perSecond);
    const rows: Row[] = [
      { name: 'raw write+fdatasync 128 B (before)', value: rawBefore.perSecond, unit: '/s', ratio: rawBefore.perSecond / raw },
      { name: 'raw write+fdatasync 128 B (after)', value: rawAfter.perSecond, unit: '/s', ratio: rawAfter.perSecond / raw },
      ...cases.map(({ name, rate }) => ({ name, value: rate, unit: '/s', ratio: rate / raw })),
    ];
    const rawMb = rawSyncRate(dir, BIG_BATCH_ENTRIES * BIG_ENTRY_BYTES).bytesPerSecond / 1e6;
    rows.push({ name: 'raw write+fdatasync 1 MiB', value: rawMb, unit: 'MB/s', ratio: 1 });
    const mb = (await batchThroughput(dir)) / 1e6;
    rows.push({ name: 'sync append 1 MiB batches', value: mb, unit: 'MB/s', ratio: mb / rawMb });
    printTable(rows);
    console.log('x raw: appends per second over the higher raw 128 B figure; MB/s over the raw 1 MiB figure');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
