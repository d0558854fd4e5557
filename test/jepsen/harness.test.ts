import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { parseRunOptions } from '../../jepsen-style/cli-options.js';
import { damageLog, dropFromDamagedRecord, FLIP_OLD_RECORDS_MIN, scanRecords } from '../../jepsen-style/disk-damage.js';
import { LinkProxy } from '../../jepsen-style/link-proxy.js';
import { readAgreedNodeLogs } from '../../jepsen-style/log-workload.js';
import type { NodeLog } from '../../jepsen-style/checkers/log-checkers.js';
import { MIX_KINDS, NEMESIS_KINDS, planFaults } from '../../jepsen-style/nemesis.js';
import { commandLine } from '../../jepsen-style/run.js';
import { compactionArgs, NODE_DEFAULT_COMPACTION } from '../../jepsen-style/compaction.js';
import { parseMetrics, snapshotSummary } from '../../jepsen-style/snapshot-stats.js';
import { Prng } from '../../jepsen-style/prng.js';
import { ephemeralPort } from '../../src/process/index.js';

/** The harness's own parts, without node processes: schedule, proxy, disk damage, options. */

describe('fault schedule', () => {
  it('is a function of the seed, and respects kinds, variants and the run time', () => {
    const plan = (seed: number) => planFaults(new Prng(seed).derive('schedule'), { kinds: NEMESIS_KINDS, variants: null, timeMs: 120_000 });
    expect(plan(42)).toEqual(plan(42));
    expect(plan(42)).not.toEqual(plan(43));
    for (const f of plan(42)) expect(f.atMs + f.holdMs).toBeLessThanOrEqual(119_000);
    const only = planFaults(new Prng(1), { kinds: ['kill', 'power'], variants: ['leader', 'power:all'], timeMs: 60_000 });
    expect(only.length).toBeGreaterThan(3);
    expect(new Set(only.map((f) => `${f.kind}:${f.variant}`))).toEqual(new Set(['kill:leader', 'power:all']));
    expect(planFaults(new Prng(1), { kinds: [], variants: null, timeMs: 60_000 })).toEqual([]);
  });

  it('Prng draws stay in range', () => {
    const random = new Prng(7);
    for (let k = 0; k < 1_000; k++) {
      const x = random.between(3, 5);
      expect(x >= 3 && x <= 5).toBe(true);
    }
    expect(random.sample(['a', 'b', 'c', 'd'], 2)).toHaveLength(2);
  });
});

describe('LinkProxy', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function echoServer(): Promise<number> {
    const server = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return (server.address() as net.AddressInfo).port;
  }

  /** Sends `text` through a fresh connection; resolves with the echo, or null after `waitMs`. */
  function roundTrip(port: number, text: string, waitMs: number): Promise<{ reply: string | null; elapsedMs: number }> {
    const startedMs = Date.now();
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let got = '';
      const done = (reply: string | null): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ reply, elapsedMs: Date.now() - startedMs });
      };
      const timer = setTimeout(() => done(null), waitMs);
      socket.on('data', (chunk) => {
        got += chunk.toString();
        if (got.length >= text.length) done(got);
      });
      socket.on('error', () => done(null));
      socket.on('close', () => done(got === '' ? null : got));
      socket.write(text);
    });
  }

  it('passes, cuts (black hole), heals and delays', async () => {
    const target = await echoServer();
    const proxy = await LinkProxy.start({ from: 'n1', to: 'n2', listenPort: await ephemeralPort(), targetPort: target });
    closers.push(() => proxy.close());
    expect((await roundTrip(proxy.listenPort, 'hello', 2_000)).reply).toBe('hello');
    proxy.setMode({ kind: 'cut' });
    expect((await roundTrip(proxy.listenPort, 'lost', 300)).reply).toBeNull();
    proxy.setMode({ kind: 'pass' });
    expect((await roundTrip(proxy.listenPort, 'back', 2_000)).reply).toBe('back');
    proxy.setMode({ kind: 'delay', delayMs: 150, jitterMs: 0 });
    const delayed = await roundTrip(proxy.listenPort, 'slow', 3_000);
    expect(delayed.reply).toBe('slow');
    // Held each way: at least the two delays (a lower bound, never an upper one).
    expect(delayed.elapsedMs).toBeGreaterThanOrEqual(290);
  });

  it('a cut drops connections that are open', async () => {
    const target = await echoServer();
    const proxy = await LinkProxy.start({ from: 'n1', to: 'n2', listenPort: await ephemeralPort(), targetPort: target });
    closers.push(() => proxy.close());
    const socket = net.connect({ host: '127.0.0.1', port: proxy.listenPort });
    await new Promise((resolve) => socket.once('connect', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => undefined);
    proxy.setMode({ kind: 'cut' });
    await closed;
    expect(socket.destroyed).toBe(true);
  });
});

