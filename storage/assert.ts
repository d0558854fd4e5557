/**
 * Assertions for programmer errors: a broken invariant or a caller that breaks the
 * contract (appending out of order). They throw and are not meant to be caught; operating
 * conditions (a checksum mismatch, a full queue) are typed errors from errors.ts instead.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
