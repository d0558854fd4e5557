/**
 * The jepsen command as a function, without side effects on import: `npm run jepsen` runs
 * it through cli.ts, and `quorumlog jepsen` can run it with one line in src/cli/main.ts.
 */
import { HELP, parseRunOptions } from './cli-options.js';
import { runJepsen, type RunOptions } from './run.js';

/** Runs the command; returns the exit status (0 valid, 1 invalid or broken, 2 bad arguments). */
export async function main(argv: readonly string[]): Promise<number> {
  let options: RunOptions | 'help';
  try {
    options = parseRunOptions(argv, (line) => process.stdout.write(`[jepsen] ${line}\n`));
  } catch (error) {
    process.stderr.write(`jepsen: ${(error as Error).message.split('\n').join(' ')}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const stop = (): void => {
    // The run's finally stops the nodes; the reaper kills them if we die first.
    process.stderr.write('jepsen: interrupted; stopping the cluster\n');
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await runJepsen(options);
    return result.valid ? 0 : 1;
  } catch (error) {
    process.stderr.write(`jepsen: run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}

