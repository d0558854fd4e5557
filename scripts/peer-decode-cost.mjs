// CPU of decoding peer batches as a node receives them: a 64-entry append (what a follower
// decodes per group at 64 in flight) and an append response (what a leader decodes per
// follower and group), per decode, from the process's CPU time (all threads, so the garbage
// collector's share counts). Point it at a build's dist/ to set two builds side by side:
//   node scripts/peer-decode-cost.mjs [DIST] [--size BYTES]
// (DIST defaults to this checkout's dist/; run `npm run build` first).
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { size: { type: 'string', default: '1024' } }, allowPositionals: true });
const dist = path.resolve(positionals[0] ?? new URL('../dist', import.meta.url).pathname);
const { PeerCodec } = await import(pathToFileURL(path.join(dist, 'src/transport/index.js')).href);
const codec = new PeerCodec();
const envelope = codec.encodeEnvelope({ clusterId: 'c1', from: 'n1', to: 'n2' });
const entries = Array.from({ length: 64 }, (_, k) => ({ index: 1_000_000 + k, term: 7, kind: 1, payload: Buffer.alloc(Number(values.size), 7) }));
const append = codec.encodeBatch(envelope, [codec.encodeMessage({ type: 'append', from: 'n1', to: 'n2', term: 7, prevIndex: 999_999, prevTerm: 7, commit: 999_990, entries })]);
const reply = codec.encodeBatch(envelope, [codec.encodeMessage({ type: 'appendResp', from: 'n2', to: 'n1', term: 7, success: true, index: 1_000_063, hintIndex: 0, hintTerm: 0 })]);
const cpuPerCall = (bytes, calls) => {
  const start = process.cpuUsage();
  for (let k = 0; k < calls; k++) codec.decodeBatch(bytes);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
};
cpuPerCall(append, 20_000); // warm-up: the decoders optimized before anything is counted
cpuPerCall(reply, 20_000);
console.log(`${dist}: 64 x ${values.size} B append batch ${cpuPerCall(append, 50_000).toFixed(2)} us CPU, append response ${cpuPerCall(reply, 500_000).toFixed(3)} us CPU`);
