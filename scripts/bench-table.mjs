// The performance targets' table (docs/bench.md, "Figures") from `quorumlog bench --json`
// files: a row per case, each run's figure, how many met the target, the worst node's
// event-loop max, the nodes' CPU per message and the run's own disk reference
// (src/bench/bench-table.ts); a `--floor-pairs` run's file gives one-in-flight's row against
// the floor in paired windows. Needs a build: `npm run bench:table -- FILE...` builds first.
//
//   node scripts/bench-table.mjs FILE.json [FILE.json ...]
import * as fs from 'node:fs';
import * as path from 'node:path';

import { benchTable } from '../dist/src/bench/index.js';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node scripts/bench-table.mjs FILE.json [FILE.json ...] (files `quorumlog bench --json` wrote, --floor-pairs runs too)\n');
  process.exit(2);
}
const runs = [];
for (const file of files) {
  let report;
  try {
    report = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    process.stderr.write(`bench-table: ${file}: ${error.message}\n`);
    process.exit(2);
  }
  const single = report?.version === 1 && typeof report.config === 'object' && typeof report.produce === 'object';
  const paired = report?.version === 1 && report.kind === 'floor-pairs' && Array.isArray(report.pairs) && typeof report.ratio === 'object';
  if (!single && !paired) {
    process.stderr.write(`bench-table: ${file}: not a file quorumlog bench --json wrote\n`);
    process.exit(2);
  }
  runs.push({ name: path.basename(file), report });
}
process.stdout.write(benchTable(runs));
