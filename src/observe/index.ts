/** Seeing inside a running node: Prometheus metrics and health checks over HTTP. */
export { BoundedLabels } from './bounded-labels.js';
export { CONTENT_SECURITY_POLICY, READY_APPLIED_LAG_ENTRIES_MAX, startHttpEndpoint, type HttpEndpoint, type HttpEndpointOptions } from './http-endpoint.js';
export { FastHistogram, HistogramSeries } from './fast-histogram.js';
export { DiskStatsCache, type DiskStats, type DiskStatsCacheOptions } from './disk-stats.js';
export { DataDirSize, type DataDirSizeOptions, type TrackedFile } from './data-dir-size.js';
export { MeteredFileSystem, type FileSystemMeter } from './metered-file-system.js';
export { metricsTable } from './metrics-table.js';
export { GROUP_LABELS_MAX, NodeMetrics, TOPIC_LABELS_MAX } from './node-metrics.js';
export { ProposalTimes } from './proposal-times.js';
export { readiness, type Readiness } from './readiness.js';
export { clusterView, Health, PAGE_GROUPS_MAX, PAGE_TOPICS_MAX, type ClusterView, type GroupRow, type MemberAnswer, type MemberRow, type TopicRow } from './cluster-view.js';
export { LatencyWindow, quantileMs, type LatencyCounts } from './latency-buckets.js';
export { MemberViews, parseView } from './member-views.js';
export { nodeView, STATUS_VERSION, type NodeView } from './node-view.js';
export { HISTORY_INTERVAL_MS, HISTORY_SAMPLES_MAX, StatusHistory, type HistoryColumns } from './status-history.js';
export { StatusPage, type StatusPageOptions } from './status-page.js';
export { createNodeLog, type NodeLogOptions } from './node-log.js';
