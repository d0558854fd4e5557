/**
 * What `work` fails with; a test that expects a refusal fails here if it succeeds instead
 * (or fails with something that is not an Error).
 */
export async function rejectionOf(work: Promise<unknown>): Promise<Error> {
  const outcome = await work.then(
    () => ({ resolved: true as const }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  if (outcome.resolved) throw new Error('expected the call to fail; it succeeded');
  if (!(outcome.error instanceof Error)) throw new Error(`expected the call to fail with an Error, not ${String(outcome.error)}`);
  return outcome.error;
}
