export { AppendWorkload, type AckedRecord, type AppendFate, type BackgroundWrites } from './append-workload.js';
export { PAYLOAD_HEADER_BYTES } from './payload.js';
export { chartHtml, formatReport } from './report.js';
export { ComparisonFileError, parseComparison, type ComparedResult } from './comparison.js';
export { BenchInterruptedError, runBench, type BenchConfig, type BenchHooks, type BenchReport, type NodeUsage } from './run-bench.js';
export { checkAckOrder, checkWrites, readWholeLog, type LoggedRecord, type WriteProblem, type WriteProblemKind, type WriteSource } from './write-check.js';
export { runSnapshotBench, SNAPSHOT_BENCH_CASES, type SnapshotBenchCase, type SnapshotBenchConfig, type SnapshotBenchReport } from './snapshot-bench.js';
export { formatSnapshotReport } from './snapshot-report.js';
export { measureNodeCpu, METRICS_CPU_DEFAULTS, runMetricsCpu, type MetricsCpuOptions, type MetricsCpuReport, type MetricsCpuRun, type NodeCpuOptions, type NodeObserver } from './metrics-cpu.js';
