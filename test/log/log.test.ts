import { describe, expect, it } from 'vitest';

import { annotatedLog, heldBackNote, LogRecorder, logTo, parseLogLine, RepeatGate, renderLogText, SILENT_LOG, type LogLevel } from '../../src/log/index.js';

describe('Log', () => {
  it('writes a line at or above its level and drops the ones below', () => {
    const written: [LogLevel, string][] = [];
    const log = logTo((level, msg) => written.push([level, msg]), 'warn');
    log.debug('chatty');
    log.info('routine');
    log.warn('refused');
    log.error('failed');
    log.fatal('stopping');
    expect(written).toEqual([
      ['warn', 'refused'],
      ['error', 'failed'],
      ['fatal', 'stopping'],
    ]);
    expect([log.enabled('info'), log.enabled('warn')]).toEqual([false, true]);
    expect(SILENT_LOG.enabled('fatal')).toBe(false);
  });

  it('annotatedLog puts its fields before the line\'s own, and reads them only for lines it writes', () => {
    const recorder = new LogRecorder('info');
    let reads = 0;
    const log = annotatedLog(recorder.log, () => {
      reads++;
      return { term: 3, role: 'leader' };
    });
    log.debug('not written');
    log.info('leader in term 3', { event: 'role-changed', term: 4 });
    expect(reads).toBe(1);
    expect(recorder.lines).toEqual([{ level: 'info', msg: 'leader in term 3', fields: { term: 4, role: 'leader', event: 'role-changed' } }]);
  });
});

describe('RepeatGate', () => {
  it('lets the first line of a key through, then one per interval with the count held back', () => {
    let now = 0;
    const gate = new RepeatGate({ intervalMs: 1_000, keysMax: 8, nowMs: () => now });
    expect(gate.pass('refused: other cluster')).toBe(0);
    // A peer redialling every 100 ms for 2.5 s.
    const passed: number[] = [];
    for (let k = 1; k <= 25; k++) {
      now = k * 100;
      const heldBack = gate.pass('refused: other cluster');
      if (heldBack !== null) passed.push(heldBack);
    }
    expect(passed).toEqual([9, 9]);
    expect(gate.pass('another cause')).toBe(0);
    expect(gate.forgetAll()).toBe(5);
    expect(gate.pass('refused: other cluster')).toBe(0);
  });

  it('with an infinite interval passes each key once until forgotten, and remembers at most keysMax keys', () => {
    const gate = new RepeatGate({ intervalMs: Infinity, keysMax: 2, nowMs: () => 0 });
    expect([gate.pass('a'), gate.pass('a'), gate.pass('b'), gate.pass('b')]).toEqual([0, null, 0, null]);
    gate.pass('c'); // forgets 'a', the oldest
    expect(gate.pass('a')).toBe(0);
    expect(gate.pass('c')).toBeNull();
    expect(heldBackNote(0)).toBe('');
    expect(heldBackNote(3)).toContain('3 more');
  });
});

describe('the line format', () => {
  const json = '{"level":"warn","time":"2026-01-02T10:00:01.234Z","node":"n2","term":7,"role":"follower","event":"peer-refused","peer":"n3","msg":"peer n3 at 127.0.0.1:7603: refused (wrong cluster)"}';

  it('parses a JSON line into its level, time, node, term, role, message and other fields', () => {
    expect(parseLogLine(json)).toEqual({
      level: 'warn',
      time: '2026-01-02T10:00:01.234Z',
      node: 'n2',
      term: 7,
      role: 'follower',
      msg: 'peer n3 at 127.0.0.1:7603: refused (wrong cluster)',
      fields: { event: 'peer-refused', peer: 'n3' },
    });
    expect(parseLogLine('{"level":30,"time":0,"msg":"numbers too"}')).toMatchObject({ level: 'info', time: '1970-01-01T00:00:00.000Z', node: null, term: null });
  });

  it('leaves anything that is not a line of ours alone', () => {
    for (const text of ['serving clients on 127.0.0.1:1', '{"t":"started"}', '{"level":"loud","msg":"x"}', '{not json', '[1,2]', '']) expect(parseLogLine(text), text).toBeNull();
  });

  it('renders a readable line, with or without the node and the date', () => {
    const line = parseLogLine(json);
    if (line === null) throw new Error('parse failed');
    expect(renderLogText(line)).toBe('2026-01-02T10:00:01.234Z WARN  n2 [follower t7] peer n3 at 127.0.0.1:7603: refused (wrong cluster)');
    expect(renderLogText(line, { node: false, clock: true })).toBe('10:00:01.234 WARN  [follower t7] peer n3 at 127.0.0.1:7603: refused (wrong cluster)');
    expect(renderLogText({ ...line, term: null, role: null })).toBe('2026-01-02T10:00:01.234Z WARN  n2 peer n3 at 127.0.0.1:7603: refused (wrong cluster)');
  });
});
