/**
 * Assertions for programmer errors: a broken invariant or a caller that breaks the
 * contract (appending out of order). They throw and are not meant to be caught; operating
 * conditions (a checksum mismatch, a full queue) are typed errors from errors.ts instead.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** `message` may be a function so hot paths do not build strings that are never used. */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === 'string' ? message : message());
}
