/** One checker's verdict: counts of what it looked at and found, and the first violations as examples. */
export interface CheckerResult {
  readonly name: string;
  readonly valid: boolean;
  /** What was checked and what was found, e.g. { acknowledged: 5000, lost: 0 }. */
  readonly counts: Readonly<Record<string, number>>;
  /** The first violations (at most EXAMPLES_MAX), each a small JSON object. */
  readonly examples: readonly unknown[];
  readonly note?: string;
}

export const EXAMPLES_MAX = 10;

/** Collects the first few examples of a violation and counts all of them. */
export class Violations {
  readonly examples: unknown[] = [];
  count = 0;

  add(example: unknown): void {
    this.count++;
    if (this.examples.length < EXAMPLES_MAX) this.examples.push(example);
  }
}

/** The verdict for a checker that had nothing to look at: a check of nothing proves nothing. */
export function nothingToCheck(name: string, what: string): CheckerResult {
  return { name, valid: false, counts: {}, examples: [], note: `nothing to check: ${what}` };
}
