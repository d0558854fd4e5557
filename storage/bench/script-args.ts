import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
type Values<Options extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: Options; args: string[] }>>['values'];

/**
 * A benchmark script's command line, parsed the way the quorumlog CLI treats its own: --help
 * prints `usage` and exits 0; an unknown option, a missing value or a value the script then
 * refuses is one line on stderr, `NAME: what is wrong`, and exit status 2, not a stack trace.
 * It takes options only (a word that is not one is refused).
 */
export function scriptArgs<const Options extends ParseArgsOptionsConfig>(name: string, usage: string, options: Options, argv: readonly string[] = process.argv.slice(2)): Values<Options> {
  const { values, positionals } = scriptCommandLine(name, usage, options, argv);
  if (positionals.length > 0) refuse(name, `unexpected argument "${positionals[0]}"`);
  return values;
}

/** As scriptArgs, for a script that also takes arguments that are not options (files, a dist/ to load). */
export function scriptCommandLine<const Options extends ParseArgsOptionsConfig>(
  name: string,
  usage: string,
  options: Options,
  argv: readonly string[] = process.argv.slice(2),
): { readonly values: Values<Options>; readonly positionals: readonly string[] } {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage.endsWith('\n') ? usage : `${usage}\n`);
    process.exit(0);
  }
  try {
    const { values, positionals } = parseArgs({ options, args: [...argv], allowPositionals: true });
    return { values, positionals };
  } catch (error) {
    // Node adds to an unknown option how to pass a word starting with '-' as an argument: no script here takes one.
    return refuse(name, (error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

/** One line on stderr, `NAME: message; run it with --help for its options`, then exit status 2. */
export function refuse(name: string, message: string): never {
  process.stderr.write(`${name}: ${message.split('\n')[0] ?? message}; run it with --help for its options\n`);
  process.exit(2);
}
