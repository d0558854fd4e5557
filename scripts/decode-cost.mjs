// CPU of decoding what a node receives on its hot paths, per decode, from the process's CPU
// time (all threads, so the garbage collector's share counts): a 64-entry peer append batch
// (what a follower decodes per group at 64 in flight), an append response (what a leader
// decodes per follower and group), and a 64-record AppendStreamRequest (what a leader decodes
// per client batch), the last both by hand and through protobufjs with its wire-type walk;
// then a 64-delivery ConsumeResponse (what a consumer decodes per batch the leader pushes)
// and a 64-offset AckStreamRequest (what the leader decodes per ack request of a consumer),
// each as the build reads it and through protobufjs with its wire-type walk; and a
// ProduceStreamResponse (what a producer decodes per batch), as the build reads it and
// through protobufjs. The ack cases need a build with the AckStream (its absence prints n/a).
// Point it at a build's dist/ to set two builds side by side:
//   node scripts/decode-cost.mjs [DIST] [--size BYTES]
// (DIST defaults to this checkout's dist/; run `npm run build` first).
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import { refuse, scriptCommandLine } from '../dist/storage/bench/script-args.js';

const NAME = 'decode-cost';
const USAGE = 'Usage: node scripts/decode-cost.mjs [DIST] [--size BYTES]\n\nCPU of decoding what a node receives on its hot paths (DIST: a build\'s dist/, this checkout\'s by default).';
const { values, positionals } = scriptCommandLine(NAME, USAGE, { size: { type: 'string', default: '1024' } });
if (positionals.length > 1) refuse(NAME, `takes one DIST at most, not ${positionals.length}`);
if (!(Number.isSafeInteger(Number(values.size)) && Number(values.size) > 0)) refuse(NAME, `--size takes a whole number of bytes above 0, not "${values.size}"`);
const dist = path.resolve(positionals[0] ?? new URL('../dist', import.meta.url).pathname);
const { ClientCodec, PeerCodec, typeCodec } = await import(pathToFileURL(path.join(dist, 'src/transport/index.js')).href);
const { parseSchema, readSchema, schemaType } = await import(pathToFileURL(path.join(dist, 'src/transport/protobuf-runtime.js')).href);
const codec = new PeerCodec();
const envelope = codec.encodeEnvelope({ clusterId: 'c1', from: 'n1', to: 'n2' });
const entries = Array.from({ length: 64 }, (_, k) => ({ index: 1_000_000 + k, term: 7, kind: 1, payload: Buffer.alloc(Number(values.size), 7) }));
const append = codec.encodeBatch(envelope, [codec.encodeMessage({ type: 'append', from: 'n1', to: 'n2', term: 7, prevIndex: 999_999, prevTerm: 7, commit: 999_990, entries })]);
const reply = codec.encodeBatch(envelope, [codec.encodeMessage({ type: 'appendResp', from: 'n2', to: 'n1', term: 7, success: true, index: 1_000_063, hintIndex: 0, hintTerm: 0 })]);
const clientCodec = new ClientCodec();
const request = clientCodec.appendStreamRequest.serialize({ id: 12_345, timeoutMs: 10_000, append: { records: entries.map((e) => e.payload), acks: 0 } });
const protobufjsRequest = typeCodec(schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.AppendStreamRequest'));
const deliveries = entries.map((e, k) => ({ offset: 5_000_000 + k, delivery: 1, deadlineMs: 1_796_000_000_000, message: { key: new Uint8Array(0), headers: [], payload: e.payload, timestampMs: 1_796_000_000_000 } }));
const consumeResponse = clientCodec.groups.consumeResponse.serialize({ deliveries });
const protobufjsConsume = typeCodec(schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.ConsumeResponse'));
const ackRequest = clientCodec.ackStreamRequest?.serialize({ id: 12_345, ack: { group: 'bench-e2e-1796000000000', offsets: deliveries.map((d) => d.offset) }, timeoutMs: 10_000 });
const protobufjsAck = ackRequest === undefined ? undefined : typeCodec(schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.AckStreamRequest'));
const produceResponse = clientCodec.produceStreamResponse.serialize({ id: 12_345, ok: { firstOffset: 5_000_000, count: 64, duplicate: false, logIndex: 1_000_000, deliverAtMs: 0 }, error: null });
const protobufjsProduceResponse = typeCodec(schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.ProduceStreamResponse'));
const cases = {
  'peer append batch': () => codec.decodeBatch(append),
  'append response': () => codec.decodeBatch(reply),
  'append request': () => clientCodec.appendStreamRequest.deserialize(request),
  'append request, protobufjs': () => protobufjsRequest.deserialize(request),
  'consume response': () => clientCodec.groups.consumeResponse.deserialize(consumeResponse),
  'consume response, protobufjs': () => protobufjsConsume.deserialize(consumeResponse),
  ...(ackRequest === undefined
    ? {}
    : { 'ack request': () => clientCodec.ackStreamRequest.deserialize(ackRequest), 'ack request, protobufjs': () => protobufjsAck.deserialize(ackRequest) }),
  'produce response': () => clientCodec.produceStreamResponse.deserialize(produceResponse),
  'produce response, protobufjs': () => protobufjsProduceResponse.deserialize(produceResponse),
};
const cpuPerCall = (decode, calls) => {
  const start = process.cpuUsage();
  for (let k = 0; k < calls; k++) decode();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
};
for (const decode of Object.values(cases)) cpuPerCall(decode, 20_000); // warm-up: the decoders optimized before anything is counted
const figures = Object.entries(cases).map(([name, decode]) => `${name} ${cpuPerCall(decode, name === 'append response' || name.startsWith('produce response') ? 500_000 : 50_000).toFixed(2)} us`);
console.log(`${dist}, ${values.size} B records, CPU a decode: ${figures.join(', ')}`);
