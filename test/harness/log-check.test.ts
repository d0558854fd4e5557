import { describe, expect, it } from 'vitest';

import type { LogClient } from '../../src/client/index.js';
import { checkLogs, type LoggedRecord } from './log-check.js';
import { AppendWorkload } from './workload.js';

/**
 * The checker must catch what it is there to catch; these run without processes, on a
 * scripted client: each append is committed at the next index, or fails with the error the
 * script names (an unknown outcome may still have been committed).
 */
function scriptedClient(script: readonly ('ok' | 'unknown-committed' | 'unknown-lost' | 'unavailable')[]): { client: LogClient; log: LoggedRecord[] } {
  const log: LoggedRecord[] = [];
  let call = 0;
  const decoder = new TextDecoder();
  const fail = (name: string): Error => Object.assign(new Error(name), { name });
  const client = {
    append: async (records: readonly Uint8Array[]) => {
      const step = script[call++] ?? 'ok';
      const payload = decoder.decode(records[0]);
      if (step === 'unavailable') throw fail('UnavailableError');
      if (step === 'unknown-lost') throw fail('OutcomeUnknownError');
      log.push({ index: log.length + 1, term: 1, payload });
      if (step === 'unknown-committed') throw fail('OutcomeUnknownError');
      return { firstIndex: log.length, lastIndex: log.length };
    },
  } as unknown as LogClient;
  return { client, log };
}

async function scenario(): Promise<{ workload: AppendWorkload; log: LoggedRecord[] }> {
  const { client, log } = scriptedClient(['ok', 'ok', 'unknown-committed', 'ok', 'unknown-lost', 'unavailable', 'ok']);
  const workload = new AppendWorkload(client, 'w');
  for (let k = 0; k < 7; k++) await workload.appendOne(0);
  return { workload, log };
}

describe('checkLogs', () => {
  it('accepts identical logs holding every acknowledged record and unknown ones at most once', async () => {
    const { workload, log } = await scenario();
    expect(workload.summary()).toBe('w: sent 7, acked 4, unknown 2, rejected 1 (OutcomeUnknownError x2, UnavailableError x1)');
    expect(checkLogs(new Map([['n1', log], ['n2', [...log]]]), [workload])).toEqual([]);
  });

  it('catches a lost acknowledged record', async () => {
    const { workload, log } = await scenario();
    const lost = log.filter((r) => r.payload !== 'w-000001');
    expect(checkLogs(new Map([['n1', lost]]), [workload]).join('\n')).toMatch(/acknowledged "w-000001" .* is missing/);
  });

  it('catches a duplicate, even of a record whose outcome was unknown', async () => {
    const { workload, log } = await scenario();
    const duplicated = [...log, { index: log.length + 1, term: 2, payload: 'w-000002' }];
    expect(checkLogs(new Map([['n1', duplicated]]), [workload]).join('\n')).toMatch(/"w-000002" appears twice/);
  });

  it('catches acknowledged records out of order (not at their acknowledged index)', async () => {
    const { workload, log } = await scenario();
    const swapped = log.map((r, k) => (k === 0 ? { ...r, payload: log[1]?.payload ?? '' } : k === 1 ? { ...r, payload: log[0]?.payload ?? '' } : r));
    expect(checkLogs(new Map([['n1', swapped]]), [workload]).join('\n')).toMatch(/acked at index 1 but sits at 2/);
  });

  it('catches a record the client said was never written, and one nobody sent', async () => {
    const { workload, log } = await scenario();
    const phantom = [...log, { index: 90, term: 2, payload: 'w-000005' }, { index: 91, term: 2, payload: 'w-000099' }, { index: 92, term: 2, payload: 'stray' }];
    const problems = checkLogs(new Map([['n1', phantom]]), [workload]).join('\n');
    expect(problems).toMatch(/"w-000005" at 90 is in the log but was rejected/);
    expect(problems).toMatch(/"w-000099" at 91 is in the log but was never sent/);
    expect(problems).toMatch(/"stray" at 92 is in the log but was never sent/);
  });

  it('catches nodes whose logs differ', async () => {
    const { workload, log } = await scenario();
    const diverged = log.map((r) => (r.index === 3 ? { ...r, term: 7 } : r));
    expect(checkLogs(new Map([['n1', log], ['n2', diverged]]), [workload]).join('\n')).toMatch(/n2 differs from n1: at position 2/);
    expect(checkLogs(new Map([['n1', log], ['n3', log.slice(0, -1)]]), [workload]).join('\n')).toMatch(/n3 differs from n1: lengths/);
  });
});
