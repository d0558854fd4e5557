import type { FaultWindow, Op } from './report-types.js';

/**
 * Charts for the reports (the jepsen-style report, the bench's page) as inline SVG, with no
 * script and nothing fetched: a time axis with faults shaded (their heal marked), a value
 * axis that is linear or logarithmic with labelled ticks and its unit, a legend on its own
 * row under the title. Each chart scales to the page's width (viewBox, width 100%, a
 * max-width) instead of a fixed size.
 */

const WIDTH = 1000;
const HEIGHT = 260;
/** Title on the first row, the series legend on the second, the plot below both. */
const MARGIN = { left: 64, right: 20, top: 46, bottom: 44 };
const TITLE_Y = 15;
const LEGEND_Y = 32;

export const KIND_COLOURS: Readonly<Record<string, string>> = { kill: '#e57373', pause: '#64b5f6', partition: '#ffb74d', power: '#ba68c8', disk: '#81c784', consumer: '#90a4ae' };

export interface Series {
  readonly name: string;
  readonly colour: string;
  /** One value per second of the run (null: nothing that second). */
  readonly values: readonly (number | null)[];
}

/** One operation drawn as a point: its completion time and latency. */
interface OpPoint {
  readonly atS: number;
  readonly valueMs: number;
  readonly outcome: Op['outcome'];
}

type Axis = { readonly kind: 'linear'; readonly max: number } | { readonly kind: 'log'; readonly min: number; readonly max: number };

interface Frame {
  readonly x: (seconds: number) => number;
  readonly y: (value: number) => number;
  readonly innerW: number;
  readonly innerH: number;
}

/** Points drawn at most; beyond it a uniform sample (every k-th), so a long run stays light. */
const POINTS_MAX = 20_000;

/** Per-second series on a linear axis (throughput). */
export function lineChart(p: { readonly title: string; readonly seconds: number; readonly faults?: readonly FaultWindow[]; readonly series: readonly Series[]; readonly unit: string; readonly xLabel?: string }): string {
  const max = p.series.reduce((m, s) => s.values.reduce<number>((mm, v) => (v === null ? mm : Math.max(mm, v)), m), 1);
  const axis: Axis = { kind: 'linear', max };
  const frame = frameOf(p.seconds, axis);
  return svg(p.title, [legend(p.series.map((s) => ({ name: s.name, colour: s.colour, mark: 'line' }))), yTicks(axis, frame, p.unit), shading(p.faults ?? [], frame), lines(p.series, frame), xTicks(p.seconds, frame, p.xLabel), axes(frame)]);
}

/** Per-second series on a logarithmic axis (latency quantiles): one spike flattens nothing. */
export function logLineChart(p: { readonly title: string; readonly seconds: number; readonly faults?: readonly FaultWindow[]; readonly series: readonly Series[]; readonly unit: string; readonly xLabel?: string }): string {
  const values = p.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const axis = logAxis(values);
  const frame = frameOf(p.seconds, axis);
  return svg(p.title, [legend(p.series.map((s) => ({ name: s.name, colour: s.colour, mark: 'line' }))), yTicks(axis, frame, p.unit), shading(p.faults ?? [], frame), lines(p.series, frame), xTicks(p.seconds, frame, p.xLabel), axes(frame)]);
}

/**
 * Every operation as a point at its completion on a logarithmic latency axis: acknowledged
 * ones, and the ones a client gave up on (unknown outcome, drawn at the moment it gave up,
 * i.e. its deadline) or was refused, so the tail a client saw is all there. The first
 * acknowledged operation after each fault heals is marked (recovery).
 */
