// RabbitMQ's quorum queue under the workload `quorumlog bench --api broker` puts on our broker,
// with the durability we promise: a quorum queue (`x-queue-type: quorum`, a confirm comes once
// a majority of its replicas has the message in its fsynced log), persistent messages,
// publisher confirms. One publisher on one connection keeps --inflight messages unconfirmed
// (each confirm publishes the next: a closed loop, like our --inflight); confirm latency is
// publish() to its confirm for messages published in the measured window, msg/s the confirms
// within it (--duration after --warmup), as our bench counts. Each case gets a fresh queue,
// deleted at its end; nothing consumes.
//
//   scripts/rabbitmq-local.sh start               # a 3-node cluster on 127.0.0.1:5681-5683
//   node scripts/rabbitmq-bench.mjs --out rabbit.json --server-pids "$(scripts/rabbitmq-local.sh pids)"
//   ./dist/src/cli/main.js bench --api broker --size 1024 --inflight 1 --duration 8s --warmup 3s \
//       --no-drain --no-e2e --compare rabbit.json
//   scripts/rabbitmq-local.sh stop
//
// Options: --url (default amqp://guest:guest@127.0.0.1:5681), --cases (default
// 1024x1,1024x64,128x64: SIZE x INFLIGHT), --duration (8s), --warmup (3s), --replicas (3: the
// queue's x-quorum-initial-group-size; RabbitMQ uses fewer when the cluster has fewer nodes,
// so give the cluster's size, 1 for a single node), --server-pids (the RabbitMQ nodes' PIDs,
// comma-separated: their CPU per message in the window goes to stderr), --out FILE (the
// `quorumlog bench --compare` JSON; stdout without it). A summary per case goes to stderr.
//
// Needs the `amqplib` package (the Node AMQP 0-9-1 client).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';

import amqp from 'amqplib';

const CLOCK_TICKS_PER_SECOND = 100;

function parseDurationMs(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (match === null) throw new Error(`not a duration: ${text} (like 8s or 500ms)`);
  return Number(match[1]) * (match[2] === 'ms' ? 1 : 1000);
}

function parseCases(text) {
  return text.split(',').map((spec) => {
    const match = /^(\d+)x(\d+)$/.exec(spec.trim());
    if (match === null) throw new Error(`not a case: ${spec} (SIZExINFLIGHT, like 1024x64)`);
    return { sizeBytes: Number(match[1]), inflight: Number(match[2]) };
  });
}

function readOptions() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5681' },
      cases: { type: 'string', default: '1024x1,1024x64,128x64' },
      duration: { type: 'string', default: '8s' },
      warmup: { type: 'string', default: '3s' },
      replicas: { type: 'string', default: '3' },
      'server-pids': { type: 'string', default: '' },
      out: { type: 'string' },
    },
  });
  return {
    url: values.url,
    cases: parseCases(values.cases),
    durationMs: parseDurationMs(values.duration),
    warmupMs: parseDurationMs(values.warmup),
    replicas: Number(values.replicas),
    serverPids: values['server-pids'].split(',').filter((pid) => pid.trim() !== '').map(Number),
    out: values.out,
  };
}

/** Nearest-rank percentile of ascending samples (the rule our bench uses). */
function percentile(sortedMs, fraction) {
  if (sortedMs.length === 0) return null;
  const rank = Math.max(1, Math.ceil(fraction * sortedMs.length));
  return sortedMs[rank - 1];
}

/** User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15). */
function processCpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

function serversCpuSeconds(pids) {
  return pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
}

function clientCpuSeconds() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

const nowMs = () => performance.now();

/**
 * The closed loop on one confirm channel: `inflight` publishes outstanding, each confirm sends
 * the next until the window has ended. Resolves with the window's latencies and confirm count.
 */
function runLoop({ channel, queue, payload, inflight, warmupMs, durationMs, onWindow }) {
  const startMs = nowMs();
  const windowStartMs = startMs + warmupMs;
  const windowEndMs = windowStartMs + durationMs;
  const latenciesMs = [];
  let confirmedInWindow = 0;
  let windowOpened = false;
  let finished = false;
  return new Promise((resolve, reject) => {
    const publishOne = () => {
      const sentMs = nowMs();
      channel.publish('', queue, payload, { persistent: true }, (error) => {
        if (error !== null && error !== undefined) {
          reject(new Error(`message nacked by RabbitMQ: ${error.message ?? error}`));
          return;
        }
        const confirmedMs = nowMs();
        if (!windowOpened && confirmedMs >= windowStartMs) {
          windowOpened = true;
          onWindow('start');
        }
        if (confirmedMs >= windowStartMs && confirmedMs < windowEndMs) confirmedInWindow += 1;
        if (sentMs >= windowStartMs && sentMs < windowEndMs) latenciesMs.push(confirmedMs - sentMs);
        if (confirmedMs < windowEndMs) {
          publishOne();
          return;
        }
        if (finished) return;
        finished = true;
        if (windowOpened) onWindow('end');
        resolve({ latenciesMs, confirmedInWindow });
      });
    };
    for (let k = 0; k < inflight; k += 1) publishOne();
  });
}

