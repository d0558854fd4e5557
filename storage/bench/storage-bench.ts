/**
 * Storage benchmark: the disk's own fdatasync limit beside our sync-mode appends.
 *
 *   npm run bench:storage -- [--seconds 2] [--repeat 1] [--preallocate both|on|off] [--mark ordered|lagging] [--stagger]
 *                            [--dir /path/on/the/disk/to/test]
 *                            [--quick | --appenders 1,16,64,256 --payloads 128,1024]
 *
 * Measures in one run: the raw rate of making one small record durable at a time (what a log
 * without group commit could at best do): written past the page cache and durable when the
 * write returns (O_DIRECT | O_DSYNC, as the log's sync mode writes; where the file system takes
 * it), and write + fdatasync, into preallocated, already-synced zeros and into a growing
 * file; our `sync` appends per second with 1, 16, 64 and 256 concurrent appenders for 128 B
 * and 1 KiB payloads, and MB/s for 1 MiB batches, each
 * as a ratio to the best raw figure of the run. With --preallocate both (the default)
 * every case runs with segment preallocation off and on, alternately, so the two are
 * compared under the same load. Every case runs for a bounded time and the temp directory
 * is removed at the end. On a shared machine, --repeat N runs each case N times (per
 * mode) and reports the median and the spread (lowest..highest) of the N ratios. --mark lagging
 * measures appends that resolve after their data's fdatasync, before the durable mark's
 * (storage/log-options.ts, FlushPolicy). --stagger breaks the appenders' lockstep (half
 * start 1 ms late, each yields a turn after every 7th append), so acknowledgements do not
 * release them all into one group: the arrivals under which groups pipeline. --ceiling adds,
 * for each of those cases, what the ordered mark allows on this disk with none of the log's
 * code (ordered-ceiling.ts: per group, the records' write and fdatasync, then a mark slot's),
 * with the fdatasyncs on the event loop, on the thread pool and in a worker of its own (both
 * syncs one job), and with the syncs on the thread pool, zeros written ahead into new pages
 * as the log does, or the records written with O_DIRECT (direct-appender.ts); --group-cpu-us
 * N adds N us of busy time per group there, standing in for the appends' own work.
 * --group-timings prints, per append case, the medians of each group's data sync, mark sync
 * and the work between them (sync-timings.ts): the time from a mark sync's end to the next
 * data sync's start is the log's and the appenders' CPU per group.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Entry, Index, Term } from '../../raft/index.js';
import { closedLoopAppendRate } from './append-loop.js';
import { DirectAppender } from './direct-appender.js';
import { type CeilingSyncs, orderedCeilingRate, type RecordWrites } from './ordered-ceiling.js';
import { median, rawDirectRate, rawSyncRate } from './raw-sync.js';
import { refuse, scriptArgs } from './script-args.js';
import { groupTimings, type SyncEvent, SyncTimingFileSystem } from './sync-timings.js';
import { type CommitLog, LOG_DEFAULTS, NodeFileSystem, openLog } from '../index.js';

const USAGE = `Usage: npm run bench:storage -- [options]   (node dist/storage/bench/storage-bench.js after a build)

The disk's own write + fdatasync rate beside the commit log's sync-mode appends, in one run.

  --seconds S            time per case (default 2)
  --repeat N             run each case N times (1-51) and report the median and spread
  --preallocate both|on|off
                         segment preallocation in the append cases (default both, alternating)
  --mark ordered|lagging the durable mark (default ordered)
  --stagger              break the appenders' lockstep
  --appenders 1,16,64,256
  --payloads 128,1024    the cases, as comma-separated whole numbers
  --quick                appenders 1,64 and payload 128 only
  --ceiling              also the ordered mark's ceiling for each case: its two fdatasyncs
                         per group with none of the log's code, on the event loop, on the
                         thread pool, and in a worker thread of its own; and, on the thread
                         pool, with zeros written ahead into new pages as the log does, and
                         with the records written with O_DIRECT (past the page cache)
  --group-cpu-us N       busy time per group in the ceiling cases (default 0)
  --group-timings        also, per append case, the medians of its two syncs and of the
                         work between them (the log's own CPU per group)
  --dir DIR              the disk to test (default the OS temp dir)`;
const NAME = 'storage-bench';
const flags = scriptArgs(NAME, USAGE, {
  seconds: { type: 'string', default: '2' },
  repeat: { type: 'string', default: '1' },
  dir: { type: 'string' },
  quick: { type: 'boolean', default: false },
  preallocate: { type: 'string', default: 'both' },
  mark: { type: 'string', default: 'ordered' },
  stagger: { type: 'boolean', default: false },
  appenders: { type: 'string' },
  payloads: { type: 'string' },
  ceiling: { type: 'boolean', default: false },
  'group-cpu-us': { type: 'string', default: '0' },
  'group-timings': { type: 'boolean', default: false },
});
/** "on" is the default setting, whatever it is now. */
const PREALLOCATE_MODES = { off: 0, on: LOG_DEFAULTS.preallocateBytes } as const;
type PreallocateMode = keyof typeof PREALLOCATE_MODES;
if (!['on', 'off', 'both'].includes(flags.preallocate)) refuse(NAME, `--preallocate takes on, off or both, not "${flags.preallocate}"`);
const modes: readonly PreallocateMode[] =
  flags.preallocate === 'on' || flags.preallocate === 'off' ? [flags.preallocate] : ['off', 'on'];