export function opScatter(p: { readonly title: string; readonly seconds: number; readonly faults: readonly FaultWindow[]; readonly ops: readonly Op[] }): string {
  const step = Math.max(1, Math.ceil(p.ops.length / POINTS_MAX));
  const points: OpPoint[] = [];
  for (let k = 0; k < p.ops.length; k += step) {
    const op = p.ops[k];
    if (op !== undefined) points.push({ atS: op.completeMs / 1000, valueMs: Math.max(0.1, op.completeMs - op.invokeMs), outcome: op.outcome });
  }
  const axis = logAxis(points.map((pt) => pt.valueMs));
  const frame = frameOf(p.seconds, axis);
  const style: Record<Op['outcome'], { readonly colour: string; readonly name: string }> = {
    ok: { colour: '#1565c0', name: 'acknowledged' },
    info: { colour: '#f9a825', name: 'unknown: gave up at its deadline' },
    fail: { colour: '#c62828', name: 'refused' },
  };
  const dots = points
    .map((pt) => {
      const cx = frame.x(pt.atS).toFixed(1);
      const cy = frame.y(pt.valueMs).toFixed(1);
      const { colour } = style[pt.outcome];
      return pt.outcome === 'ok'
        ? `<circle class="op-ok" cx="${cx}" cy="${cy}" r="1.2" fill="${colour}" fill-opacity="0.5"/>`
        : `<path class="op-${pt.outcome}" d="M${cx} ${cy}m-3 -3l6 6m0 -6l-6 6" stroke="${colour}" stroke-width="1.4"/>`;
    })
    .join('');
  const recoveries = recoveryMarks(p.faults, p.ops, frame);
  const keys = (['ok', 'info', 'fail'] as const).map((o) => ({ name: style[o].name, colour: style[o].colour, mark: o === 'ok' ? ('dot' as const) : ('cross' as const) }));
  return svg(p.title, [legend([...keys, { name: 'recovered: first acknowledgement after a heal', colour: '#2e7d32', mark: 'line' }]), yTicks(axis, frame, 'ms'), shading(p.faults, frame), dots, recoveries, xTicks(p.seconds, frame), axes(frame)]);
}

export interface Bar {
  readonly name: string;
  readonly value: number;
  readonly colour: string;
}

/**
 * Horizontal bars on one linear scale with labelled ticks and each bar's value written at
 * its end: our figure set against the limits measured in the same run.
 */
export function barChart(p: { readonly title: string; readonly bars: readonly Bar[]; readonly unit: string }): string {
  const labelW = 260;
  const rowH = 26;
  const top = 30;
  const height = top + rowH * p.bars.length + 36;
  const innerW = WIDTH - labelW - MARGIN.right - 60;
  const max = p.bars.reduce((m, b) => Math.max(m, b.value), 1);
  const x = (v: number): number => labelW + (innerW * v) / max;
  const rows = p.bars
    .map((b, k) => {
      const y = top + k * rowH;
      return (
        `<text class="bar-label" x="${labelW - 8}" y="${y + 16}" font-size="11" text-anchor="end">${esc(b.name)}</text>` +
        `<rect x="${labelW}" y="${y + 4}" width="${Math.max(1, x(b.value) - labelW).toFixed(1)}" height="${rowH - 8}" fill="${b.colour}"/>` +
        `<text class="bar-value" x="${(x(b.value) + 4).toFixed(1)}" y="${y + 16}" font-size="11">${formatNumber(b.value)}</text>`
      );
    })
    .join('');
  const bottom = top + rowH * p.bars.length;
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<line x1="${x(max * f).toFixed(1)}" x2="${x(max * f).toFixed(1)}" y1="${top}" y2="${bottom + 4}" stroke="#eee"/><text class="x-tick" x="${x(max * f).toFixed(1)}" y="${bottom + 16}" font-size="10" text-anchor="middle">${formatNumber(max * f)}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="100%" style="max-width:${WIDTH}px" role="img" aria-label="${esc(p.title)}">
<text class="title" x="${MARGIN.left}" y="${TITLE_Y}" font-size="13" font-weight="bold">${esc(p.title)}</text>
${ticks}${rows}<line x1="${labelW}" x2="${labelW}" y1="${top}" y2="${bottom}" stroke="#444"/>
<text x="${labelW + innerW / 2}" y="${height - 4}" font-size="10" text-anchor="middle">${esc(p.unit)}</text>
</svg>`;
}

function formatNumber(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? 1 : 2);
}

/** The fault kinds' colours, as an HTML legend for every chart's shading. */
export function shadingLegend(faults: readonly FaultWindow[]): string {
  const kinds = [...new Set(faults.map((f) => f.kind))];
  if (kinds.length === 0) return '';
  const items = kinds.map((kind) => `<span class="shade"><i style="background:${KIND_COLOURS[kind] ?? '#bdbdbd'}"></i>${esc(kind)}</span>`);
  return `<p class="shading-legend">Shaded: a fault in force, by kind: ${items.join(' ')}; the dashed line is where it healed.</p>`;
}

function frameOf(seconds: number, axis: Axis): Frame {
  const innerW = WIDTH - MARGIN.left - MARGIN.right;
  const innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (s: number): number => MARGIN.left + (innerW * s) / Math.max(1, seconds);
  const y =
    axis.kind === 'linear'
      ? (v: number): number => MARGIN.top + innerH - (innerH * v) / axis.max
      : (v: number): number => MARGIN.top + innerH - (innerH * (Math.log10(Math.max(v, axis.min)) - Math.log10(axis.min))) / (Math.log10(axis.max) - Math.log10(axis.min));
  return { x, y, innerW, innerH };
}

/** Decades around the values: 1 ms up to the first power of ten at or above the largest. */
function logAxis(values: readonly number[]): Axis {
  let max = 10;
  let min = 1;
  for (const v of values) {
    while (v > max) max *= 10;
    while (v < min && min > 0.01) min /= 10;
  }
  return { kind: 'log', min, max };
}

function svg(title: string, parts: readonly string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" style="max-width:${WIDTH}px" role="img" aria-label="${esc(title)}">
<text class="title" x="${MARGIN.left}" y="${TITLE_Y}" font-size="13" font-weight="bold">${esc(title)}</text>
${parts.join('\n')}
</svg>`;
}

