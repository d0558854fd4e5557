/**
 * xoshiro128** seeded through splitmix32: the one seeded generator of the repository.
 *
 * Every choice the simulator makes (delays, drops, duplicates, which unsynced writes survive
 * a crash, election jitter handed to the cores) and every random choice of a jepsen-style
 * run (the fault schedule, its targets, damage offsets, pacing) is drawn from one of these,
 * all derived from one seed, so a seed replays the same schedule. Nothing here reads the
 * clock. It lives here because jepsen-style may not import tests; test/sim/prng.ts passes it
 * on to the simulator. The simulator's pinned schedules depend on every draw: change no
 * existing method's arithmetic.
 */
/** Also a RandomSource for the consensus core (nextInt), structurally: jepsen-style imports nothing of raft/. */
export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      // splitmix32: spreads a small seed over the 128-bit state so that seeds 1 and 2 differ everywhere.
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniformly chosen integer in [0, maxExclusive). Rejection sampling keeps it unbiased. */
  nextInt(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive <= 0 || maxExclusive > 0x1_0000_0000) {
      throw new Error(`prng: nextInt bound must be an integer in [1, 2^32], got ${maxExclusive}`);
    }
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % maxExclusive);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % maxExclusive;
    }
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.nextInt(max - min + 1);
  }

  /** True with probability `p` (0..1). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.nextUint32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.nextInt(items.length)];
    if (item === undefined) throw new Error('prng: pick from an empty list');
    return item;
  }

  /** A random subset of exactly `count` items (all when fewer), in the input's order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const shuffled = [...items];
    for (let k = shuffled.length - 1; k > 0; k--) {
      const j = this.nextInt(k + 1);
      [shuffled[k], shuffled[j]] = [shuffled[j] as T, shuffled[k] as T];
    }
    const chosen = new Set(shuffled.slice(0, count));
    return items.filter((item) => chosen.has(item));
  }

  /** An independent generator derived from this one, so adding draws in one place does not perturb another. */
  fork(): Prng {
    return new Prng(this.nextUint32());
  }

  /**
   * An independent generator for one purpose, named by `label`, that takes no draw from this
   * one: generators derived for different purposes from the same state do not depend on the
   * order they were asked for in.
   */
  derive(label: string): Prng {
    let h = 0x811c_9dc5;
    for (const word of [this.s0, this.s1, this.s2, this.s3]) h = Math.imul(h ^ word, 0x0100_0193) >>> 0;
    for (let k = 0; k < label.length; k++) h = Math.imul(h ^ label.charCodeAt(k), 0x0100_0193) >>> 0;
    return new Prng(h);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
