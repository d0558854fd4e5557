/**
 * ACL enforcement in process: the node's NodeAcl over a real BrokerState, behind a real
 * client server with TLS and passwords. Each denial is PERMISSION_DENIED naming the user,
 * the operation and the resource, is counted, and changes nothing; a superuser's rule lets
 * the same call through.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Admin, LogClient, PermissionDeniedError, TransactionClient, type ClientTlsOptions } from '../../src/client/index.js';
import { LogRecorder } from '../../src/log/index.js';
import { nodeId } from '../../raft/index.js';
import { NodeAcl } from '../../src/node/node-acl.js';
import { NO_PROBE } from '../../src/node/node-probe.js';
import {
  startClientServer,
  TlsCertificates,
  type AckOutcomeView,
  type CheckSink,
  type ClientServer,
  type GroupService,
  type EndInput,
  type EndOutcome,
  type HalfInput,
  type HalfOutcome,
  type PasswordVerdict,
  type TransactionInfoView,
  type TransactionService,
  type TransactionTopic,
  type MemberChangeInput,
  type MembershipService,
  type MembersView,
} from '../../src/transport/index.js';
import { InProcessBroker } from '../broker/in-process-broker.js';
import { FakeClientService } from '../client/fake-client-service.js';
import { ephemeralPort, rejectionOf, waitFor } from '../harness/index.js';
import { loopbackCertificates, memberMaterial } from '../harness/tls-certificates.js';

const PASSWORDS: Record<string, string> = { alice: 'alice-pw-41c9', bob: 'bob-pw-77e2' };
const servers: ClientServer[] = [];
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

let ca: ClientTlsOptions;
let tls: TlsCertificates;
beforeAll(async () => {
  const set = await loopbackCertificates(['n1'], []);
  ca = { ca: Buffer.from(set.ca.cert) };
  tls = new TlsCertificates(memberMaterial(set, 'n1'));
});

async function checkPassword(user: string, password: string): Promise<PasswordVerdict> {
  const known = PASSWORDS[user];
  if (known === undefined) return 'unknownUser';
  return password === known ? 'accepted' : 'wrongPassword';
}

/** A leader's transactions in memory: records halves and decisions, knows each half's topic, holds the check streams. */
class RecordingTransactions implements TransactionService {
  readonly halves: HalfInput[] = [];
  readonly ends: EndInput[] = [];
  readonly sinks: CheckSink[] = [];

  sendHalf(request: HalfInput): Promise<HalfOutcome> {
    this.halves.push(request);
    return Promise.resolve({ duplicate: false, state: 'prepared', logIndex: this.halves.length });
  }
  endTransaction(request: EndInput): Promise<EndOutcome> {
    this.ends.push(request);
    return Promise.resolve({ state: request.outcome === 'commit' ? 'committed' : 'rolledBack', topic: this.halves.find((h) => h.txId === request.txId)?.topic ?? '', firstOffset: 0, count: 1, duplicate: false });
  }
  listTransactions(): readonly TransactionInfoView[] {
    return [];
  }
  /**
   * This node plays a new leader that has not yet applied every committed entry for this many
   * more questions about an unknown transaction, then one that has; each answer while not
   * current is recorded.
   */
  notCurrentFor = 0;
  readonly notCurrentAnswers: string[] = [];

  transactionTopic(txId: string): TransactionTopic {
    const topic = this.halves.find((h) => h.txId === txId)?.topic ?? null;
    const current = topic !== null || this.notCurrentFor === 0;
    if (!current) {
      this.notCurrentFor--;
      this.notCurrentAnswers.push(txId);
    }
    return { topic, current };
  }
  subscribeChecks(_group: string, sink: CheckSink): () => void {
    this.sinks.push(sink);
    return () => this.sinks.splice(this.sinks.indexOf(sink), 1);
  }
}

async function serveWithAcls(transactions?: TransactionService, membership?: MembershipService, groups?: GroupService): Promise<{ address: string; broker: InProcessBroker; service: FakeClientService; denied: string[]; log: LogRecorder }> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  const broker = new InProcessBroker();
  await broker.createTopic('orders', 0);
  const service = new FakeClientService();
  const denied: string[] = [];
  const log = new LogRecorder();
  const acl = new NodeAcl({
    superUsers: ['alice'],
    state: () => broker.state,
    propose: (command) => broker.propose(command),
    log: log.log,
    nowMs: () => broker.nowMs,
    enforced: true,
    probe: { ...NO_PROBE, permissionDenied: (operation) => denied.push(operation) },
  });
  servers.push(
    await startClientServer({
      listenAddress: address,
      service,
      broker,
      ...(transactions === undefined ? {} : { transactions }),
      ...(membership === undefined ? {} : { membership }),
      ...(groups === undefined ? {} : { groups }),
      messageBytesMax: 1024 * 1024,
      tls,
      auth: { checkPassword },
      authorizer: acl,
      acls: acl,
    }),
  );
  return { address, broker, service, denied, log };
}

