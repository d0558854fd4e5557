import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { DeliveryTimeoutError, InvalidArgumentError, Producer, Spool, SpoolError, SpoolFullError, type ProducerOptions, type SendResult } from '../../src/client/index.js';
import type { ClientServer } from '../../src/transport/index.js';
import { waitFor } from '../harness/index.js';
import { InProcessBroker, serve as serveOn } from '../broker/in-process-broker.js';

const servers: ClientServer[] = [];
const producers: Producer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.allSettled(producers.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const serve = (broker: InProcessBroker): Promise<string> => serveOn(broker, servers);

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-spool-'));
  dirs.push(dir);
  return dir;
}

function producer(address: string, options: Partial<ProducerOptions> = {}): Producer {
  const p = new Producer({ brokers: [address], lingerMs: 0, batchMessagesMax: 4, retryBackoff: { initialMs: 1, maxMs: 20 }, requestTimeoutMs: 1_000, ...options });
  producers.push(p);
  return p;
}

const texts = (n: number, prefix = 'm'): string[] => [...Array(n).keys()].map((k) => `${prefix}-${k}`);
const message = (payload: string) => ({ key: new Uint8Array(0), headers: [{ name: 'h', value: new Uint8Array([1, 2]) }], payload: new TextEncoder().encode(payload), timestampMs: 1234 });
const spoolFile = (dir: string): string => path.join(dir, 'spool.log');

describe('Spool (the file)', () => {
  it('keeps batches and their latest identity across reopen; acknowledged ones leave; empty when nothing is live', async () => {
    const dir = tempDir();
    const spool = Spool.open({ dir });
    const [a, b, c] = spool.append([
      { topic: 't', producerId: 0, firstSequence: -1, messages: [message('a0'), message('a1')] },
      { topic: 't', producerId: 7, firstSequence: 2, messages: [message('b0')] },
      { topic: 'u', producerId: 7, firstSequence: 0, messages: [message('c0')] },
    ]);
    spool.setIdentity(a!.spoolId, 7, 0);
    spool.remove(c!.spoolId);
    spool.close();
    const again = Spool.open({ dir });
    const live = again.live();
    expect(live.map((r) => [r.spoolId, r.topic, r.producerId, r.firstSequence])).toEqual([
      [a!.spoolId, 't', 7, 0],
      [b!.spoolId, 't', 7, 2],
    ]);
    expect(live[0]!.messages.map((m) => new TextDecoder().decode(m.payload))).toEqual(['a0', 'a1']);
    expect(live[0]!.messages[0]!.headers[0]!.value).toEqual(new Uint8Array([1, 2]));
    // New ids never reuse old ones.
    const [d] = again.append([{ topic: 't', producerId: 0, firstSequence: -1, messages: [message('d')] }]);
    expect(d!.spoolId).toBeGreaterThan(c!.spoolId);
    for (const r of again.live()) again.remove(r.spoolId);
    await new Promise((resolve) => setImmediate(resolve));
    expect(fs.statSync(spoolFile(dir)).size).toBe(0);
    again.close();
  });

  it('cuts a torn tail (part of a record, or zeros) on open; refuses damage with records after it', () => {
    const dir = tempDir();
    const spool = Spool.open({ dir });
    spool.append([{ topic: 't', producerId: 0, firstSequence: -1, messages: [message('x')] }]);
    spool.append([{ topic: 't', producerId: 0, firstSequence: -1, messages: [message('y')] }]);
    spool.close();
    const size = fs.statSync(spoolFile(dir)).size;
    fs.truncateSync(spoolFile(dir), size - 3);
    const cut = Spool.open({ dir });
    expect(cut.tornBytesCut).toBeGreaterThan(0);
    expect(cut.live()).toHaveLength(1);
    cut.close();
    fs.appendFileSync(spoolFile(dir), Buffer.alloc(64));
    const zeros = Spool.open({ dir });
    expect(zeros.tornBytesCut).toBe(64);
    zeros.append([{ topic: 't', producerId: 0, firstSequence: -1, messages: [message('z')] }]);
    zeros.close();
    // A flipped byte in the first record, with a good one after it: not a torn tail.
    const data = fs.readFileSync(spoolFile(dir));
    data[12] = data[12]! ^ 0xff;
    fs.writeFileSync(spoolFile(dir), data);
    expect(() => Spool.open({ dir })).toThrow(SpoolError);
    expect(() => Spool.open({ dir })).toThrow(/damaged at byte 0/);
  });

  it('is bounded: a batch that does not fit is left out; one process at a time', () => {
    const dir = tempDir();
    const spool = Spool.open({ dir, bytesMax: 1024 });
    const big = { topic: 't', producerId: 0, firstSequence: -1, messages: [message('x'.repeat(250))] };
    expect(spool.append([big, big, big, big])).toHaveLength(3);
    expect(spool.append([big])).toHaveLength(0);
    expect(() => Spool.open({ dir })).toThrow(/already open in this process/);
    // Room comes back by compaction once some leave.
    spool.remove(spool.live()[0]!.spoolId);
    expect(spool.append([big])).toHaveLength(1);
    spool.close();
    expect(Spool.open({ dir }).live()).toHaveLength(3);
  });
});

