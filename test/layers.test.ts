/**
 * DESIGN.md's dependency direction, checked on the source: which folder may import which,
 * and no import cycle between files (type-only imports count: they still tie the files).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from './harness/build.js';

/** Each layer and the layers it may import (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  // The one set of error codes (STYLE.md habit 5), defined in storage/error-codes.ts (the lowest layer that raises errors) and passed on by errors/ to the layers above.
  errors: ['storage'],
  raft: [],
  storage: ['raft'],
  // Encoding both sides share (the broker's log entries, the producer's spool): below both.
  'src/encoding': ['errors'],
  // What a log line is (levels, the Log interface, the line format): below every layer that
  // writes or reads one, importing nothing.
  'src/log': [],
  'src/broker': ['errors', 'raft', 'src/encoding'],
  'src/transport': ['errors', 'raft', 'src/log'],
  'src/client': ['errors', 'raft', 'src/encoding', 'src/transport'],
  // Users and password hashes (scrypt, the users file): node builtins only, below the node and the CLI.
  'src/auth': [],
  'src/node': ['errors', 'raft', 'storage', 'src/encoding', 'src/log', 'src/broker', 'src/transport', 'src/auth'],
  // Metrics and health over HTTP: reads a running node through src/node's inspection and
  // probe, and measures storage's file-system seam. Outside src/node so it may read clocks.
  'src/observe': ['raft', 'storage', 'src/log', 'src/node'],
  // Running processes from outside (ports, child processes, waits): what the bench, the
  // CLI, the jepsen-style harness and the tests' harness share. Above the wire and the
  // client, below the bench and the CLI; nothing of a node's insides.
  'src/process': ['errors', 'raft', 'src/encoding', 'src/log', 'src/transport', 'src/client'],
  // Charts for reports (inline SVG), shared by the bench's page and the jepsen-style report.
  'src/report': [],
  'src/certs': ['src/transport'],
  'src/bench': ['errors', 'raft', 'storage', 'src/encoding', 'src/log', 'src/broker', 'src/transport', 'src/client', 'src/node', 'src/process', 'src/report', 'src/certs'],
  'src/cli': ['errors', 'raft', 'storage', 'src/encoding', 'src/log', 'src/broker', 'src/transport', 'src/client', 'src/node', 'src/observe', 'src/bench', 'src/process', 'src/report', 'src/certs', 'src/auth'],
  src: ['errors', 'src/client', 'src/transport'],
  'jepsen-style': ['errors', 'raft', 'src/client', 'src/transport', 'src/process', 'src/report'],
};

/** Imports that go around a folder's index.ts, each for a reason. */
const INDEX_EXEMPT: ReadonlySet<string> = new Set([
  // The error codes alone: through storage/index.ts, every user of errors/ (the client
  // library included) would load the whole commit log.
  'errors/index.ts -> storage/error-codes.ts',
]);

function layerOf(file: string): string | null {
  const rel = path.relative(REPO_ROOT, file).split(path.sep);
  if (rel[0] === 'src') return rel.length === 2 ? 'src' : `src/${rel[1]}`;
  return rel[0] !== undefined && rel[0] in ALLOWED ? rel[0] : null;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports of a file, resolved to .ts paths. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/^(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)) {
    const target = path.resolve(path.dirname(file), (match[1] ?? '').replace(/\.js$/, '.ts'));
    found.push(target);
  }
  return found;
}

const files = ['errors', 'raft', 'storage', 'src', 'jepsen-style'].flatMap((dir) => sourceFiles(path.join(REPO_ROOT, dir)));
const graph = new Map(files.map((file) => [file, importsOf(file)]));

describe('layers (DESIGN.md section 2)', () => {
  it('every import points down or sideways within its layer', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(file);
      if (from === null) continue;
      for (const target of targets) {
        const to = layerOf(target);
        if (to === null || to === from) continue;
        if (!(ALLOWED[from] ?? []).includes(to)) upward.push(`${path.relative(REPO_ROOT, file)} -> ${path.relative(REPO_ROOT, target)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('a layer is imported from another only through its index.ts', () => {
    const around: string[] = [];
    for (const [file, targets] of graph) {
      for (const target of targets) {
        if (layerOf(target) === layerOf(file) || path.basename(target) === 'index.ts') continue;
        const rel = `${path.relative(REPO_ROOT, file)} -> ${path.relative(REPO_ROOT, target)}`;
        if (!INDEX_EXEMPT.has(rel)) around.push(rel);
      }
    }
    expect(around).toEqual([]);
  });

  it('no two files import each other, directly or around a loop', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, 'open');
      stack.push(file);
      for (const target of graph.get(file) ?? []) {
        if (!graph.has(target)) continue;
        if (state.get(target) === 'open') cycles.push(stack.slice(stack.indexOf(target)).concat(target).map((f) => path.relative(REPO_ROOT, f)).join(' -> '));
        else if (state.get(target) === undefined) visit(target);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
    expect(cycles).toEqual([]);
  });
});

/**
 * Helpers that once existed in several copies (test/, jepsen-style/, src/bench/) and now
 * have one home each: a definition elsewhere is a copy coming back.
 */
const ONE_HOME: readonly { readonly what: string; readonly definition: RegExp; readonly home: readonly string[] }[] = [
  { what: 'a free-port finder', definition: /function (freePorts?|isFree|canBind|ephemeralPort)\b/, home: ['src/process/free-ports.ts'] },
  // test/sim's SimProcess is a simulated process on the virtual clock; it spawns nothing.
  { what: 'a class that spawns and stops node processes', definition: /class (?!Sim)\w*(Process|Nodes)\b|function forwardLines\b/, home: ['src/process/node-process.ts', 'src/process/local-nodes.ts', 'src/process/process-reaper.ts'] },
  { what: 'a poll-until-true wait', definition: /function (waitFor|waitUntil|pollUntil|until|eventually)\b/, home: ['src/process/wait.ts', 'test/harness/wait-for.ts'] },
  { what: 'a seeded PRNG', definition: /class Prng\b|0x6d2b79f5|xoshiro|mulberry/i, home: ['jepsen-style/prng.ts'] },
];

describe('one copy of each process, port, wait and random helper', () => {
  const everywhere = ['raft', 'storage', 'src', 'jepsen-style', 'test'].flatMap((dir) => sourceFiles(path.join(REPO_ROOT, dir)));
  for (const { what, definition, home } of ONE_HOME) {
    it(`${what} is defined only in ${home.join(', ')}`, () => {
      const elsewhere = everywhere
        .map((file) => path.relative(REPO_ROOT, file))
        .filter((rel) => !home.includes(rel) && rel !== 'test/layers.test.ts')
        .filter((rel) => definition.test(stripComments(fs.readFileSync(path.join(REPO_ROOT, rel), 'utf8'))));
      expect(elsewhere).toEqual([]);
    });
  }
});

/** Code only: a comment may name a helper ("xoshiro128** ...") without defining one. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