describe('disk damage on segment files (format of docs/storage.md)', () => {
  function segment(records: number): { dir: string; file: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-jepsen-disk-'));
    fs.mkdirSync(path.join(dir, 'log'));
    const parts: Buffer[] = [];
    for (let i = 1; i <= records; i++) {
      const payload = Buffer.from(`value-${i}`);
      const header = Buffer.alloc(32);
      header.writeUInt32LE(0x3147_4c51, 0);
      header.writeUInt32LE(payload.length, 8);
      header.writeBigUInt64LE(BigInt(i), 16);
      header.writeBigUInt64LE(1n, 24);
      parts.push(header, payload);
    }
    const file = path.join(dir, 'log', '00000000000000000001.log');
    fs.writeFileSync(file, Buffer.concat(parts));
    return { dir, file };
  }

  it('cut-tail shortens the file; flip-last and flip-old change one byte where they say', () => {
    const { dir, file } = segment(40);
    try {
      const before = fs.readFileSync(file);
      const flip = damageLog(dir, 'flip-old', new Prng(3));
      expect(flip).not.toBeNull();
      const after = fs.readFileSync(file);
      const changed = [...after.keys()].filter((k) => after[k] !== before[k]);
      expect(changed).toEqual([flip?.offset]);
      expect(flip?.index).toBeLessThanOrEqual(20);
      dropFromDamagedRecord(flip ?? (undefined as never));
      expect(fs.statSync(file).size).toBe(flip?.recordOffset);
      expect(scanRecords(file).at(-1)?.index).toBe((flip?.index ?? 0) - 1);
      const sizeBefore = fs.statSync(file).size;
      const cut = damageLog(dir, 'cut-tail', new Prng(4));
      expect(fs.statSync(file).size).toBe(sizeBefore - (cut?.bytes ?? 0));
      const lastIndex = scanRecords(file).at(-1)?.index;
      expect(damageLog(dir, 'flip-last', new Prng(5))?.index).toBe(lastIndex);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('flip-old damages the older half of a last segment of FLIP_OLD_RECORDS_MIN records, and nothing in a shorter one', () => {
    for (const [records, damaged] of [[FLIP_OLD_RECORDS_MIN, true], [FLIP_OLD_RECORDS_MIN - 1, false]] as const) {
      const { dir, file } = segment(records);
      try {
        const before = fs.readFileSync(file);
        const flip = damageLog(dir, 'flip-old', new Prng(7));
        expect(flip !== null, `${records} records`).toBe(damaged);
        if (flip !== null) expect(flip.recordsAfter).toBeGreaterThanOrEqual(FLIP_OLD_RECORDS_MIN / 2);
        else expect(fs.readFileSync(file).equals(before)).toBe(true);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('cut-tail cuts from the end of the last record, not of a preallocated file ending in zeros', () => {
    const { dir, file } = segment(40);
    try {
      const records = scanRecords(file);
      const last = records.at(-1);
      const end = (last?.offset ?? 0) + (last?.bytes ?? 0);
      fs.appendFileSync(file, Buffer.alloc(64 * 1024)); // zeros written ahead, as a preallocating node leaves them
      for (let seed = 1; seed <= 20; seed++) {
        const before = fs.readFileSync(file);
        const cut = damageLog(dir, 'cut-tail', new Prng(seed));
        expect(cut).not.toBeNull();
        expect(cut?.bytes).toBeGreaterThanOrEqual(1);
        expect(fs.statSync(file).size).toBe(end - (cut?.bytes ?? 0));
        // Bytes of the last record are gone, so it no longer scans as whole.
        expect(scanRecords(file).at(-1)?.index).toBeLessThan(40);
        expect(cut?.index).toBe(records.find((r) => r.offset + r.bytes > end - (cut?.bytes ?? 0))?.index);
        fs.writeFileSync(file, before);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('command line', () => {
  it('parses the issue\'s command and refuses unknown nemeses and workloads', () => {
    const options = parseRunOptions(['--nodes', '3', '--time', '120', '--nemesis', 'kill,pause,partition,disk', '--rate', '500', '--seed', '42'], () => {});
    expect(options).toMatchObject({ nodes: 3, timeS: 120, nemeses: ['kill', 'pause', 'partition', 'disk'], rate: 500, seed: 42, flush: { mode: 'sync' }, idempotence: true });
    expect(parseRunOptions(['--nemesis', 'mix'], () => {})).toMatchObject({ nemeses: MIX_KINDS });
    expect(() => parseRunOptions(['--nemesis', 'meteor'], () => {})).toThrow(/unknown "meteor"/);
    expect(() => parseRunOptions(['--workload', 'fifo'], () => {})).toThrow(/not a workload/);
    expect(parseRunOptions(['--workload', 'queue', '--consumers', '2', '--auto-ack', '--no-consumer-kills', '--consumer-work-ms', '25'], () => {})).toMatchObject({ workload: 'queue', consumers: 2, autoAck: true, consumerKills: false, consumerWorkMs: 25 });
    expect(parseRunOptions([], () => {})).toMatchObject({ consumers: 3, autoAck: false, consumerKills: true });
    expect(parseRunOptions(['--flush', 'async', '--flush-interval-ms', '500', '--no-idempotence'], () => {})).toMatchObject({ flush: { mode: 'async', intervalMs: 500 }, idempotence: false });
    expect(parseRunOptions([], () => {})).toMatchObject({ allowMissedFaults: false });
    const allowing = parseRunOptions(['--allow-missed-faults', '--seed', '7'], () => {});
    expect(allowing).toMatchObject({ allowMissedFaults: true });
    if (allowing !== 'help') expect(commandLine(allowing)).toContain(' --allow-missed-faults ');
  });

  it('passes the snapshot, segment and retention flags on to every node only when given', () => {
    const given = parseRunOptions(['--snapshot-entries', '50', '--segment-bytes', '4096', '--retention-hours', '0.5', '--retention-policy', 'delete', '--seed', '1'], () => {});
    expect(given).toMatchObject({ compaction: { snapshotEntries: 50, segmentBytes: 4096, retentionHours: 0.5, retentionPolicy: 'delete' } });
    if (given !== 'help') expect(commandLine(given)).toContain(' --snapshot-entries 50 --segment-bytes 4096 --retention-hours 0.5 --retention-policy delete');
    expect(compactionArgs({ snapshotEntries: null, segmentBytes: null, retentionHours: 0, retentionPolicy: null })).toEqual(['--retention-hours', '0']);
    const defaults = parseRunOptions(['--seed', '1'], () => {});
    expect(defaults).toMatchObject({ compaction: NODE_DEFAULT_COMPACTION });
    if (defaults !== 'help') expect(commandLine(defaults)).not.toMatch(/snapshot|segment|retention/);
    expect(() => parseRunOptions(['--segment-bytes', '1000'], () => {})).toThrow(/--segment-bytes must be a whole number in 4096\.\./);
    expect(() => parseRunOptions(['--retention-hours', 'soon'], () => {})).toThrow(/--retention-hours must be a number of hours/);
    expect(() => parseRunOptions(['--retention-policy', 'forever'], () => {})).toThrow(/--retention-policy must be keep-unconsumed or delete/);
  });

  it('reads the snapshot counters from a node\'s Prometheus text and says them in one line', () => {
    const text = ['# HELP quorumlog_snapshots_written_total x', '# TYPE quorumlog_snapshots_written_total counter', 'quorumlog_snapshots_written_total 12', 'quorumlog_snapshots_installed_total 1', 'quorumlog_log_first_index 1501', 'quorumlog_raft_role{role="leader"} 1', ''].join('\n');
    const values = parseMetrics(text, ['quorumlog_snapshots_written_total', 'quorumlog_snapshots_installed_total', 'quorumlog_log_first_index', 'quorumlog_log_segments_deleted_total']);
    expect(Object.fromEntries(values)).toEqual({ quorumlog_snapshots_written_total: 12, quorumlog_snapshots_installed_total: 1, quorumlog_log_first_index: 1501 });
    const line = snapshotSummary([{ node: 'n1', snapshotsWritten: 12, snapshotsInstalled: 1, segmentsDeleted: 30, snapshotIndex: 1550, firstIndex: 1501, startsScraped: 2, starts: 3 }]);
    expect(line).toBe('snapshots: n1 12 written 1 installed 30 segments deleted, snapshot at 1550, first index 1501 (1 of 3 starts never scraped)');
  });

  it('takes the availability bound of single-node faults, derived from the timing unless given', () => {
    expect(parseRunOptions([], () => {})).toMatchObject({ singleNodeOutageMaxMs: null });
    expect(parseRunOptions(['--outage-max-ms', '3000'], () => {})).toMatchObject({ singleNodeOutageMaxMs: 3_000 });
    expect(() => parseRunOptions(['--outage-max-ms', 'soon'], () => {})).toThrow(/--outage-max-ms must be a whole number/);
  });
});

describe('reading the final logs (log workload)', () => {
  const log = (node: string, commitIndex: number): NodeLog => ({ node, entries: [], commitIndex });

  it('reads again while the nodes\' commit indexes differ: a follower learns a commit with the next append or tick', async () => {
    // The leader commits its periodic clock entry between the recovery check and the reads.
    const reads = [[log('n1', 10), log('n2', 10), log('n3', 11)], [log('n1', 11), log('n2', 11), log('n3', 11)]];
    let calls = 0;
    const logs = await readAgreedNodeLogs(() => Promise.resolve(reads[Math.min(calls++, reads.length - 1)] ?? []), { attemptsMax: 5, waitMs: 1 });
    expect(calls).toBe(2);
    expect(logs.map((n) => n.commitIndex)).toEqual([11, 11, 11]);
  });

  it('gives the checker the last read when the commit indexes never agree, so that it reports them', async () => {
    let calls = 0;
    const logs = await readAgreedNodeLogs(() => Promise.resolve([log('n1', 10 + calls++), log('n2', 5)]), { attemptsMax: 3, waitMs: 1 });
    expect(calls).toBe(3);
    expect(logs.map((n) => n.commitIndex)).toEqual([12, 5]);
  });

  it('does not read again for a node it could not read', async () => {
    let calls = 0;
    const unreadable: NodeLog = { node: 'n2', entries: null, commitIndex: 0, error: 'down' };
    await readAgreedNodeLogs(() => Promise.resolve([log('n1', 10), unreadable].map((n) => (calls++, n))), { attemptsMax: 3, waitMs: 1 });
    expect(calls).toBe(2);
  });
});