/** CPU seconds of the client and the servers between the window's start and end marks. */
function cpuMeter(serverPids) {
  let atStart = null;
  let spent = null;
  const read = () => ({ client: clientCpuSeconds(), servers: serversCpuSeconds(serverPids) });
  return {
    mark(edge) {
      if (edge === 'start') atStart = read();
      else if (atStart !== null) {
        const atEnd = read();
        spent = { client: atEnd.client - atStart.client, servers: atEnd.servers - atStart.servers };
      }
    },
    spent: () => spent,
  };
}

async function runCase(connection, options, { sizeBytes, inflight }) {
  const channel = await connection.createConfirmChannel();
  const queue = `quorumlog-bench-${sizeBytes}x${inflight}-${process.pid}-${Date.now()}`;
  await channel.assertQueue(queue, {
    durable: true,
    arguments: { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': options.replicas },
  });
  const meter = cpuMeter(options.serverPids);
  try {
    const { latenciesMs, confirmedInWindow } = await runLoop({
      channel, queue, payload: Buffer.alloc(sizeBytes, 0x61), inflight,
      warmupMs: options.warmupMs, durationMs: options.durationMs, onWindow: (edge) => meter.mark(edge),
    });
    await channel.waitForConfirms();
    latenciesMs.sort((a, b) => a - b);
    return {
      sizeBytes, inflight,
      messagesPerSecond: confirmedInWindow / (options.durationMs / 1000),
      p50Ms: percentile(latenciesMs, 0.5),
      p99Ms: percentile(latenciesMs, 0.99),
      samples: latenciesMs.length,
      cpu: meter.spent(),
      confirmedInWindow,
    };
  } finally {
    await channel.deleteQueue(queue);
    await channel.close();
  }
}

function round(value, digits) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function describe(result, options) {
  const perMessageUs = (seconds) => round((seconds * 1e6) / result.confirmedInWindow, 0);
  const cpu = result.cpu === null ? '' :
    `, CPU per message: client ${perMessageUs(result.cpu.client)} us` +
    (options.serverPids.length > 0 ? `, servers ${perMessageUs(result.cpu.servers)} us` : '');
  return `${result.sizeBytes} B x ${result.inflight}: ${round(result.messagesPerSecond, 0)} msg/s, ` +
    `p50 ${round(result.p50Ms, 3)} ms, p99 ${round(result.p99Ms, 3)} ms (${result.samples} samples)${cpu}`;
}

function toCompared(result, { version, options, loadBefore }) {
  const windowText = `${options.durationMs / 1000}s after ${options.warmupMs / 1000}s warm-up`;
  return {
    system: `RabbitMQ ${version} quorum queue`,
    messagesPerSecond: round(result.messagesPerSecond, 0),
    p50Ms: round(result.p50Ms, 3),
    p99Ms: round(result.p99Ms, 3),
    sizeBytes: result.sizeBytes,
    inflight: result.inflight,
    source: `scripts/rabbitmq-bench.mjs: ${options.replicas}-replica quorum queue, this host, persistent, ` +
      `publisher confirms, ${windowText}, load ${loadBefore}`,
  };
}

async function main() {
  const options = readOptions();
  const loadBefore = os.loadavg()[0].toFixed(2);
  const connection = await amqp.connect(options.url);
  const version = String(connection.connection.serverProperties.version);
  const results = [];
  try {
    for (const workload of options.cases) {
      const result = await runCase(connection, options, workload);
      process.stderr.write(`${describe(result, options)}\n`);
      results.push(toCompared(result, { version, options, loadBefore }));
    }
  } finally {
    await connection.close();
  }
  const text = `${JSON.stringify({ results }, null, 2)}\n`;
  if (options.out === undefined) process.stdout.write(text);
  else fs.writeFileSync(options.out, text);
}

main().catch((error) => {
  process.stderr.write(`rabbitmq-bench: ${error.message}\n`);
  process.exitCode = 1;
});
