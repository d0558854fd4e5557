import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node's parseArgs reads `--from -5` as an option missing its value followed by an option
 * `-5`, and answers "argument is ambiguous" in words about dashes, not numbers. A value that
 * looks like a negative number is joined to its option first (`--from=-5`), so the option's
 * own check refuses it the way it refuses any other bad value ("--from must be a whole
 * number from 1, not "-5""). Only options that take a value are joined; `--` ends options.
 */
export function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const joined: string[] = [];
  // Bounded by argv: each step takes one or two arguments.
  for (let at = 0; at < argv.length; at++) {
    const arg = argv[at] ?? '';
    if (arg === '--') return [...joined, ...argv.slice(at)];
    const next = argv[at + 1];
    const takesValue = arg.startsWith('--') && !arg.includes('=') && options[arg.slice(2)]?.type === 'string';
    if (takesValue && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      at++;
      continue;
    }
    joined.push(arg);
  }
  return joined;
}

/** What parseCommandLine returns: parseArgs's result for these options (named, so declarations can be emitted). */
export type ParsedCommandLine<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: boolean }>>;

/** parseArgs, strict, after joinNegativeValues. */
export function parseCommandLine<T extends Options>(argv: readonly string[], options: T, accept: { readonly allowPositionals: boolean }): ParsedCommandLine<T> {
  return parseArgs({ args: joinNegativeValues(argv, options), options, strict: true, allowPositionals: accept.allowPositionals });
}
