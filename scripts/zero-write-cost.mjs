// CPU of writing 1 MiB of zeros to a file from a fresh buffer each time against from one kept
// buffer (what Segment.writeAtEnd does when it writes ahead). Usage: node scripts/zero-write-cost.mjs [DIR]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { scriptCommandLine, refuse } from '../dist/storage/bench/script-args.js';

const MiB = 1 << 20;
const WRITES = 400;
const ROUNDS = 7;
const NAME = 'zero-write-cost';
const { positionals } = scriptCommandLine(NAME, 'Usage: node scripts/zero-write-cost.mjs [DIR]\n\nCPU of writing 1 MiB of zeros from a fresh buffer against from one kept buffer, in DIR (the OS temp dir by default).', {});
if (positionals.length > 1) refuse(NAME, `takes one DIR at most, not ${positionals.length}`);
const dir = fs.mkdtempSync(path.join(positionals[0] ?? os.tmpdir(), 'zero-write-'));
const fd = fs.openSync(path.join(dir, 'zeros'), 'w+');
const kept = new Uint8Array(MiB);
const run = (fresh) => {
  fs.ftruncateSync(fd, 0);
  const start = process.cpuUsage();
  for (let k = 0; k < WRITES; k++) fs.writeSync(fd, fresh ? new Uint8Array(MiB) : kept, 0, MiB, k * MiB);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / WRITES;
};
run(true);
run(false);
const us = { fresh: [], kept: [] };
for (let k = 0; k < ROUNDS; k++) {
  us.fresh.push(run(true));
  us.kept.push(run(false));
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const show = (a) => `median ${median(a).toFixed(0)} us (${a.map((x) => x.toFixed(0)).join(' ')})`;
console.log(`CPU per 1 MiB zero write: fresh buffer ${show(us.fresh)}; kept buffer ${show(us.kept)}`);
fs.closeSync(fd);
fs.rmSync(dir, { recursive: true, force: true });