function clientFor(user: string, address: string): { log: LogClient; admin: Admin } {
  const options = { brokers: [address], timeoutMs: 3_000, connectTimeoutMs: 1_000, tls: ca, auth: { user, password: PASSWORDS[user] ?? '' } };
  const log = new LogClient(options);
  const admin = new Admin(options);
  closers.push(() => log.close(), () => admin.close());
  return { log, admin };
}

const message = { key: new Uint8Array(), headers: [], payload: Buffer.from('m1'), timestampMs: 1 };

describe('ACL enforcement on the client port', () => {
  it('produce, consume and admin without a rule are each PERMISSION_DENIED naming user, operation and resource, counted, with nothing written', async () => {
    const { address, broker, service, denied, log } = await serveWithAcls();
    const bob = clientFor('bob', address);
    const before = broker.state.lastApplied;

    const produce = await rejectionOf(bob.log.produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages: [message] }));
    expect(produce).toBeInstanceOf(PermissionDeniedError);
    expect(produce.message).toContain('user bob may not produce to topic orders');
    const fetch = await rejectionOf(bob.log.fetch('orders', 0));
    expect(fetch).toBeInstanceOf(PermissionDeniedError);
    expect(fetch.message).toContain('user bob may not consume from topic orders');
    const create = await rejectionOf(bob.admin.createTopic('payments'));
    expect(create).toBeInstanceOf(PermissionDeniedError);
    expect(create.message).toContain('user bob may not administer topic payments');
    const append = await rejectionOf(bob.log.append([Buffer.from('raw')]));
    expect(append).toBeInstanceOf(PermissionDeniedError);
    const addAcl = await rejectionOf(bob.admin.addAcl({ principal: 'bob', resource: { kind: 'topic', pattern: '*' }, operations: ['admin'] }));
    expect(addAcl).toBeInstanceOf(PermissionDeniedError);

    expect(broker.state.lastApplied).toBe(before);
    expect(broker.written.get('orders')).toBeUndefined();
    expect(broker.state.topic('payments')).toBeUndefined();
    expect(service.records).toHaveLength(0);
    expect(denied).toEqual(['produce', 'consume', 'admin', 'admin', 'admin']);
    // The two cluster denials share one line: repeats of a user, operation and resource are held back for a minute.
    expect(log.messages().filter((m) => m.startsWith('denied user bob'))).toHaveLength(4);
    for (const password of Object.values(PASSWORDS)) expect(JSON.stringify(log.lines) + produce.message + create.message).not.toContain(password);
  });

  it("a superuser's rule lets the same calls through: a prefix for produce, the exact name for admin; removing it denies again", async () => {
    const { address, broker } = await serveWithAcls();
    const alice = clientFor('alice', address);
    const bob = clientFor('bob', address);
    expect(await alice.admin.addAcl({ principal: 'bob', resource: { kind: 'topic', pattern: 'ord*' }, operations: ['produce', 'consume'] })).toBe(true);
    expect(await alice.admin.addAcl({ principal: 'bob', resource: { kind: 'topic', pattern: 'payments' }, operations: ['admin'] })).toBe(true);
    expect(await alice.admin.listAcls()).toEqual([
      { principal: 'bob', resource: { kind: 'topic', pattern: 'ord*' }, operations: ['produce', 'consume'] },
      { principal: 'bob', resource: { kind: 'topic', pattern: 'payments' }, operations: ['admin'] },
    ]);

    await bob.log.produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages: [message] });
    expect(broker.written.get('orders')).toEqual(['m1']);
    await bob.admin.createTopic('payments');
    expect(broker.state.topic('payments')?.name).toBe('payments');
    expect(await rejectionOf(bob.admin.createTopic('orders2'))).toBeInstanceOf(PermissionDeniedError);

    expect(await alice.admin.removeAcl({ principal: 'bob', resource: { kind: 'topic', pattern: 'ord*' }, operations: ['produce'] })).toBe(true);
    expect(await rejectionOf(bob.log.produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages: [message] }))).toBeInstanceOf(PermissionDeniedError);
    expect(broker.written.get('orders')).toEqual(['m1']);
  });

  it("transactions: a half needs produce on its topic, a producer's decision produce, an operator's admin; check-backs come only for topics the producer may produce to", async () => {
    const transactions = new RecordingTransactions();
    const { address } = await serveWithAcls(transactions);
    const alice = clientFor('alice', address);
    const bob = new TransactionClient({ brokers: [address], timeoutMs: 3_000, tls: ca, auth: { user: 'bob', password: PASSWORDS['bob'] ?? '' } });
    closers.push(() => bob.close());
    const half = (txId: string, topic: string) => ({ txId, producerGroup: 'pg', topic, messages: [message] });

    expect(await rejectionOf(bob.sendHalf(half('tx-1', 'orders')))).toBeInstanceOf(PermissionDeniedError);
    expect(transactions.halves).toEqual([]);
    await alice.admin.addAcl({ principal: 'bob', resource: { kind: 'topic', pattern: 'orders' }, operations: ['produce'] });
    await bob.sendHalf(half('tx-1', 'orders'));
    await bob.sendHalf(half('tx-2', 'orders'));
    transactions.halves.push({ ...half('tx-3', 'payments'), checkDelayMs: 0, checkIntervalMs: 0, checkMax: 0 });

    const byHand = await rejectionOf(bob.endTransaction('tx-1', 'rollback', 'admin'));
    expect(byHand.message).toContain('user bob may not administer topic orders');
    expect(await rejectionOf(bob.endTransaction('tx-3', 'commit', 'producer'))).toBeInstanceOf(PermissionDeniedError);
    await bob.endTransaction('tx-1', 'commit', 'producer');
    expect(transactions.ends).toEqual([{ txId: 'tx-1', outcome: 'commit', source: 'producer' }]);
    // A transaction this node does not know: one that never was goes on to the state machine
    // (which refuses it) when everything committed is applied here; while it may not be (a
    // new leader catching up), a non-superuser is told to retry rather than let through
    // unchecked, and a superuser goes on.
    await bob.endTransaction('tx-9', 'commit', 'producer');
    expect(transactions.notCurrentAnswers).toEqual([]);
    // Not current for two questions: bob's decision is answered UNAVAILABLE twice, retried by
    // the client, and goes on once the leader is current.
    transactions.notCurrentFor = 2;
    await bob.endTransaction('tx-8', 'commit', 'producer');
    expect(transactions.notCurrentAnswers).toEqual(['tx-8', 'tx-8']);
    expect(transactions.ends.map((e) => e.txId)).toEqual(['tx-1', 'tx-9', 'tx-8']);
    // A superuser is not held back: one question, and the decision goes on.
    const aliceTransactions = new TransactionClient({ brokers: [address], timeoutMs: 3_000, tls: ca, auth: { user: 'alice', password: PASSWORDS['alice'] ?? '' } });
    closers.push(() => aliceTransactions.close());
    transactions.notCurrentFor = 5;
    await aliceTransactions.endTransaction('tx-7', 'rollback', 'admin');
    expect(transactions.notCurrentAnswers).toEqual(['tx-8', 'tx-8', 'tx-7']);
    expect(transactions.ends.map((e) => e.txId)).toEqual(['tx-1', 'tx-9', 'tx-8', 'tx-7']);

    const abort = new AbortController();
    closers.push(() => abort.abort());
    const seen: string[] = [];
    const reading = (async () => {
      for await (const check of bob.checks('pg', abort.signal)) {
        seen.push(check.txId);
        if (check.txId === 'tx-2') return;
      }
    })();
    await waitFor(() => transactions.sinks.length === 1, { what: 'the check stream', timeoutMs: 5_000, intervalMs: 5 });
    const sink = transactions.sinks[0];
    for (const [txId, topic] of [['tx-3', 'payments'], ['tx-2', 'orders']] as const) sink?.push({ txId, producerGroup: 'pg', topic, messages: [message], checkCount: 1, preparedAtMs: 1 });
    await reading;
    expect(seen).toEqual(['tx-2']);
  });

  it('an ack on the ack stream needs consume on its group, checked per request: denied, nothing acked; allowed once a rule says so', async () => {
    const acked: string[] = [];
    const unused = (): never => {
      throw new Error('not used');
    };
    const groups: GroupService = {
      createGroup: unused,
      deleteGroup: unused,
      listGroups: unused,
      describeGroup: unused,
      consume: unused,
      ack: (group: string, offsets: readonly number[]) => {
        acked.push(`${group} ${offsets.join(',')}`);
        return Promise.resolve(offsets.map((): AckOutcomeView => 'acked'));
      },
      nack: unused,
      extend: unused,
      leave: unused,
      resetGroup: unused,
    };
    const { address, denied } = await serveWithAcls(undefined, undefined, groups);
    const alice = clientFor('alice', address);
    const bob = clientFor('bob', address);
    const refused = await rejectionOf(bob.log.ack({ group: 'g-bob', offsets: [3] }));
    expect(refused).toBeInstanceOf(PermissionDeniedError);
    expect(refused.message).toContain('user bob may not consume in group g-bob');
    expect(acked).toEqual([]);
    expect(denied).toEqual(['consume']);
    expect(await alice.admin.addAcl({ principal: 'bob', resource: { kind: 'group', pattern: 'g-bob' }, operations: ['consume'] })).toBe(true);
    // The same stream serves the next request: the refusal was that request's answer, not the stream's end.
    expect(await bob.log.ack({ group: 'g-bob', offsets: [3, 4] })).toEqual({ outcomes: [0, 0] });
    expect(await rejectionOf(bob.log.ack({ group: 'g-other', offsets: [5] }))).toBeInstanceOf(PermissionDeniedError);
    expect(acked).toEqual(['g-bob 3,4']);
  });

  it('a rule that cannot be one is INVALID_ARGUMENT before anything is proposed', async () => {
    const { address, broker } = await serveWithAcls();
    const alice = clientFor('alice', address);
    const before = broker.state.lastApplied;
    const error = await rejectionOf(alice.admin.addAcl({ principal: 'bob', resource: { kind: 'topic', pattern: 'a*b' }, operations: ['produce'] }));
    expect(error.message).toMatch(/only at its end/);
    expect(broker.state.lastApplied).toBe(before);
  });
});

