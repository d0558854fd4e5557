/**
 * `npm run sim`: one seeded simulation of production nodes, or a search over random seeds.
 *
 *   npm run sim -- --seed 42 --nodes 5 --steps 30   one run; prints each node's final-state digest
 *   npm run sim -- --minutes 10 --nodes 3           random seeds for ten minutes
 *
 * The same --seed, --nodes and --steps give the same digests bit for bit, run after run. A
 * failing run is shrunk by fast-check to a smaller schedule that still fails, and printed
 * with the seed and the JSON that replays it (runNodeSchedule(config, schedule)).
 * Exit status: 0 when every run kept every property, 1 when one did not, 2 for bad usage.
 */
import { parseArgs } from 'node:util';

import fc from 'fast-check';

import { fixedScheduleArbitrary, runNodeSchedule, scheduleOfSeed, type NodeRunResult, type NodeSimConfig } from './node-schedule.js';
import { describeSchedule } from './schedule.js';

const USAGE = 'usage: npm run sim -- [--seed S] [--nodes N] [--steps K] [--minutes M]';
const NODES_MAX = 7;
const STEPS_MAX = 10_000;
const MINUTES_MAX = 24 * 60;
/** Shrinking a failure stops after this long and reports the smallest schedule found. */
const SHRINK_TIME_MS = 120_000;

interface SimArgs {
  readonly seed: number | null;
  readonly nodes: number;
  readonly steps: number;
  readonly minutes: number | null;
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function wholeNumber(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}, not "${raw}"`);
  return value;
}

function parse(argv: readonly string[]): SimArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { seed: { type: 'string' }, nodes: { type: 'string' }, steps: { type: 'string' }, minutes: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  const minutes = values.minutes === undefined ? null : wholeNumber('minutes', values.minutes, 0, 1, MINUTES_MAX);
  const seed = values.seed === undefined ? null : wholeNumber('seed', values.seed, 0, 0, 0x7fff_ffff);
  if (minutes !== null && seed !== null) throw new UsageError('--seed replays one run; --minutes searches random seeds: give one of them');
  return { seed, minutes, nodes: wholeNumber('nodes', values.nodes, 3, 1, NODES_MAX), steps: wholeNumber('steps', values.steps, 20, 1, STEPS_MAX) };
}

interface Totals {
  runs: number;
  steps: number;
  messages: number;
  appends: number;
  acked: number;
}

/**
 * Runs the schedule `seed` names; when it fails, fast-check shrinks it (starting from that
 * schedule) and the smallest failing schedule found is reported.
 */
async function runSeed(config: NodeSimConfig, args: SimArgs, seed: number, totals: Totals): Promise<{ readonly result: NodeRunResult; readonly failure: string | null }> {
  const schedule = scheduleOfSeed(seed, args.nodes, args.steps);
  const result = await runNodeSchedule(config, schedule);
  totals.runs++;
  totals.steps += result.steps;
  totals.messages += result.messages;
  totals.appends += result.appends;
  totals.acked += result.acked;
  if (result.failure === null) return { result, failure: null };
  const shrunk = await fc.check(
    fc.asyncProperty(fixedScheduleArbitrary(args.nodes, args.steps), async (candidate) => {
      const run = await runNodeSchedule(config, candidate);
      if (run.failure !== null) {
        throw new Error(`${run.failure.message}\nschedule:\n${describeSchedule(candidate)}\nreplay: runNodeSchedule({ size: ${args.nodes} }, ${JSON.stringify(candidate)})\nlast events:\n${run.failure.trace}`);
      }
    }),
    { seed, numRuns: 1, examples: [[schedule]], interruptAfterTimeLimit: SHRINK_TIME_MS },
  );
  const error = shrunk.errorInstance;
  return { result, failure: error instanceof Error ? error.message : `${result.failure.message} (did not fail again while shrinking: nondeterminism?)` };
}

async function main(argv: readonly string[]): Promise<number> {
  let args: SimArgs;
  try {
    args = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`sim: ${error.message}\n${USAGE}\n`);
    return 2;
  }
  const config: NodeSimConfig = { size: args.nodes };
  const totals: Totals = { runs: 0, steps: 0, messages: 0, appends: 0, acked: 0 };
  const started = performance.now();
  const rate = (count: number): string => `${Math.round(count / ((performance.now() - started) / 1000))}/s`;
  if (args.minutes === null) {
    const seed = args.seed ?? 1;
    const { result: first, failure } = await runSeed(config, args, seed, totals);
    process.stdout.write(`seed ${seed}, ${args.nodes} nodes, ${args.steps} fault steps: ${first.steps} simulator steps, ${first.simulatedMs} simulated ms, ${first.appends} client appends (${first.acked} acknowledged), ${first.messages} Raft messages (${rate(first.messages)} wall)\n`);
    if (failure !== null) {
      process.stdout.write(`FAILED (seed ${seed}); shrunk:\n${failure}\n`);
      return 1;
    }
    for (const [node, digest] of first.nodeDigests) process.stdout.write(`${node} ${digest}\n`);
    process.stdout.write(`digest ${first.digest}\n`);
    return 0;
  }
  const deadline = started + args.minutes * 60_000;
  // Bounded by the deadline; each seed is one run.
  while (performance.now() < deadline) {
    const seed = Math.floor(Math.random() * 0x7fff_ffff);
    const { failure } = await runSeed(config, args, seed, totals);
    if (failure !== null) {
      process.stdout.write(`FAILED (seed ${seed}, replay: npm run sim -- --seed ${seed} --nodes ${args.nodes} --steps ${args.steps}); shrunk:\n${failure}\n`);
      return 1;
    }
    if (totals.runs % 50 === 0) process.stdout.write(`${totals.runs} seeds, ${totals.appends} client appends (${rate(totals.appends)}), ${rate(totals.messages)} Raft messages\n`);
  }
  process.stdout.write(
    `${totals.runs} seeds in ${args.minutes} min, all passed: ${totals.steps} simulator steps, ${totals.appends} client appends (${totals.acked} acknowledged, ${rate(totals.appends)} wall), ${totals.messages} Raft messages (${rate(totals.messages)} wall)\n`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`sim: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