describe('Producer with a spool (in process, real broker state machine)', () => {
  it('cluster down: sends resolve spooled after afterMs; when it is back they arrive once each, in order, and leave the spool', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    broker.down = true;
    const dir = tempDir();
    const p = producer(address, { spool: { dir, afterMs: 50 } });
    const started = Date.now();
    const results = await Promise.all(texts(20).map((payload) => p.send('t', { payload })));
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(results.every((r) => r.status === 'spooled')).toBe(true);
    expect(p.stats().spooledMessages).toBe(20);
    expect(fs.statSync(spoolFile(dir)).size).toBeGreaterThan(0);
    await p.flush(); // spooled counts as answered
    broker.down = false;
    await waitFor(() => p.stats().spoolPendingMessages === 0, { timeoutMs: 10_000, what: 'the spool drained' });
    expect(broker.written.get('t')).toEqual(texts(20));
    await waitFor(() => fs.statSync(spoolFile(dir)).size === 0, { timeoutMs: 2_000, what: 'the spool file emptied' });
    const next = await p.send('t', { payload: 'after' });
    expect(next).toEqual({ status: 'acknowledged', offset: 20 });
  });

  it('a restarted producer resends what its spool holds under the recorded ids: written-but-unanswered batches are answered as duplicates, nothing twice', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    await broker.createTopic('u', 1000);
    // Every produce is written but its answer lost, from the start: then nothing answers at all.
    broker.fault = () => 'dropAfterWrite';
    const dir = tempDir();
    const first = producer(address, { spool: { dir, afterMs: 40 } });
    const results = await Promise.all([...texts(12).map((payload) => first.send('t', { payload })), ...texts(6, 'u').map((payload) => first.send('u', { payload }))]);
    expect(results.every((r: SendResult) => r.status === 'spooled')).toBe(true);
    // Spooled after 40 ms without an answer; on a busy machine the broker may write (and drop
    // the answers of) the first batches only after that.
    await waitFor(() => (broker.written.get('t')?.length ?? 0) > 0, { timeoutMs: 10_000, what: 'the broker wrote a batch of t' });
    broker.down = true;
    await first.close();
    const writtenBefore = broker.written.get('t')?.length ?? 0;
    expect(writtenBefore).toBeGreaterThan(0);
    broker.down = false;
    broker.fault = () => 'none';
    const second = producer(address, { spool: { dir, afterMs: 40 } });
    await waitFor(() => second.stats().spoolPendingMessages === 0 && (broker.written.get('t')?.length ?? 0) === 12, { timeoutMs: 10_000, what: 'the restarted producer drained the spool' });
    expect(broker.written.get('t')).toEqual(texts(12));
    expect(broker.written.get('u')).toEqual(texts(6, 'u'));
    expect(second.stats().duplicateAnswers).toBeGreaterThan(0);
    expect(second.stats().spoolResentUnderNewIdMessages).toBe(0);
    // New messages go under a new id, after the spooled ones.
    expect(await second.send('t', { payload: 'new' })).toEqual({ status: 'acknowledged', offset: 12 });
    expect(second.producerId).not.toBe(first.producerId);
  });

  it('a spooled batch whose id expired is resent under a new id, and the log says dedupe across ids is not guaranteed', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    broker.fault = () => 'dropAfterWrite';
    const dir = tempDir();
    const first = producer(address, { spool: { dir, afterMs: 40 }, batchMessagesMax: 100, lingerMs: 5 });
    await Promise.all(texts(4).map((payload) => first.send('t', { payload })));
    // The sends resolve spooled after 40 ms without an answer; on a busy machine the broker
    // may write them (and drop the answers) only after that.
    await waitFor(() => (broker.written.get('t')?.length ?? 0) >= 4, { timeoutMs: 10_000, what: 'the broker wrote the four messages' });
    broker.down = true;
    await first.close();
    expect(broker.written.get('t')?.slice(0, 4)).toEqual(texts(4));
    broker.down = false;
    broker.fault = () => 'none';
    broker.nowMs += 61_000; // the old id expires
    const lines: string[] = [];
    const second = producer(address, { spool: { dir, afterMs: 40 }, log: (line) => lines.push(line) });
    await waitFor(() => second.stats().spoolPendingMessages === 0, { timeoutMs: 10_000, what: 'the spool drained' });
    expect(second.stats().spoolResentUnderNewIdMessages).toBe(4);
    expect(lines.join('\n')).toMatch(/dedupe across ids is not guaranteed/);
    // At least once for these: they were written under the old id and again under the new one.
    expect(broker.written.get('t')?.filter((x) => x === 'm-0').length).toBeGreaterThanOrEqual(1);
  });

  it('a full spool fails sends with SpoolFullError; without a spool a send fails at its delivery timeout', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 4000);
    broker.down = true;
    const p = producer(address, { spool: { dir: tempDir(), afterMs: 20, bytesMax: 2048 }, batchMessagesMax: 1 });
    const settled = await Promise.allSettled(texts(10).map((k) => p.send('t', { payload: `${k}-${'x'.repeat(500)}` })));
    const spooled = settled.filter((s) => s.status === 'fulfilled' && s.value.status === 'spooled').length;
    const full = settled.filter((s) => s.status === 'rejected' && s.reason instanceof SpoolFullError);
    expect(spooled).toBeGreaterThan(0);
    expect(spooled + full.length).toBe(10);
    expect(full.length).toBeGreaterThan(0);
    expect(String((full[0] as PromiseRejectedResult).reason)).toMatch(/spool is full|spool holds/);
    await expect(p.send('t', { payload: 'more' })).rejects.toThrow(SpoolFullError);

    const plain = producer(address, { deliveryTimeoutMs: 150 });
    await expect(plain.send('t', { payload: 'x' })).rejects.toThrow(DeliveryTimeoutError);
    expect(() => new Producer({ brokers: [address], idempotence: false, spool: { dir: tempDir(), afterMs: 10 } })).toThrow(InvalidArgumentError);
  });
});