function legend(items: readonly { readonly name: string; readonly colour: string; readonly mark: 'line' | 'dot' | 'cross' }[]): string {
  let x = MARGIN.left;
  return items
    .map((item) => {
      const mark =
        item.mark === 'line'
          ? `<line x1="${x}" x2="${x + 14}" y1="${LEGEND_Y - 4}" y2="${LEGEND_Y - 4}" stroke="${item.colour}" stroke-width="2"/>`
          : item.mark === 'dot'
            ? `<circle cx="${x + 7}" cy="${LEGEND_Y - 4}" r="3" fill="${item.colour}"/>`
            : `<path d="M${x + 4} ${LEGEND_Y - 7}l6 6m0 -6l-6 6" stroke="${item.colour}" stroke-width="1.5"/>`;
      const text = `<text class="legend" x="${x + 18}" y="${LEGEND_Y}" font-size="11">${esc(item.name)}</text>`;
      // About 6 px a character at 11 px: the next item starts after this one's text.
      x += 30 + item.name.length * 6;
      return mark + text;
    })
    .join('');
}

function yTicks(axis: Axis, frame: Frame, unit: string): string {
  const values = axis.kind === 'linear' ? [0, 0.25, 0.5, 0.75, 1].map((f) => axis.max * f) : decades(axis.min, axis.max);
  const label = (v: number): string => (axis.kind === 'linear' ? String(Math.round(v)) : v >= 1000 ? `${v / 1000} s` : `${v} ms`);
  const ticks = values
    .map((v) => `<line x1="${MARGIN.left - 4}" x2="${WIDTH - MARGIN.right}" y1="${frame.y(v).toFixed(1)}" y2="${frame.y(v).toFixed(1)}" stroke="#eee"/><text class="y-tick" x="${MARGIN.left - 6}" y="${(frame.y(v) + 3).toFixed(1)}" font-size="10" text-anchor="end">${label(v)}</text>`)
    .join('');
  const midY = MARGIN.top + frame.innerH / 2;
  const scale = axis.kind === 'log' ? `${unit}, log scale` : unit;
  return `${ticks}<text x="14" y="${midY}" font-size="10" transform="rotate(-90 14 ${midY})" text-anchor="middle">${esc(scale)}</text>`;
}

function decades(min: number, max: number): number[] {
  const out: number[] = [];
  // Bounded: from min to max by factors of ten, min >= 0.01 and max finite.
  for (let v = min; v <= max * 1.0001 && out.length < 12; v *= 10) out.push(Number(v.toPrecision(3)));
  return out;
}

