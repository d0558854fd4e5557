// The floor under `quorumlog bench --size 1024 --inflight 1`: what one acks=all round costs
// on this machine with nothing of quorumlog in it. A client process sends 1 KiB on a gRPC
// bidirectional stream to a "leader" process, which forwards it on streams to two
// "follower" processes and writes it itself; each of the three writes it to a file and
// fdatasyncs (and, with --fsyncs 2, then writes and fdatasyncs a small mark file, as the
// durable mark does), and the leader answers once two of the three are done. No Raft, no
// framing, no checksums: only the hops and the syncs any implementation must pay.
//
//   node scripts/latency-floor.mjs [--fsyncs 1|2] [--seconds 4]
//
// Loopback only; every process it starts exits with it; its files live in a temp directory
// that is removed at the end.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, promisify } from 'node:util';

import * as grpc from '@grpc/grpc-js';

const fdatasync = promisify(fs.fdatasync);
const METHOD = {
  relay: { path: '/floor.Floor/Relay', requestStream: true, responseStream: true, requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b },
};
const RECORD_BYTES = 1024;
const DONE = Buffer.from([1]);

/** Write + fdatasync of each record, then (fsyncs 2) of a 256-byte mark in another file. */
function durableWriter(dir, name, fsyncs) {
  const data = fs.openSync(path.join(dir, `${name}.data`), 'w+');
  const mark = fs.openSync(path.join(dir, `${name}.mark`), 'w+');
  const fileBytes = 16 << 20;
  fs.writeSync(data, Buffer.alloc(fileBytes));
  fs.writeSync(mark, Buffer.alloc(8192));
  fs.fsyncSync(data);
  fs.fsyncSync(mark);
  const markBytes = Buffer.alloc(256, 2);
  let at = 0;
  let slot = 0;
  return async (record) => {
    fs.writeSync(data, record, 0, record.length, at);
    at = (at + record.length) % (fileBytes - record.length);
    await fdatasync(data);
    if (fsyncs === 2) {
      fs.writeSync(mark, markBytes, 0, markBytes.length, slot * 4096);
      slot ^= 1;
      await fdatasync(mark);
    }
  };
}

function serve(onRecord) {
  const server = new grpc.Server();
  server.addService(METHOD, { relay: (call) => call.on('data', (record) => onRecord(record, () => call.write(DONE))) });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))));
}

function dial(port) {
  const Client = grpc.makeGenericClientConstructor(METHOD);
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()).relay();
}

async function follower({ dir, name, fsyncs }) {
  const persist = durableWriter(dir, name, fsyncs);
  process.send(await serve((record, answer) => void persist(record).then(answer)));
}

async function leader({ dir, fsyncs, followerPorts }) {
  const persist = durableWriter(dir, 'leader', fsyncs);
  const links = followerPorts.map(dial);
  let round = null;
  const count = () => {
    if (round !== null && ++round.done === 2) {
      const answer = round.answer;
      round = null;
      answer();
    }
  };
  for (const link of links) link.on('data', count);
  process.send(
    await serve((record, answer) => {
      round = { done: 0, answer };
      for (const link of links) link.write(record);
      void persist(record).then(count);
    }),
  );
}

function start(role, options) {
  const child = fork(new URL(import.meta.url), [role, JSON.stringify(options)]);
  const port = new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code} before listening`)));
  });
  return { child, port };
}

async function main() {
  const { values } = parseArgs({ options: { fsyncs: { type: 'string', default: '2' }, seconds: { type: 'string', default: '4' } } });
  const fsyncs = Number(values.fsyncs);
  if (fsyncs !== 1 && fsyncs !== 2) throw new Error(`--fsyncs takes 1 or 2, not ${values.fsyncs}`);
  const seconds = Math.min(60, Math.max(1, Number(values.seconds)));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-floor-'));
  const children = [];
  try {
    const followers = ['f1', 'f2'].map((name) => start('follower', { dir, name, fsyncs }));
    children.push(...followers.map((f) => f.child));
    const followerPorts = await Promise.all(followers.map((f) => f.port));
    const lead = start('leader', { dir, fsyncs, followerPorts });
    children.push(lead.child);
    const stream = dial(await lead.port);
    let answered = () => undefined;
    stream.on('data', () => answered());
    const record = Buffer.alloc(RECORD_BYTES, 7);
    const oneRound = () => new Promise((resolve) => ((answered = resolve), stream.write(record)));
    for (let k = 0; k < 300; k++) await oneRound(); // warm-up
    const latencies = [];
    const endAt = performance.now() + seconds * 1000;
    // Bounded by the deadline.
    while (performance.now() < endAt) {
      const began = performance.now();
      await oneRound();
      latencies.push(performance.now() - began);
    }
    latencies.sort((a, b) => a - b);
    const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))].toFixed(3);
    console.log(`${fsyncs} fsync(s) per node: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms over ${latencies.length} rounds`);
    stream.end();
  } finally {
    for (const child of children) child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const [role, options] = process.argv.slice(2);
if (role === 'follower') await follower(JSON.parse(options));
else if (role === 'leader') await leader(JSON.parse(options));
else {
  await main();
  process.exit(0);
}