if (flags.mark !== 'ordered' && flags.mark !== 'lagging') refuse(NAME, `--mark takes ordered or lagging, not "${flags.mark}"`);
const mark: 'ordered' | 'lagging' = flags.mark;
if (!(Number(flags.seconds) > 0)) refuse(NAME, `--seconds takes a number above 0, not "${flags.seconds}"`);
const caseMs = Math.max(100, Number(flags.seconds) * 1000);
if (!(Number.isInteger(Number(flags.repeat)) && Number(flags.repeat) >= 1 && Number(flags.repeat) <= 51)) refuse(NAME, `--repeat takes a whole number from 1 to 51, not "${flags.repeat}"`);
const repeats = Number(flags.repeat);
const groupCpuMicros = Number(flags['group-cpu-us']);
if (!(Number.isInteger(groupCpuMicros) && groupCpuMicros >= 0 && groupCpuMicros <= 100_000)) refuse(NAME, `--group-cpu-us takes a whole number from 0 to 100000, not "${flags['group-cpu-us']}"`);
if (groupCpuMicros > 0 && flags.ceiling !== true) refuse(NAME, '--group-cpu-us applies to the ceiling cases: give --ceiling too');
/** "1,16,64" -> [1, 16, 64]; whole numbers >= 1 only. */
function numberList(text: string, what: string): number[] {
  const values = text.split(',').map(Number);
  if (values.some((value) => !Number.isInteger(value) || value < 1)) refuse(NAME, `--${what} takes whole numbers >= 1, not "${text}"`);
  return values;
}
const concurrencies = flags.appenders !== undefined ? numberList(flags.appenders, 'appenders') : flags.quick ? [1, 64] : [1, 16, 64, 256];
const payloadSizes = flags.payloads !== undefined ? numberList(flags.payloads, 'payloads') : flags.quick ? [128] : [128, 1024];
const BIG_BATCH_ENTRIES = 256;
const BIG_ENTRY_BYTES = 4096;
/** Zeros the raw preallocated case writes over (it starts over them if a long case gets to their end). */
const RAW_ZEROS_BYTES = 64 * 1024 * 1024;

interface Row {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly ratio: number;
  /** Lowest and highest ratio over the repeats, when there were several. */
  readonly spread?: readonly [number, number];
  /**
   * The median, over the repeats, of this row's result over the same case's with
   * preallocation off in the same round (the two ran back to back): paired, so load that
   * drifts between rounds cancels out.
   */
  readonly overOff?: number;
}

/** With --group-timings: the append cases' syncs, per row of the table (case and mode), over all repeats. */
const syncEvents = new Map<string, SyncEvent[]>();

