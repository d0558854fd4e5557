import { describe, expect, it } from 'vitest';

import { annotatedLog, type LogFormat, type LogLevel } from '../../src/log/index.js';
import { createNodeLog } from '../../src/observe/index.js';

function capture(level: LogLevel, format: LogFormat): { readonly chunks: string[]; readonly log: ReturnType<typeof createNodeLog> } {
  const chunks: string[] = [];
  return { chunks, log: createNodeLog({ node: 'n1', level, format, write: (chunk) => chunks.push(chunk) }) };
}

describe('the node\'s log (pino)', () => {
  it('writes one JSON object per line: level by name, ISO time, node, term and role where the node adds them, the event\'s fields, msg', () => {
    const { chunks, log } = capture('info', 'json');
    const withStatus = annotatedLog(log, () => ({ term: 3, role: 'leader' }));
    withStatus.info('snapshot written through index 500 (term 3); applies held 4 ms while it was encoded', { event: 'snapshot-written', index: 500, applyHoldMs: 4 });
    log.warn('recovery cut 12 bytes of torn tail from index 9 (torn)');
    expect(chunks).toHaveLength(2);
    expect(chunks.every((chunk) => chunk.endsWith('\n') && chunk.indexOf('\n') === chunk.length - 1)).toBe(true);
    const first = JSON.parse(chunks[0] ?? '') as Record<string, unknown>;
    expect(first).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      node: 'n1',
      term: 3,
      role: 'leader',
      event: 'snapshot-written',
      index: 500,
      applyHoldMs: 4,
      msg: 'snapshot written through index 500 (term 3); applies held 4 ms while it was encoded',
    });
    expect(JSON.parse(chunks[1] ?? '')).toMatchObject({ level: 'warn', node: 'n1', msg: 'recovery cut 12 bytes of torn tail from index 9 (torn)' });
  });

  it('writes nothing below its level', () => {
    const { chunks, log } = capture('warn', 'json');
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.fatal('f');
    expect(chunks.map((chunk) => (JSON.parse(chunk) as { level: string }).level)).toEqual(['warn', 'fatal']);
    expect(log.enabled('info')).toBe(false);
  });

  it('in text format writes one readable line: time, level, node, [role tTERM], message', () => {
    const { chunks, log } = capture('debug', 'text');
    annotatedLog(log, () => ({ term: 2, role: 'follower' })).debug('candidate in term 2', { event: 'role-changed' });
    log.info('created a new log');
    expect(chunks[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z DEBUG n1 \[follower t2\] candidate in term 2\n$/);
    expect(chunks[1]).toMatch(/^\S+Z INFO  n1 created a new log\n$/);
  });
});
