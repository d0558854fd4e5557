import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it, onTestFinished } from 'vitest';

import { describeCli, ensureBuilt, REPO_ROOT, runCommand, startClusterForTest, testFailed, type CliResult } from '../harness/index.js';

const FIXTURE_APP = path.join(REPO_ROOT, 'test', 'package', 'fixtures', 'app');
const TSC = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const COMMAND_TIMEOUT_MS = 30_000;

/** What `npm pack --json` says of one tarball (the fields we read). */
interface PackReport {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

interface PackedManifest {
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly bin?: Readonly<Record<string, string>>;
}

function describeRun(what: string, result: CliResult): string {
  return `${what} -> code ${result.code} signal ${result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** `npm pack` of the worktree (already built: no prepack build here) into `destination`. */
async function pack(destination: string): Promise<{ readonly tarball: string; readonly files: readonly string[] }> {
  const result = await runCommand('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', destination], { timeoutMs: COMMAND_TIMEOUT_MS });
  expect(result.code, describeRun('npm pack', result)).toBe(0);
  const [report] = JSON.parse(result.stdout) as PackReport[];
  if (report === undefined) throw new Error(`npm pack reported no tarball: ${result.stdout}`);
  return { tarball: path.join(destination, report.filename), files: report.files.map((f) => f.path) };
}

/**
 * Lays out `app/node_modules` as `npm install <tarball>` would: the tarball's contents in
 * node_modules/quorumlog, its bin linked into node_modules/.bin, and each of its declared
 * dependencies. Those are links to this repository's installed copies: the machine is offline
 * and npm's cache lacks their registry documents, so a real `npm install --offline` of the
 * tarball stops with ENOTCACHED. Linking only what the packed package.json declares still
 * catches a run-time dependency it forgot to declare.
 */
async function install(tarball: string, app: string): Promise<void> {
  const modules = path.join(app, 'node_modules');
  const packageDir = path.join(modules, 'quorumlog');
  fs.mkdirSync(packageDir, { recursive: true });
  const untar = await runCommand('tar', ['-xzf', tarball, '-C', packageDir, '--strip-components=1'], { timeoutMs: COMMAND_TIMEOUT_MS });
  expect(untar.code, describeRun('tar', untar)).toBe(0);
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as PackedManifest;
  // @types/node is the application's own: any Node.js project in TypeScript has it.
  for (const name of [...Object.keys(manifest.dependencies ?? {}), '@types/node']) {
    fs.mkdirSync(path.dirname(path.join(modules, name)), { recursive: true });
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', name), path.join(modules, name), 'dir');
  }
  fs.mkdirSync(path.join(modules, '.bin'));
  for (const [name, target] of Object.entries(manifest.bin ?? {})) {
    fs.symlinkSync(path.join('..', 'quorumlog', target), path.join(modules, '.bin', name));
  }
}

describe('the packed package', () => {
  it('ships only what runs, installs, type-checks strictly in a project that imports it by name, and runs against a cluster', async () => {
    await ensureBuilt();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-package-'));
    onTestFinished((context) => {
      if (testFailed(context.task)) console.log(`[package] test failed; the temporary project is kept in ${work}`);
      else fs.rmSync(work, { recursive: true, force: true });
    });

    const { tarball, files } = await pack(work);
    console.log(`[package] npm pack: ${files.length} files, ${fs.statSync(tarball).size} bytes`);
    const unexpected = files.filter((f) => !/^(README\.md|package\.json|dist\/(src|errors|raft|storage)\/.+\.(js|d\.ts|proto)|dist\/src\/observe\/page\/status-page\.(html|css))$/.test(f));
    expect(unexpected, 'only the compiled library, its declarations, the .proto schemas, the status page, README and package.json').toEqual([]);
    expect(files.filter((f) => /^dist\/(test|jepsen-style|storage\/bench)\//.test(f))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/src/transport/client.proto', 'dist/src/transport/peer.proto', 'dist/src/observe/page/status-page.html']));

    const app = path.join(work, 'app');
    fs.cpSync(FIXTURE_APP, app, { recursive: true });
    await install(tarball, app);
    const compiled = await runCommand(process.execPath, [TSC, '-p', app], { cwd: app, timeoutMs: COMMAND_TIMEOUT_MS });
    expect(compiled.code, describeRun('tsc -p app (strict, NodeNext) against the installed package', compiled)).toBe(0);

    const cluster = await startClusterForTest({ label: 'package' });
    await cluster.leader();
    const brokers = cluster.brokers();
    const ran = await runCommand(process.execPath, [path.join(app, 'out', 'main.js'), ...brokers], { cwd: app, timeoutMs: COMMAND_TIMEOUT_MS });
    expect(ran.code, describeRun('the application', ran)).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual({
      sent: { status: 'acknowledged', offset: 0 },
      committed: { outcome: 'committed', firstOffset: 1, count: 1 },
      consumed: ['0:hello from the package', '1:in a transaction'],
      read: ['appended:a log record'],
      refusal: 'invalidArgument',
    });

    // The installed command, run by its shebang line as npx would: node must be on PATH.
    const bin = path.join(app, 'node_modules', '.bin', 'quorumlog');
    const env = { PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH'] ?? ''}` };
    const fetchArgs = ['fetch', '--topic', 'package-orders', '--from', '0', '--brokers', brokers.join(',')];
    const fetched = await runCommand(bin, fetchArgs, { cwd: app, env, timeoutMs: COMMAND_TIMEOUT_MS });
    expect(fetched.code, describeCli(fetchArgs, fetched)).toBe(0);
    expect(fetched.stdout).toBe('0\thello from the package\n1\tin a transaction\n');
    // The fault suite is not shipped; its command says so rather than asking for a build.
    const jepsen = await runCommand(bin, ['jepsen', '--time', '1'], { cwd: app, env, timeoutMs: COMMAND_TIMEOUT_MS });
    expect(jepsen.code, describeCli(['jepsen'], jepsen)).toBe(2);
    expect(jepsen.stderr).toMatch(/not part of the npm package/);
  });
});
