/** The simulator's generator is the repository's one seeded PRNG (xoshiro128**), kept where jepsen-style can import it too. */
export { Prng } from '../../jepsen-style/prng.js';
