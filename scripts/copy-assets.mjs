// Copies the non-TypeScript files the compiled code reads at run time (the gRPC .proto
// schemas; the status page's HTML, CSS and browser script) next to their compiled modules in
// dist/, and marks the `quorumlog` command executable (tsc writes it 0644; its shebang line
// runs it, as `npx quorumlog` does). tsc emits only .js; run after it.
import { chmodSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const [folder, suffixes] of [['src/transport', ['.proto']], ['src/observe/page', ['.html', '.css', '.js']]]) {
  mkdirSync(join(root, 'dist', folder), { recursive: true });
  for (const name of readdirSync(join(root, folder)).filter((n) => suffixes.some((s) => n.endsWith(s)))) {
    copyFileSync(join(root, folder, name), join(root, 'dist', folder, name));
  }
}
chmodSync(join(root, 'dist', 'src', 'cli', 'main.js'), 0o755);
