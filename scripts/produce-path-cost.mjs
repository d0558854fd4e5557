// CPU of the broker produce path's per-batch encoding steps, each against the way it was
// done before (reconstructed here from the same modules), for a batch of 64 messages of
// 1024 and of 128 bytes: the client framing a ProduceStreamRequest and the leader reading it
// (protobufjs, after its wire-type walk, against the hand framing and reading), and the
// leader turning the produce command into its entry payload (encode, decode again as a
// check, copy behind the tag, against one encode with the tag).
// Usage: npm run build && node scripts/produce-path-cost.mjs
import { decodeCommand, encodeCommand } from '../dist/src/broker/index.js';
import { brokerEntryPayload, PayloadTag } from '../dist/src/node/state-machine.js';
import { ClientCodec, typeCodec } from '../dist/src/transport/index.js';
import { parseSchema, readSchema, schemaType } from '../dist/src/transport/protobuf-runtime.js';

const MESSAGES = 64;
const ROUNDS = 7;
const BATCHES = 2_000;

const codec = new ClientCodec();
const streamRequest = schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.ProduceStreamRequest');
const protobufjsCodec = typeCodec(streamRequest);

const steps = {
  'client: frame the request': {
    before: (batch) => streamRequest.encode(batch.request).finish(),
    after: (batch) => codec.produceStreamRequest.serialize(batch.request),
  },
  'leader: read the request': {
    before: (batch) => protobufjsCodec.deserialize(batch.bytes),
    after: (batch) => codec.produceStreamRequest.deserialize(batch.bytes),
  },
  'leader: the entry payload': {
    before: (batch) => {
      const encoded = encodeCommand(batch.envelope);
      decodeCommand(encoded);
      const payload = new Uint8Array(encoded.length + 1);
      payload[0] = PayloadTag.broker;
      payload.set(encoded, 1);
      return payload;
    },
    after: (batch) => brokerEntryPayload(batch.envelope),
  },
};

function batchOf(sizeBytes) {
  const messages = Array.from({ length: MESSAGES }, (_, k) => ({ key: new Uint8Array(0), headers: [], payload: Buffer.alloc(sizeBytes, k), timestampMs: 1_700_000_000_000 + k }));
  const produce = { topic: 'bench-topic', producerId: 12345, firstSequence: 640_000, messages, acks: 0 };
  const request = { id: 77, produce, timeoutMs: 10_000 };
  return {
    request,
    bytes: codec.produceStreamRequest.serialize(request),
    envelope: { leaderTimeMs: 1_700_000_000_000, command: { kind: 'produce', topic: produce.topic, producerId: produce.producerId, firstSequence: produce.firstSequence, messages } },
  };
}

/** CPU microseconds per batch of one run of `step`. */
function run(step, batch) {
  const start = process.cpuUsage();
  for (let k = 0; k < BATCHES; k++) step(batch);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / BATCHES;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const sizeBytes of [1024, 128]) {
  const batch = batchOf(sizeBytes);
  for (const [name, { before, after }] of Object.entries(steps)) {
    run(before, batch);
    run(after, batch);
    const us = { before: [], after: [] };
    for (let k = 0; k < ROUNDS; k++) {
      us.before.push(run(before, batch));
      us.after.push(run(after, batch));
    }
    const b = median(us.before);
    const a = median(us.after);
    console.log(`${sizeBytes} B x ${MESSAGES}, ${name}: before ${b.toFixed(1)} us, after ${a.toFixed(1)} us a batch (${((b - a) / MESSAGES).toFixed(2)} us saved a message; medians of ${ROUNDS} rounds)`);
  }
}