const appendCaseName = (payloadBytes: number, appenders: number): string => `sync append ${payloadBytes} B x ${appenders} appenders`;
const BATCHES_CASE_NAME = 'sync append 1 MiB batches';
/** A case's row in the table, and in the group timings. */
const rowName = (caseName: string, mode: PreallocateMode): string => `${caseName}, preallocate ${mode}`;

/** A fresh log for the case named `caseName`, in a directory of its own under `dir`, removed after `run`. */
async function withLog<T>(dir: string, caseName: string, mode: PreallocateMode, run: (log: CommitLog) => Promise<T>): Promise<T> {
  const logDir = path.join(dir, `${caseName.replace(/\W+/g, '-')}-${mode}`);
  const preallocateBytes = PREALLOCATE_MODES[mode];
  const timed = flags['group-timings'] === true ? new SyncTimingFileSystem() : null;
  const log = await openLog({ dir: logDir, fs: timed ?? new NodeFileSystem(), flush: { mode: 'sync', mark }, preallocateBytes });
  if (timed !== null) timed.recording = true;
  try {
    return await run(log);
  } finally {
    if (timed !== null) {
      timed.recording = false;
      const row = rowName(caseName, mode);
      syncEvents.set(row, [...(syncEvents.get(row) ?? []), ...timed.events]);
    }
    await log.close();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}

/** `appenders` loops, each appending one entry and awaiting it, for caseMs. Appends per second. */
async function appendRate(dir: string, mode: PreallocateMode, appenders: number, payloadBytes: number): Promise<number> {
  return withLog(dir, appendCaseName(payloadBytes, appenders), mode, (log) => closedLoopAppendRate(log, { appenders, payloadBytes, caseMs, stagger: flags.stagger === true }));
}

/** Sequential appends of 1 MiB batches (256 x 4 KiB), each awaited. Bytes of payload per second. */
async function batchThroughput(dir: string, mode: PreallocateMode): Promise<number> {
  return withLog(dir, BATCHES_CASE_NAME, mode, async (log) => {
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
  console.log(`${'case'.padEnd(nameWidth)}  ${'rate'.padStart(14)}  ${'x raw'.padStart(8)}  ${'spread x raw'.padStart(13)}  ${'/ off'.padStart(6)}`);
  for (const row of rows) {
    const rate = `${row.value.toFixed(row.value >= 100 ? 0 : 1)} ${row.unit}`;
    const spread = row.spread === undefined ? '' : `${row.spread[0].toFixed(2)}..${row.spread[1].toFixed(2)}`;
    const overOff = row.overOff === undefined ? '' : row.overOff.toFixed(2);
    console.log(`${row.name.padEnd(nameWidth)}  ${rate.padStart(14)}  ${row.ratio.toFixed(2).padStart(8)}  ${spread.padStart(13)}  ${overOff.padStart(6)}`);
  }
}

interface Case {
  readonly name: string;
  readonly unit: string;
  readonly measure: (mode: PreallocateMode) => Promise<number>;
  /** Results per mode, one per repeat. */
  readonly results: Map<PreallocateMode, number[]>;
}

/**
 * Runs every case `repeats` times per mode, the modes alternating (and their order
 * flipping every round) so drift in the machine's load falls on both alike.
 */
async function runCases(cases: readonly Case[]): Promise<void> {
  for (const one of cases) {
    for (let round = 0; round < repeats; round++) {
      const order = round % 2 === 0 ? modes : [...modes].reverse();
      for (const mode of order) {
        const value = await one.measure(mode);
        one.results.set(mode, [...(one.results.get(mode) ?? []), value]);
      }
    }
  }
}

/**
 * The ceiling cases, each `repeats` times: per group, the records' write and fdatasync, then
 * a mark slot's, with none of the log's code (ordered-ceiling.ts). No preallocation modes:
 * they write over synced zeros of their own. Appends per second, one per repeat.
 */
async function measureCeilings(dir: string, direct: boolean): Promise<{ readonly name: string; readonly values: readonly number[] }[]> {
  const where: Record<CeilingSyncs, string> = { 'event-loop': 'on the event loop', 'thread-pool': 'on the thread pool', worker: 'in a worker, one job a group' };
  const work = groupCpuMicros > 0 ? `, ${groupCpuMicros} us CPU a group` : '';
  // Syncs on the thread pool also with zeros ahead into new pages, and with the records past the page cache where the file system takes O_DIRECT.
  const ways: readonly { readonly syncs: CeilingSyncs; readonly recordWrites: RecordWrites }[] = [
    ...(['event-loop', 'thread-pool', 'worker'] as const).map((syncs) => ({ syncs, recordWrites: 'page-cache' as const })),
    { syncs: 'thread-pool', recordWrites: 'zeros-ahead' },
    ...(direct ? [{ syncs: 'thread-pool' as const, recordWrites: 'direct' as const }] : []),
  ];
  const measured = [];
  for (const payloadBytes of payloadSizes) {
    for (const appenders of concurrencies) {
      // The ways in turn within each round, so that a busy spell of the disk falls on all of them.
      const values = ways.map((): number[] => []);
      for (let round = 0; round < repeats; round++) {
        for (const [k, { syncs, recordWrites }] of ways.entries()) values[k]?.push(await orderedCeilingRate({ dir, payloadBytes, appenders, caseMs, syncs, groupCpuMicros, recordWrites }));
      }
      for (const [k, { syncs, recordWrites }] of ways.entries()) {
        const written = { 'page-cache': '', 'zeros-ahead': ', zeros ahead into new pages', direct: ', records written with O_DIRECT' }[recordWrites];
        measured.push({ name: `ordered ceiling ${payloadBytes} B x ${appenders}${written}, fdatasync ${where[syncs]}${work}`, values: values[k] ?? [] });
      }
    }
  }
  return measured;
}

/** Whether files in `dir` can be written with O_DIRECT (tmpfs on older kernels refuses it); says so when not. */
function directWritesWork(dir: string): boolean {
  const probe = path.join(dir, 'direct-probe');
  try {
    DirectAppender.open(probe, { zeroBytes: 8192, chunkBytesMax: 1024 }).close();
    return true;
  } catch (error) {
    console.log(`no O_DIRECT cases (raw and ceiling): ${dir} does not take O_DIRECT writes (${error instanceof Error ? error.message : String(error)})`);
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

function ceilingRow(one: { readonly name: string; readonly values: readonly number[] }, raw: number): Row {
  const ratios = one.values.map((v) => v / raw);
  const value = median(one.values);
  return { name: one.name, value, unit: '/s', ratio: value / raw, ...(ratios.length > 1 ? { spread: [Math.min(...ratios), Math.max(...ratios)] as const } : {}) };
}

function caseRows(one: Case, raw: number): Row[] {
  const offs = one.results.get('off') ?? [];
  return modes.map((mode) => {
    const values = one.results.get(mode) ?? [];
    const value = median(values);
    const ratios = values.map((v) => v / raw);
    const spread = values.length > 1 ? ([Math.min(...ratios), Math.max(...ratios)] as const) : undefined;
    const paired = offs.length === values.length ? values.map((v, round) => v / (offs[round] ?? 0)).filter(Number.isFinite) : [];
    const overOff = mode !== 'off' && paired.length > 0 ? median(paired) : undefined;
    return {
      name: rowName(one.name, mode),
      value,
      unit: one.unit,
      ratio: value / raw,
      ...(spread === undefined ? {} : { spread }),
      ...(overOff === undefined ? {} : { overOff }),
    };
  });
}

async function main(): Promise<void> {
  if (flags.dir !== undefined) fs.mkdirSync(flags.dir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(flags.dir ?? os.tmpdir(), 'quorumlog-bench-'));
  process.once('SIGINT', () => {
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
  console.log(`storage bench in ${dir}, ${caseMs} ms per case, ${repeats} repeat(s), preallocate ${modes.join('+')}, ${mark} mark${flags.stagger ? ', staggered appenders' : ''}, node ${process.version}, ${os.cpus().length} cpus`);
  try {
    // The raw limit is measured before and after the other cases, into preallocated zeros,
    // into a growing file and (where the file system takes O_DIRECT) past the page cache as
    // the log's sync mode writes, and the highest figure is used, so neither a disk that was
    // busy for a moment nor the slower way of writing flatters our ratios.
    const direct = directWritesWork(dir);
    const rawDirect = (): number | null => (direct ? rawDirectRate(dir, 128, caseMs, RAW_ZEROS_BYTES).perSecond : null);
    const rawDirectBefore = rawDirect();
    const rawZerosBefore = rawSyncRate(dir, 128, caseMs, RAW_ZEROS_BYTES);
    const rawBefore = rawSyncRate(dir, 128, caseMs);
    const appendCases: Case[] = [];
    for (const payloadBytes of payloadSizes) {
      for (const appenders of concurrencies) {
        appendCases.push({
          name: appendCaseName(payloadBytes, appenders),
          unit: '/s',
          measure: (mode) => appendRate(dir, mode, appenders, payloadBytes),
          results: new Map(),
        });
      }
    }
    await runCases(appendCases);
    const ceilings = flags.ceiling === true ? await measureCeilings(dir, direct) : [];
    const rawAfter = rawSyncRate(dir, 128, caseMs);
    const rawZerosAfter = rawSyncRate(dir, 128, caseMs, RAW_ZEROS_BYTES);
    const rawDirectAfter = rawDirect();
    const rawRates = [rawZerosBefore, rawZerosAfter, rawBefore, rawAfter].map((one) => one.perSecond);
    const raw = Math.max(...rawRates, rawDirectBefore ?? 0, rawDirectAfter ?? 0);
    const rawRow = (name: string, value: number): Row => ({ name, value, unit: '/s', ratio: value / raw });
    const rawDirectRows = ([['before', rawDirectBefore], ['after', rawDirectAfter]] as const).flatMap(([when, value]) =>
      value === null ? [] : [rawRow(`raw 128 B past the page cache (O_DIRECT | O_DSYNC) over synced zeros (${when})`, value)],
    );
    const rows: Row[] = [
      ...rawDirectRows,
      rawRow('raw 128 B over synced zeros (before)', rawZerosBefore.perSecond),
      rawRow('raw 128 B over synced zeros (after)', rawZerosAfter.perSecond),
      rawRow('raw 128 B growing the file (before)', rawBefore.perSecond),
      rawRow('raw 128 B growing the file (after)', rawAfter.perSecond),
      ...appendCases.flatMap((one) => caseRows(one, raw)),
      ...ceilings.map((one) => ceilingRow(one, raw)),
    ];
    const rawMb = rawSyncRate(dir, BIG_BATCH_ENTRIES * BIG_ENTRY_BYTES, caseMs).bytesPerSecond / 1e6;
    rows.push({ name: 'raw write+fdatasync 1 MiB', value: rawMb, unit: 'MB/s', ratio: 1 });
    const batches: Case = { name: BATCHES_CASE_NAME, unit: 'MB/s', measure: async (mode) => (await batchThroughput(dir, mode)) / 1e6, results: new Map() };
    await runCases([batches]);
    rows.push(...caseRows(batches, rawMb));
    printTable(rows);
    console.log('x raw: median appends per second over the highest raw 128 B figure (one record per write + fdatasync, or per write past the page cache that is durable when it returns); MB/s over the raw 1 MiB figure.');
    for (const [name, events] of syncEvents) {
      const t = groupTimings(events);
      console.log(`group timings, ${name}: ${t.groups} groups; medians: data sync ${t.dataSyncMicros.toFixed(0)} us, then ${t.dataToMarkMicros.toFixed(0)} us to the mark sync, mark sync ${t.markSyncMicros.toFixed(0)} us, then ${t.markToDataMicros.toFixed(0)} us to the next data sync; ${t.overlapping} syncs overlapped the one before`);
    }
    if (flags.ceiling === true) console.log('ordered ceiling: per group of that many records, their write + fdatasync, then a 256 B mark slot\'s write + fdatasync, with none of the log\'s code: the most that many closed-loop appenders could do under the ordered mark.');
    console.log('spread: lowest..highest ratio over the repeats; / off: median over the repeats of the rate over that round\'s rate with preallocation off.');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
