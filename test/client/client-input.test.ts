import { afterEach, describe, expect, it } from 'vitest';

import { Admin, Consumer, InvalidArgumentError, LogClient, Producer, type ProducerMessage } from '../../src/client/index.js';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  await Promise.allSettled(closers.splice(0).map((close) => close()));
});

/** Nothing listens here: every check below must answer before any connection is tried. */
const NOWHERE = '127.0.0.1:1';

function producer(): Producer {
  const p = new Producer({ brokers: [NOWHERE], requestTimeoutMs: 200, deliveryTimeoutMs: 500 });
  closers.push(() => p.close());
  return p;
}

function logClient(): LogClient {
  const c = new LogClient({ brokers: [NOWHERE], timeoutMs: 200 });
  closers.push(() => c.close());
  return c;
}

/** What calling `call` does: throws at once, or returns a promise (which is then awaited). */
async function outcome(call: () => Promise<unknown>): Promise<string> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    return `threw ${error instanceof Error ? error.name : String(error)}`;
  }
  return promise.then(
    () => 'resolved',
    (error: unknown) => `rejected ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  );
}

describe('client input is checked when it is given', () => {
  it('broker addresses are checked when a client is made: a string instead of a list, a missing port, a bad port', () => {
    const make = {
      LogClient: (brokers: unknown) => new LogClient({ brokers: brokers as string[] }),
      Admin: (brokers: unknown) => new Admin({ brokers: brokers as string[] }),
      Producer: (brokers: unknown) => new Producer({ brokers: brokers as string[] }),
      Consumer: (brokers: unknown) => new Consumer({ brokers: brokers as string[], group: 'g', topic: 't' }),
    };
    for (const [name, create] of Object.entries(make)) {
      expect(() => create('127.0.0.1:7501'), name).toThrow(/brokers must be a list of 'host:port' addresses/);
      expect(() => create(['localhost23501']), name).toThrow(/"localhost23501" is not host:port/);
      expect(() => create(['localhost:0']), name).toThrow(/port/);
      expect(() => create(['localhost:70000']), name).toThrow(/port/);
      expect(() => create([':7501']), name).toThrow(InvalidArgumentError);
    }
    const fine = new LogClient({ brokers: ['localhost:7501', '127.0.0.1:7502', '[::1]:7503', 'node-3.example:7504'] });
    fine.close();
  });

  it('send() refuses a malformed message with a rejected promise (never a synchronous throw), before sending', async () => {
    const p = producer();
    const bad: [string, unknown, RegExp][] = [
      ['no payload', {}, /payload must be a string or a Uint8Array/],
      ['a number payload', { payload: 42 }, /payload must be a string or a Uint8Array, not number/],
      ['a null message', null, /a message must be an object/],
      ['a number key', { payload: 'x', key: 7 }, /key must be a string or a Uint8Array/],
      ['a header without a value', { payload: 'x', headers: [{ name: 'h' }] }, /header 0/],
      ['a fractional timestamp', { payload: 'x', timestampMs: 1.5 }, /timestampMs/],
    ];
    for (const [what, message, text] of bad) {
      const result = await outcome(() => p.send('t', message as ProducerMessage));
      expect(result, what).toMatch(/^rejected InvalidArgumentError/);
      expect(result, what).toMatch(text);
    }
    expect(await outcome(() => p.send(42 as unknown as string, { payload: 'x' }))).toMatch(/^rejected InvalidArgumentError: .*topic/);
  });

  it('append() refuses a string (it would have been one record per character) and anything but Uint8Array records', async () => {
    const c = logClient();
    expect(await outcome(() => c.append('a string' as unknown as Uint8Array))).toMatch(/^rejected InvalidArgumentError: .*Uint8Array/);
    expect(await outcome(() => c.append(['a', 'b'] as unknown as Uint8Array[]))).toMatch(/^rejected InvalidArgumentError: .*record 0/);
  });

  it('read() says what is wrong with its position and size', async () => {
    const c = logClient();
    expect(await outcome(() => c.read(-5))).toBe('rejected InvalidArgumentError: read: from must be a log index (a whole number >= 1), not -5');
    expect(await outcome(() => c.read(1.5))).toMatch(/not 1\.5/);
    expect(await outcome(() => c.read(1, { bytesMax: 0 }))).toMatch(/^rejected InvalidArgumentError: read: bytesMax must be a whole number >= 1, not 0/);
  });
});