describe('membership under ACLs', () => {
  /** A leader's membership in memory: records the changes asked of it. */
  class RecordingMembership implements MembershipService {
    readonly changes: MemberChangeInput[] = [];
    members(): MembersView {
      return { members: [{ id: nodeId('n1'), role: 'voter', peerAddress: '127.0.0.1:7601', clientAddress: '127.0.0.1:7501', incarnation: 'inc-n1', matchIndex: 5, httpAddress: null }], leaderId: nodeId('n1'), leaderClientAddress: '127.0.0.1:7501', configIndex: 1 };
    }
    changeMember(change: MemberChangeInput): Promise<MembersView> {
      this.changes.push(change);
      return Promise.resolve(this.members());
    }
  }

  it("a change is a superuser's (PERMISSION_DENIED otherwise, nothing changed); the list is everyone's, incarnations shown to superusers only", async () => {
    const membership = new RecordingMembership();
    const { address } = await serveWithAcls(undefined, membership);
    const alice = clientFor('alice', address);
    const bob = clientFor('bob', address);
    const denied = await rejectionOf(bob.admin.members.remove('n2'));
    expect(denied).toBeInstanceOf(PermissionDeniedError);
    expect(denied.message).toContain('user bob may not use the raw log, move leadership, change the membership or change ACLs');
    expect(membership.changes).toEqual([]);
    await alice.admin.members.remove('n2');
    expect(membership.changes).toEqual([{ kind: 'remove', id: 'n2', force: false }]);
    expect((await bob.admin.members.list()).members.map((m) => [m.id, m.clientAddress, m.incarnation])).toEqual([['n1', '127.0.0.1:7501', '']]);
    expect((await alice.admin.members.list()).members.map((m) => m.incarnation)).toEqual(['inc-n1']);
  });
});

