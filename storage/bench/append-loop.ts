import type { Entry, Index, Term } from '../../raft/index.js';

/** What the loops append to: a CommitLog, of this build or of another one being compared. */
export interface AppendTarget {
  lastIndex(): number;
  append(entries: readonly Entry[]): Promise<void>;
}

/**
 * `appenders` closed loops, each appending one entry of `payloadBytes` and awaiting it, for
 * `caseMs`. With `stagger`, every other loop starts 1 ms late and each yields after every
 * 7th append, so the loops do not march in lockstep (the arrivals under which group commits
 * overlap). Appends per second.
 */
export async function closedLoopAppendRate(log: AppendTarget, options: { readonly appenders: number; readonly payloadBytes: number; readonly caseMs: number; readonly stagger: boolean }): Promise<number> {
  const payload = new Uint8Array(options.payloadBytes).fill(1);
  let done = 0;
  const started = performance.now();
  const deadline = started + options.caseMs;
  const loop = async (_: unknown, k: number): Promise<void> => {
    if (options.stagger && k % 2 === 1) await new Promise((resolve) => setTimeout(resolve, 1));
    // Bounded by the deadline.
    while (performance.now() < deadline) {
      const entry: Entry = { index: (log.lastIndex() + 1) as Index, term: 1 as Term, kind: 1, payload };
      await log.append([entry]);
      done++;
      if (options.stagger && done % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: options.appenders }, loop));
  return done / ((performance.now() - started) / 1000);
}
