/**
 * A seeded pseudo-random generator (mulberry32 over a splitmix-derived state). Every random
 * choice of a run (the fault schedule, its targets, damage offsets, pacing jitter) comes from
 * one of these, forked by label from the run's seed, so a seed replays the same schedule.
 */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = mix32(seed >>> 0);
  }

  /** A uniform float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** A whole number in [0, maxExclusive). */
  int(maxExclusive: number): number {
    if (!(maxExclusive >= 1)) throw new Error(`Prng.int needs a positive bound, not ${maxExclusive}`);
    return Math.floor(this.next() * maxExclusive);
  }

  /** A whole number in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('Prng.pick from an empty list');
    return item;
  }

  /** A random subset of exactly `count` items, in the input's order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const shuffled = [...items];
    for (let k = shuffled.length - 1; k > 0; k--) {
      const j = this.int(k + 1);
      [shuffled[k], shuffled[j]] = [shuffled[j] as T, shuffled[k] as T];
    }
    const chosen = new Set(shuffled.slice(0, count));
    return items.filter((item) => chosen.has(item));
  }

  /** An independent generator for one purpose, so adding draws elsewhere does not shift it. */
  fork(label: string): Prng {
    let h = this.#state ^ 0x9e37_79b9;
    for (let k = 0; k < label.length; k++) h = Math.imul(h ^ label.charCodeAt(k), 0x0100_0193) >>> 0;
    return new Prng(h);
  }
}

function mix32(x: number): number {
  let z = (x + 0x9e37_79b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85eb_ca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2_ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
