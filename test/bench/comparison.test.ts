import { describe, expect, it } from 'vitest';

import { ComparisonFileError, parseComparison } from '../../src/bench/comparison.js';
import { runCli } from '../harness/cli.js';

describe('a --compare file of other systems\' results', () => {
  it('reads the fields the format names, the optional ones as null', () => {
    expect(parseComparison(JSON.stringify({ results: [{ system: 'X', messagesPerSecond: 12.5, p99Ms: 3, source: 'by hand' }] }))).toEqual([
      { system: 'X', messagesPerSecond: 12.5, p50Ms: null, p99Ms: 3, sizeBytes: null, inflight: null, source: 'by hand' },
    ]);
  });

  it.for([
    ['not json', /not JSON/],
    ['[]', /an object with a "results" array/],
    ['{"results":[]}', /1 to 50 entries, not 0/],
    ['{"results":[3]}', /results\[0\] is not an object/],
    ['{"results":[{"messagesPerSecond":1}]}', /results\[0\]\.system is required/],
    ['{"results":[{"system":"X"}]}', /results\[0\]\.messagesPerSecond is required/],
    ['{"results":[{"system":"X","messagesPerSecond":-1}]}', /messagesPerSecond must be a number above 0/],
    ['{"results":[{"system":"X","messagesPerSecond":1,"p99":2}]}', /unknown field "p99"/],
    ['{"results":[{"system":"","messagesPerSecond":1}]}', /system must be text/],
  ] as const)('refuses %s, saying what is wrong', ([text, message]) => {
    expect(() => parseComparison(text)).toThrow(ComparisonFileError);
    expect(() => parseComparison(text)).toThrow(message);
  });

  it('quorumlog bench refuses a bad file in one line, exit 2, before starting anything', async () => {
    const result = await runCli(['bench', '--compare', '/nonexistent/compare.json']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('quorumlog: --compare /nonexistent/compare.json: no such file\n');
  });
});
