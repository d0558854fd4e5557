import * as path from 'node:path';

import { PLANTED_NODE_BUGS, type PlantedBug, type PlantedEdit } from './planted-node-bugs.js';

/**
 * The transform that plants the bugs of planted-node-bugs.ts into the modules vitest loads
 * (never into dist/, which tsc builds). Each edit's snippet becomes a switch on
 * `globalThis.__quorumlogPlantedBug`, so with the global unset every module behaves as
 * written, at the cost of one comparison where a snippet was.
 */

/** The global a hunt sets to the name of the one bug to switch on. */
export const PLANTED_BUG_GLOBAL = '__quorumlogPlantedBug';

/** The condition that switches `name` on, as TypeScript source (transformed before types are stripped). */
function switchedOn(name: string): string {
  return `(globalThis as { ${PLANTED_BUG_GLOBAL}?: string }).${PLANTED_BUG_GLOBAL} === ${JSON.stringify(name)}`;
}

function rewrite(name: string, edit: PlantedEdit): string {
  const on = switchedOn(name);
  switch (edit.form) {
    case 'statement':
      return `if (${on}) { ${edit.mutant} } else { ${edit.original} }`;
    case 'expression':
      return `(${on} ? (${edit.mutant}) : (${edit.original}))`;
    case 'property': {
      const colon = edit.original.indexOf(':');
      if (colon < 0) throw new Error(`planted bug ${name}: a property edit needs "key: value", not ${edit.original}`);
      return `${edit.original.slice(0, colon)}: (${on} ? (${edit.mutant}) : (${edit.original.slice(colon + 1).trim()}))`;
    }
  }
}

/** Where an edit's snippet sits in a file's source: exactly once, or the reason it cannot be planted. */
export function locateEdit(source: string, edit: PlantedEdit): { readonly at: number } | { readonly problem: string } {
  const at = source.indexOf(edit.original);
  if (at < 0) return { problem: `not found in ${edit.file}: ${edit.original}` };
  if (source.indexOf(edit.original, at + 1) >= 0) return { problem: `found more than once in ${edit.file}: ${edit.original}` };
  return { at };
}

export interface PlantResult {
  readonly code: string;
  /** Names of the bugs planted into this file. */
  readonly planted: readonly string[];
  /** Edits that could not be planted (their snippet is missing, repeated or overlaps another's). */
  readonly problems: readonly string[];
}

/**
 * Plants every bug with an edit in `file` (relative to the repository root) into `source`.
 * Edits are located in the original source, then applied from the end backwards, so one
 * bug's mutant text can never be taken for another edit's snippet. The rewrite adds no line
 * breaks: line numbers in stack traces stay those of the file.
 */
export function plantBugs(file: string, source: string, bugs: readonly PlantedBug[] = PLANTED_NODE_BUGS): PlantResult {
  const located: { at: number; end: number; text: string; name: string }[] = [];
  const problems: string[] = [];
  for (const bug of bugs) {
    for (const edit of bug.edits) {
      if (edit.file !== file) continue;
      const where = locateEdit(source, edit);
      if ('problem' in where) problems.push(`${bug.name}: ${where.problem}`);
      else located.push({ at: where.at, end: where.at + edit.original.length, text: rewrite(bug.name, edit), name: bug.name });
    }
  }
  located.sort((a, b) => a.at - b.at);
  const kept = located.filter((edit, k) => {
    const previous = located[k - 1];
    if (previous === undefined || previous.end <= edit.at) return true;
    problems.push(`${edit.name}: its snippet in ${file} overlaps ${previous.name}'s`);
    return false;
  });
  let code = source;
  for (const edit of [...kept].reverse()) code = code.slice(0, edit.at) + edit.text + code.slice(edit.end);
  return { code, planted: [...new Set(kept.map((edit) => edit.name))], problems };
}

/** The files that carry plants, relative to the repository root. */
export function plantedFiles(bugs: readonly PlantedBug[] = PLANTED_NODE_BUGS): ReadonlySet<string> {
  return new Set(bugs.flatMap((bug) => bug.edits.map((edit) => edit.file)));
}

/** The part of a vite plugin this needs (vitest.config.ts takes it as a plugin). */
export interface SourceTransformPlugin {
  readonly name: string;
  readonly enforce: 'pre';
  transform(code: string, id: string): { code: string; map: null } | null;
}

/**
 * A vite plugin (vitest.config.ts) that plants the bugs into their files as vitest loads
 * them. It runs before TypeScript is stripped, so snippets are matched against the source as
 * written. A snippet that cannot be planted is left alone here; the guard test names it.
 */
export function plantedBugsPlugin(root: string): SourceTransformPlugin {
  const byPath = new Map([...plantedFiles()].map((file) => [path.resolve(root, file), file]));
  return {
    name: 'quorumlog-planted-bugs',
    enforce: 'pre',
    transform(code, id) {
      const file = byPath.get(id.split('?', 1)[0] ?? id);
      if (file === undefined) return null;
      return { code: plantBugs(file, code).code, map: null };
    },
  };
}