describe('ACLs on a node that does not authenticate clients', () => {
  it('are not enforced; a node holding rules says so in one warning, at start or at its first change', async () => {
    const broker = new InProcessBroker();
    const log = new LogRecorder();
    const acl = new NodeAcl({ superUsers: [], state: () => broker.state, propose: (command) => broker.propose(command), log: log.log, nowMs: () => broker.nowMs, enforced: false });
    acl.describeAtStart();
    expect(log.lines).toEqual([]);
    const rule = { principal: 'bob', resource: { kind: 'topic', pattern: 'orders' }, operations: ['produce'] } as const;
    expect(await acl.addAcl(rule, { timeoutMs: 1_000 })).toBe(true);
    await acl.addAcl({ ...rule, principal: 'carol' }, { timeoutMs: 1_000 });
    const warnings = log.lines.filter((line) => line.level === 'warn');
    expect(warnings.map((line) => line.msg)).toEqual(['this node holds 1 ACL rule but does not authenticate clients, so it enforces none: start it with --users-file or --require-client-auth']);

    const restarted = new LogRecorder();
    new NodeAcl({ superUsers: [], state: () => broker.state, propose: (command) => broker.propose(command), log: restarted.log, nowMs: () => broker.nowMs, enforced: false }).describeAtStart();
    expect(restarted.lines.filter((line) => line.level === 'warn')).toHaveLength(1);
  });
});
