export { esc, KIND_COLOURS, lineChart, logLineChart, opScatter, shadingLegend, barChart, type Series, type Bar } from './charts.js';
export type { FaultWindow, Op as ChartOp } from './report-types.js';
