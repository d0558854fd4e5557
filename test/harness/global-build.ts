import { BUILT_ENV, buildNow } from './build.js';

/**
 * vitest's global setup: builds dist/ once, before any test worker starts, and tells the
 * workers (through the environment they inherit) not to build again, so test files can run
 * side by side without one's build rewriting files another's node processes are loading.
 */
export default async function setup(): Promise<void> {
  await buildNow();
  process.env[BUILT_ENV] = '1';
}
