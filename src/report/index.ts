export { esc, KIND_COLOURS, lineChart, logLineChart, opScatter, shadingLegend, barChart, type Series, type Bar } from './charts.js';
