// Writes docs/metrics.md from the metrics a node registers (src/observe/metrics-table.ts).
// Run through `npm run docs:metrics`, which builds first.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { metricsTable } from '../dist/src/observe/index.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'docs', 'metrics.md');
fs.writeFileSync(target, await metricsTable());
console.log(`wrote ${path.relative(root, target)}`);
