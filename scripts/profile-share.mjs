#!/usr/bin/env node
// What share of a process's busy CPU time went to code matching some patterns:
// `node scripts/profile-share.mjs --match prom-client,/src/observe/ n1.cpuprofile ...`
// (profiles from `node --cpu-prof`, e.g. `quorumlog bench --cpu-prof DIR`). Each sample goes
// to the innermost frame on its stack that is application code (a script URL that is not
// one of Node's own, "node:..."), so native functions and Node internals count for the code
// that called them: `process.cpuUsage()` called by prom-client counts for prom-client, and
// the fdatasync that a metering wrapper passes on to the real file system counts for the
// file system, not for the wrapper. Idle samples (the event loop waiting) are left out: the
// share is of the time the process was doing something. Prints, per profile, the share and
// the busy seconds, then the matched samples' top frames (self time), to check it by eye.
// `--window A-B` counts only the samples from A to B seconds after the profile's start (leave
// out start-up and shutdown: a bench's measured window).
import * as fs from 'node:fs';

import { refuse, scriptCommandLine } from '../dist/storage/bench/script-args.js';

const NAME = 'profile-share';
const USAGE = 'Usage: node scripts/profile-share.mjs --match PATTERN[,PATTERN...] [--top N] [--window FROM-TO] PROFILE...\n\nThe share of each profile\'s busy CPU time that went to code matching the patterns.';
const { values, positionals } = scriptCommandLine(NAME, USAGE, { match: { type: 'string' }, top: { type: 'string' }, window: { type: 'string' } });
if (values.match === undefined) refuse(NAME, '--match takes the patterns to count');
if (positionals.length === 0) refuse(NAME, 'give at least one PROFILE (a .cpuprofile from node --cpu-prof)');
const patterns = values.match.split(',').filter((p) => p !== '');
const topCount = Number(values.top ?? 12);
const [windowFromS, windowToS] = (values.window ?? '0-Infinity').split('-').map(Number);
if (!(windowFromS >= 0 && windowToS > windowFromS)) refuse(NAME, `--window must be FROM-TO in seconds, FROM < TO, not "${values.window}"`);

for (const file of positionals) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  // The innermost application frame of a node's stack (itself or a caller), memoised.
  const owner = new Map();
  const ownerOf = (id) => {
    if (owner.has(id)) return owner.get(id);
    const url = byId.get(id).callFrame.url ?? '';
    const parent = parentOf.get(id);
    const result = url !== '' && !url.startsWith('node:') ? url : parent === undefined ? '' : ownerOf(parent);
    owner.set(id, result);
    return result;
  };
  const isMatched = (id) => patterns.some((p) => ownerOf(id).includes(p));
  // Each sample's weight is the time to the next one (timeDeltas[k + 1]); the last gets the mean.
  const deltas = profile.timeDeltas;
  const meanUs = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
  let busyUs = 0;
  let matchedUs = 0;
  const selfUs = new Map();
  let atUs = 0;
  profile.samples.forEach((id, k) => {
    const node = byId.get(id);
    atUs += deltas[k] ?? 0;
    const us = deltas[k + 1] ?? meanUs;
    if (atUs < windowFromS * 1e6 || atUs > windowToS * 1e6) return;
    if (node.callFrame.functionName === '(idle)') return;
    busyUs += us;
    if (!isMatched(id)) return;
    matchedUs += us;
    const frame = `${node.callFrame.functionName || '(anonymous)'} ${(node.callFrame.url ?? '').split('/').slice(-2).join('/')}:${node.callFrame.lineNumber + 1}`;
    selfUs.set(frame, (selfUs.get(frame) ?? 0) + us);
  });
  const share = busyUs > 0 ? (100 * matchedUs) / busyUs : 0;
  process.stdout.write(`${file}: ${share.toFixed(2)}% of ${(busyUs / 1e6).toFixed(2)} s busy in ${patterns.join(', ')} (${(matchedUs / 1e6).toFixed(3)} s)\n`);
  const top = [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, topCount);
  for (const [frame, us] of top) process.stdout.write(`  ${((100 * us) / busyUs).toFixed(2).padStart(6)}%  ${frame}\n`);
}
