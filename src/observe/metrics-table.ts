import { NodeMetrics } from './node-metrics.js';

/**
 * docs/metrics.md: every metric a node serves, as its registry defines them (name, type,
 * help), read from a NodeMetrics not attached to a node, so the table cannot drift from the
 * code. The process metrics are those registered on the platform this runs on.
 */
export async function metricsTable(): Promise<string> {
  const metrics = new NodeMetrics();
  const all = await metrics.registry.getMetricsAsJSON();
  metrics.close();
  const ours = all.filter((m) => m.name.startsWith('quorumlog_')).sort((a, b) => (a.name < b.name ? -1 : 1));
  const defaults = all.filter((m) => !m.name.startsWith('quorumlog_')).sort((a, b) => (a.name < b.name ? -1 : 1));
  const row = (m: { name: string; type: unknown; help: string }): string => `| \`${m.name}\` | ${String(m.type)} | ${m.help.replace(/\|/g, '\\|')} |`;
  return [
    '# Metrics',
    '',
    'Each node serves these at `GET /metrics` on its `--http-port` (Prometheus text format). This',
    'file is generated from the code by `npm run docs:metrics`; `test/observe/metrics-doc.test.ts`',
    'fails when it differs from what the code would generate.',
    '',
    'Label values are bounded: `role` takes the four Raft roles, `follower` the members, `call`',
    'and `code` the client calls and the product\'s error codes; `topic` and `group` name the',
    'first 100 topics and groups (the first seen for counters, the first by name for gauges) and',
    'fold the rest into one `(other)` series. Gauges are read from the node when scraped;',
    'counters and histograms move as the node works. Leader-only metrics are counted on the node',
    'that answered as leader, so sum them over the cluster.',
    '',
    '## quorumlog',
    '',
    '| name | type | meaning |',
    '|---|---|---|',
    ...ours.map(row),
    '',
    '## Process and Node.js (prom-client\'s default names, as registered on Linux)',
    '',
    'Event-loop delay (`nodejs_eventloop_lag_*_seconds`) is how late the node\'s own periodic',
    'timers ran past their due time since the previous scrape: mostly its Raft tick, every',
    '`--tick-ms` (50 ms by default). An idle loop reads near zero, where prom-client\'s monitor',
    'reads its 10 ms sampling interval. No timer is added to measure it, so a stall shorter than',
    'the tick shows only when a tick fell due within it; every longer stall shows.',
    '',
    '| name | type | meaning |',
    '|---|---|---|',
    ...defaults.map(row),
    '',
  ].join('\n');
}