function xTicks(seconds: number, frame: Frame, label = 'seconds since the run started'): string {
  const ticks = Array.from({ length: 11 }, (_, k) => Math.round((seconds * k) / 10))
    .map((s) => `<line x1="${frame.x(s)}" x2="${frame.x(s)}" y1="${MARGIN.top + frame.innerH}" y2="${MARGIN.top + frame.innerH + 4}" stroke="#444"/><text class="x-tick" x="${frame.x(s)}" y="${MARGIN.top + frame.innerH + 16}" font-size="10" text-anchor="middle">${s}</text>`)
    .join('');
  return `${ticks}<text x="${MARGIN.left + frame.innerW / 2}" y="${HEIGHT - 6}" font-size="10" text-anchor="middle">${esc(label)}</text>`;
}

function axes(frame: Frame): string {
  const bottom = MARGIN.top + frame.innerH;
  return `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${bottom}" stroke="#444"/><line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${bottom}" y2="${bottom}" stroke="#444"/>`;
}

/** Each fault's window shaded in its kind's colour, labelled kind:variant and its targets, its heal dashed. */
function shading(faults: readonly FaultWindow[], frame: Frame): string {
  return faults
    .map((f) => {
      const x0 = frame.x(f.startMs / 1000);
      const x1 = frame.x(f.endMs / 1000);
      const w = Math.max(1, x1 - x0);
      const colour = KIND_COLOURS[f.kind] ?? '#bdbdbd';
      const full = `#${f.faultId} ${f.kind}:${f.variant} ${f.targets.join(',')} ${f.detail}`;
      // Labels take three rows in turn so neighbours do not overprint; one too long for its
      // window and the gap after it is cut, and the whole of it is in the tooltip.
      const label = fitLabel(`${f.kind}:${f.variant} ${f.targets.join(',')}`, Math.max(w, 60));
      const labelY = MARGIN.top + 10 + (f.faultId % 3) * 11;
      return (
        `<rect class="fault" x="${x0.toFixed(1)}" y="${MARGIN.top}" width="${w.toFixed(1)}" height="${frame.innerH}" fill="${colour}" fill-opacity="0.25"><title>${esc(full)}</title></rect>` +
        `<line class="heal" x1="${x1.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${MARGIN.top}" y2="${MARGIN.top + frame.innerH}" stroke="${colour}" stroke-dasharray="3 2"/>` +
        `<text x="${(x0 + 2).toFixed(1)}" y="${labelY}" font-size="9" fill="#444">${esc(label)}<title>${esc(full)}</title></text>`
      );
    })
    .join('');
}

function fitLabel(text: string, widthPx: number): string {
  // About 5 px a character at 9 px.
  const chars = Math.max(4, Math.floor(widthPx / 5));
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

function lines(series: readonly Series[], frame: Frame): string {
  return series
    .map((s) => {
      const segments: string[][] = [[]];
      s.values.forEach((v, k) => {
        if (v === null) segments.push([]);
        else segments[segments.length - 1]?.push(`${frame.x(k + 0.5).toFixed(1)},${frame.y(v).toFixed(1)}`);
      });
      return segments
        .filter((seg) => seg.length > 0)
        .map((seg) => {
          const [first] = seg;
          if (seg.length > 1 || first === undefined) return `<polyline fill="none" stroke="${s.colour}" stroke-width="1.3" points="${seg.join(' ')}"/>`;
          const [cx, cy] = first.split(',');
          return `<circle cx="${cx}" cy="${cy}" r="1.5" fill="${s.colour}"/>`;
        })
        .join('');
    })
    .join('');
}

/** A short green mark at the first acknowledged operation completing after each heal. */
function recoveryMarks(faults: readonly FaultWindow[], ops: readonly Op[], frame: Frame): string {
  const acked = ops.filter((op) => op.outcome === 'ok').map((op) => op.completeMs).sort((a, b) => a - b);
  return faults
    .map((f) => {
      const at = acked.find((ms) => ms >= f.endMs);
      if (at === undefined) return '';
      const x = frame.x(at / 1000).toFixed(1);
      return `<line class="recovered" x1="${x}" x2="${x}" y1="${MARGIN.top + frame.innerH - 10}" y2="${MARGIN.top + frame.innerH}" stroke="#2e7d32" stroke-width="2"><title>${esc(`#${f.faultId} ${f.kind}: first acknowledgement ${at - f.endMs} ms after the heal`)}</title></line>`;
    })
    .join('');
}

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
