/**
 * A broken invariant is a programmer error: the core stops loudly rather than carry on
 * with state it can no longer reason about. Operating conditions (not leader, too many
 * proposals) are results, never assertions.
 */
export class RaftInvariantError extends Error {
  override readonly name = 'RaftInvariantError';
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftInvariantError(message);
}
