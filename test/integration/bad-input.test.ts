import { Client, credentials, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { describeCli, ensureBuilt, runCli, TestCluster, testFailed } from '../harness/index.js';

const MAX_RECORD_BYTES = 1024;
const MAX_MESSAGE_BYTES = 64 * 1024;
const SERVICE = '/quorumlog.client.Client';

/** A unary call with raw bytes both ways, so a test can send what no well-behaved client would. */
function rawCall(address: string, method: string, body: Buffer, timeoutMs = 5_000): Promise<{ error: ServiceError | null; response: Buffer | null }> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `${SERVICE}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      { deadline: Date.now() + timeoutMs },
      (error, response) => {
        client.close();
        resolve({ error: error ?? null, response: response ?? null });
      },
    );
  });
}

/** Protobuf varint field (wire type 0). */
function varintField(field: number, value: number): number[] {
  const bytes = [(field << 3) | 0];
  let v = value;
  for (let k = 0; k < 10; k++) {
    if (v < 0x80) {
      bytes.push(v);
      break;
    }
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  return bytes;
}

function oneLine(text: string): boolean {
  return text.trim() !== '' && text.trim().split('\n').length === 1;
}

describe('bad input: clear errors, and the nodes keep serving (real processes)', () => {
  let cluster: TestCluster;
  let brokers: string;

  beforeAll(async () => {
    cluster = await TestCluster.start({
      label: 'bad-input',
      extraArgs: ['--max-record-bytes', String(MAX_RECORD_BYTES), '--max-message-bytes', String(MAX_MESSAGE_BYTES)],
    });
    brokers = cluster.brokers().join(',');
    await cluster.leader();
  });

  let failed = false;
  afterEach((context) => {
    if (testFailed(context.task)) failed = true;
  });
  afterAll(async () => {
    // Every node is stopped; when anything in this file failed, the data is kept and the output printed.
    await cluster?.stopAll({ keepData: failed });
    if (failed && cluster !== undefined) console.log(`[harness] data kept in ${cluster.dataRoot}\n${cluster.renderOutput()}`);
  });

  async function expectStillServing(): Promise<void> {
    expect(cluster.runningIds()).toEqual(cluster.ids);
    const result = await cluster.client().append([new TextEncoder().encode('still-serving')]);
    expect(result.lastIndex).toBeGreaterThanOrEqual(result.firstIndex);
  }

  describe('the quorumlog command', () => {
    it('an unknown command exits non-zero with one line', async () => {
      await ensureBuilt();
      const args = ['frobnicate', '--brokers', '127.0.0.1:1'];
      const result = await runCli(args);
      expect(result.code, describeCli(args, result)).not.toBe(0);
      expect(oneLine(result.stderr), describeCli(args, result)).toBe(true);
      expect(result.stderr).toMatch(/unknown command/);
    });

    it.each([
      [['status', '--bogus-flag']],
      [['status', '--brokers', 'not an address']],
      [['read', '--from', 'abc']],
      [['read', '--from', '0']],
      [['transfer']],
      [['node']],
      [['node', '--id', 'n9', '--members', 'n1=127.0.0.1:1/127.0.0.1:2']],
      [['node', '--id', 'n1', '--members', 'n1=127.0.0.1:1/127.0.0.1:1']],
      [['node', '--id', 'n1', '--members', 'garbage']],
      [['node', '--id', 'n1', '--flush', 'sometimes']],
      [['node', '--id', 'n1', '--durable-mark', 'later']],
      [['node', '--id', 'n1', '--flush', 'async', '--durable-mark', 'lagging']],
      [['cluster', '--durable-mark', 'never']],
      [['cluster', '--restart', 'sometimes']],
      [['cluster', '--restart-delay-ms', 'soon']],
      [['cluster', 'frobnicate']],
      [['cluster', 'kill']],
      [['cluster', 'pause', 'n1', 'n2']],
      [['cluster', 'kill', 'n1', '--data-dir', '/nonexistent/quorumlog-no-cluster']],
      [['verify-writes', '--writers', '0']],
      [['verify-writes', '--duration', 'forever']],
      [['verify-writes', '--prefix', 'a b']],
      [['bench', '--brokers', '127.0.0.1:1', '--durable-mark', 'lagging']],
      [['node', '--id', 'n1', '--tick-ms=-5']],
      [['node', '--id', 'n1', '--election-ticks', 'ten']],
    ])('bad arguments %j exit non-zero with one line on stderr', async (args: string[]) => {
      const result = await runCli(args, { timeoutMs: 15_000 });
      expect(result.code, describeCli(args, result)).not.toBe(0);
      expect(result.signal, describeCli(args, result)).toBeNull();
      expect(oneLine(result.stderr), describeCli(args, result)).toBe(true);
    });

    it('a node refuses a data directory that belongs to another node or cluster, with one line', async () => {
      const args = [
        'node', '--id', 'n2', '--cluster-id', 'it-cluster',
        '--members', cluster.members.map((m) => `${m.id}=${m.peerAddress}/${m.clientAddress}`).join(','),
        '--data-dir', cluster.dataDir('n1'),
      ];
      const result = await runCli(args, { timeoutMs: 15_000 });
      expect(result.code, describeCli(args, result)).not.toBe(0);
      expect(oneLine(result.stderr), describeCli(args, result)).toBe(true);
      expect(result.stderr).toMatch(/belongs to node n1/);
    });

    // FINDINGS.md F1: node's parseArgs explains a value that starts with a dash in three lines.
    it('F1: a flag value that starts with a dash is refused in one line', async () => {
      const args = ['node', '--id', 'n1', '--tick-ms', '-5'];
      const result = await runCli(args, { timeoutMs: 15_000 });
      expect(result.code, describeCli(args, result)).not.toBe(0);
      expect(oneLine(result.stderr), describeCli(args, result)).toBe(true);
    });

    it('status, append and read work end to end through the CLI', async () => {
      const append = await runCli(['append', '--brokers', brokers, '--json', 'cli-one', 'cli-two']);
      expect(append.code, describeCli(['append'], append)).toBe(0);
      const indexes = append.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { index: number }).index);
      expect(indexes).toHaveLength(2);
      // --max-bytes: this cluster's 64 KiB message limit is below the CLI's 1 MiB default (FINDINGS.md N1).
      const read = await runCli(['read', '--brokers', brokers, '--from', String(indexes[0]), '--max-bytes', '4096', '--json']);
      expect(read.code, describeCli(['read'], read)).toBe(0);
      const records = read.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { record: string }).record);
      expect(records.slice(0, 2)).toEqual(['cli-one', 'cli-two']);
      const status = await runCli(['status', '--brokers', brokers, '--json']);
      expect(status.code, describeCli(['status'], status)).toBe(0);
      const views = JSON.parse(status.stdout) as { flush: string; durableMark: string | null; flushIntervalMs: number | null }[];
      expect(views).toHaveLength(3);
      for (const view of views) expect(view).toMatchObject({ flush: 'sync', durableMark: 'ordered', flushIntervalMs: null });
      const table = await runCli(['status', '--brokers', brokers]);
      expect(table.code, describeCli(['status'], table)).toBe(0);
      const lines = table.stdout.split('\n');
      expect(lines[0]).toMatch(/\bflush\s+note$/);
      expect(lines.slice(1, 4).every((line) => /\ssync\s*$/.test(line)), table.stdout).toBe(true);
    });

    it('transfer moves leadership to the named node; to an unknown node it fails in one line', async () => {
      const leader = await cluster.leader();
      const target = cluster.ids.find((id) => id !== leader) ?? leader;
      const moved = await runCli(['transfer', '--brokers', brokers, '--to', target]);
      expect(moved.code, describeCli(['transfer', '--to', target], moved)).toBe(0);
      expect(await cluster.leader()).toBe(target);
      const unknown = await runCli(['transfer', '--brokers', brokers, '--to', 'n99']);
      expect(unknown.code, describeCli(['transfer', '--to', 'n99'], unknown)).not.toBe(0);
      expect(oneLine(unknown.stderr), describeCli(['transfer', '--to', 'n99'], unknown)).toBe(true);
      await expectStillServing();
    });

    it('appending from stdin takes one record per line', async () => {
      const result = await runCli(['append', '--brokers', brokers, '--json'], { input: 'stdin-a\nstdin-b\nstdin-c\n' });
      expect(result.code, describeCli(['append (stdin)'], result)).toBe(0);
      expect(result.stdout.trim().split('\n')).toHaveLength(3);
    });
  });

  describe('the client API', () => {
    it('a record over --max-record-bytes is refused with INVALID_ARGUMENT naming the limit; one at the limit is taken', async () => {
      const client = cluster.client();
      await expect(client.append([new Uint8Array(MAX_RECORD_BYTES + 1)])).rejects.toThrow(new RegExp(String(MAX_RECORD_BYTES)));
      const leader = cluster.clientAddress(await cluster.leader());
      const raw = await rawCall(leader, 'Append', Buffer.concat([Buffer.from([0x0a, 0x81, 0x08]), Buffer.alloc(MAX_RECORD_BYTES + 1)]));
      expect(raw.error?.code, raw.error?.details).toBe(grpcStatus.INVALID_ARGUMENT);
      const ok = await client.append([new Uint8Array(MAX_RECORD_BYTES)]);
      expect(ok.lastIndex).toBe(ok.firstIndex);
      await expectStillServing();
    });

    it('a request over --max-message-bytes is refused with RESOURCE_EXHAUSTED and nothing is written', async () => {
      const leader = cluster.clientAddress(await cluster.leader());
      const before = await cluster.status(await cluster.leader());
      const big = Buffer.alloc(MAX_MESSAGE_BYTES + 1024, 0x41);
      const raw = await rawCall(leader, 'Append', big);
      expect(raw.error?.code, raw.error?.details).toBe(grpcStatus.RESOURCE_EXHAUSTED);
      const after = await cluster.status(await cluster.leader());
      expect(after.lastIndex).toBe(before.lastIndex);
      await expectStillServing();
    });

    const GARBAGE = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);

    it('bytes that are not a protobuf message are refused with an error status, and the node keeps serving', async () => {
      const leader = cluster.clientAddress(await cluster.leader());
      for (const method of ['Append', 'Read', 'Transfer']) {
        const raw = await rawCall(leader, method, GARBAGE);
        expect(raw.error, method).not.toBeNull();
        expect(raw.error?.details ?? '', method).not.toBe('');
      }
      await expectStillServing();
    });

    // FINDINGS.md F2 (fixed in aef9a1a): DESIGN.md section 7 says bad input is INVALID_ARGUMENT.
    it('bytes that are not a protobuf message get INVALID_ARGUMENT', async () => {
      const leader = cluster.clientAddress(await cluster.leader());
      const codes: Record<string, number | undefined> = {};
      for (const method of ['Append', 'Read', 'Transfer']) codes[method] = (await rawCall(leader, method, GARBAGE)).error?.code;
      expect(codes).toEqual({ Append: grpcStatus.INVALID_ARGUMENT, Read: grpcStatus.INVALID_ARGUMENT, Transfer: grpcStatus.INVALID_ARGUMENT });
    });

    it('well-formed but invalid requests get INVALID_ARGUMENT or NOT_FOUND with a message', async () => {
      const leaderId = await cluster.leader();
      const address = cluster.clientAddress(cluster.ids.find((id) => id !== leaderId) ?? leaderId);
      const cases: [string, Buffer, number][] = [
        ['Append', Buffer.alloc(0), grpcStatus.INVALID_ARGUMENT], // no records
        ['Read', Buffer.from([...varintField(1, 0), ...varintField(2, 100)]), grpcStatus.INVALID_ARGUMENT], // from 0
        ['Read', Buffer.from([...varintField(1, 1), ...varintField(2, 0)]), grpcStatus.INVALID_ARGUMENT], // max_bytes 0
        ['Transfer', Buffer.from([0x0a, 0x03, 0x6e, 0x39, 0x39]), grpcStatus.NOT_FOUND], // to "n99"
      ];
      for (const [method, body, code] of cases) {
        const target = method === 'Transfer' || method === 'Append' ? cluster.clientAddress(await cluster.leader()) : address;
        const raw = await rawCall(target, method, body);
        expect(raw.error?.code, `${method} ${body.toString('hex')}: ${raw.error?.details}`).toBe(code);
        expect(raw.error?.details ?? '').not.toBe('');
      }
      await expectStillServing();
    });

    it('an unknown method gets UNIMPLEMENTED', async () => {
      const raw = await rawCall(cluster.clientAddress('n1'), 'Frobnicate', Buffer.alloc(0));
      expect(raw.error?.code).toBe(grpcStatus.UNIMPLEMENTED);
      await expectStillServing();
    });

    it('a connection that sends garbage instead of HTTP/2 does not hurt the node', async () => {
      const net = await import('node:net');
      const [host, port] = cluster.clientAddress('n1').split(':');
      await new Promise<void>((resolve) => {
        const socket = net.connect({ host: host ?? '127.0.0.1', port: Number(port) }, () => {
          socket.end(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02garbage'));
        });
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.setTimeout(1_000, () => socket.destroy());
      });
      await expectStillServing();
    });
  });
});
