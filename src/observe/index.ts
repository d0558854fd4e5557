/** Seeing inside a running node: Prometheus metrics and health checks over HTTP. */
export { BoundedLabels } from './bounded-labels.js';
export { READY_APPLIED_LAG_ENTRIES_MAX, startHttpEndpoint, type HttpEndpoint, type HttpEndpointOptions } from './http-endpoint.js';
export { MeteredFileSystem, type FileSystemMeter } from './metered-file-system.js';
export { metricsTable } from './metrics-table.js';
export { GROUP_LABELS_MAX, NodeMetrics, TOPIC_LABELS_MAX } from './node-metrics.js';
export { ProposalTimes } from './proposal-times.js';
export { readiness, type Readiness } from './readiness.js';
