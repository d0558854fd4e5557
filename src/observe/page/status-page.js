// The status page's script: reads /status.json every second and draws it. Every string from
// the JSON reaches the page through textContent or an attribute checked here (topic and group
// names are user input): never through innerHTML. Served with a content-security-policy that
// allows this node's own files and JSON only.
'use strict';

const POLL_MS = 1000;
const FETCH_TIMEOUT_MS = 3000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const CHART = { width: 520, height: 150, left: 46, right: 10, top: 8, bottom: 22 };
/** An address may become a link only when it is plainly host:port. */
const HOST_PORT = /^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/;
const ROLE_NAMES = { leader: 'leader', follower: 'follower', candidate: 'candidate', preCandidate: 'pre-candidate' };
const HEALTH_NAMES = { ready: 'healthy', 'not-ready': 'not ready', repairing: 'repairing', unreachable: 'unreachable' };

let lastSuccessMs = 0;
let lastServedBy = null;

function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
  for (const [name, value] of Object.entries(options.attrs ?? {})) node.setAttribute(name, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function number(value) {
  return value === null || value === undefined ? '–' : Number(value).toLocaleString('en-US');
}

function pageLink(address, text) {
  if (typeof address !== 'string' || !HOST_PORT.test(address)) return document.createTextNode(text);
  return el('a', { text, attrs: { href: `http://${address}/` } });
}

function renderSummary(view) {
  const summary = document.getElementById('summary');
  const healthy = view.members.filter((m) => m.health === 'ready').length;
  summary.replaceChildren();
  if (view.leader === null) {
    summary.append(`No leader known to ${view.servedBy}`);
  } else {
    summary.append('Leader ');
    const strong = el('strong', { attrs: { id: 'leader-id' } }, [view.leader.id === view.servedBy ? document.createTextNode(view.leader.id) : pageLink(view.leader.httpAddress, view.leader.id)]);
    summary.append(strong, ` · term ${view.leader.term}`);
  }
  summary.append(` · ${healthy} of ${view.members.length} members healthy`);
}

function renderAlerts(view) {
  const alerts = [];
  if (view.leader === null) alerts.push(el('div', { className: 'alert', text: `No leader: ${view.servedBy} knows of none. Writes wait until one is elected.` }));
  for (const m of view.members) {
    if (m.health === 'unreachable') alerts.push(el('div', { className: 'alert', text: `${m.id} is unreachable: ${m.healthReason}` }));
    if (m.repair !== null) {
      const percent = m.repair.throughIndex > 0 ? Math.min(100, Math.floor((100 * m.repair.lastIndex) / m.repair.throughIndex)) : 0;
      alerts.push(el('div', { className: 'alert repair', text: `${m.id} is in repair: it lost entries it once held durably; its log is at ${number(m.repair.lastIndex)} of ${number(m.repair.throughIndex)} (${percent}%) and it does not vote until repaired.` }));
    }
    if (m.produceRefused) alerts.push(el('div', { className: 'alert warn', text: `${m.id}'s disk is above its high watermark: new messages are refused.` }));
  }
  document.getElementById('alerts').replaceChildren(...alerts);
}

function renderMembers(view) {
  const rows = view.members.map((m) => {
    const role = m.role === null ? el('span', { text: '–' }) : el('span', { className: `badge role-${m.role}`, text: ROLE_NAMES[m.role] ?? m.role });
    const health = el('span', { className: `health health-${m.health}`, text: HEALTH_NAMES[m.health] ?? m.health });
    const reason = m.health === 'ready' ? null : el('span', { className: 'reason', text: m.healthReason });
    const name = el('td', {}, [pageLink(m.httpAddress, m.id), m.self ? el('span', { className: 'self-mark', text: '(this page)' }) : null]);
    const row = el('tr', { className: [m.leader ? 'leader' : '', m.health === 'unreachable' ? 'unreachable' : ''].join(' ').trim(), attrs: { 'data-member': m.id, 'data-role': m.role ?? 'unknown', 'data-health': m.health, 'data-learner': String(m.learner) } }, [
      name,
      el('td', {}, [role, m.learner ? el('span', { className: 'badge learner', text: 'learner (not voting)' }) : null]),
      el('td', { text: m.term ?? '–' }),
      el('td', {}, [health, reason]),
      el('td', { className: 'num', text: number(m.commitIndex) }),
      el('td', { className: 'num', text: number(m.appliedIndex) }),
      el('td', { className: 'num', text: number(m.lagEntries) }),
      el('td', { className: 'num', text: m.diskUsedPercent === null ? '–' : `${m.diskUsedPercent}%` }),
    ]);
    return row;
  });
  document.querySelector('#members tbody').replaceChildren(...rows);
}

/** A small line chart: x is seconds before the newest sample, y from 0 to the largest value. */
function lineChart(atMs, series, unit) {
  const { width, height, left, right, top, bottom } = CHART;
  const innerW = width - left - right;
  const innerH = height - top - bottom;
  const root = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img' });
  const newest = atMs.length > 0 ? atMs[atMs.length - 1] : 0;
  const spanS = Math.max(60, atMs.length > 0 ? (newest - atMs[0]) / 1000 : 60);
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  max = niceCeiling(max);
  const x = (ms) => left + innerW * (1 - (newest - ms) / 1000 / spanS);
  const y = (v) => top + innerH * (1 - v / max);
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    root.append(svg('line', { class: fraction === 0 ? 'axis' : 'grid', x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    root.append(svg('text', { x: left - 4, y: y(value) + 4, 'text-anchor': 'end' }, `${formatValue(value)}${fraction === 1 ? ` ${unit}` : ''}`));
  }
  for (const secondsAgo of tickSeconds(spanS)) {
    const at = left + innerW * (1 - secondsAgo / spanS);
    root.append(svg('text', { x: at, y: height - 6, 'text-anchor': secondsAgo === 0 ? 'end' : 'middle' }, secondsAgo === 0 ? 'now' : `-${formatAgo(secondsAgo)}`));
  }
  for (const s of series) {
    // A gap (null) breaks the line rather than drawing a zero.
    let points = [];
    const flush = () => {
      if (points.length === 1) root.append(svg('circle', { class: `series ${s.className}`, cx: points[0][0], cy: points[0][1], r: 1.5 }));
      if (points.length > 1) root.append(svg('polyline', { class: `series ${s.className}`, points: points.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(' ') }));
      points = [];
    };
    s.values.forEach((v, k) => {
      if (v === null || atMs[k] === undefined) return flush();
      points.push([x(atMs[k]), y(v)]);
    });
    flush();
  }
  return root;
}

function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function formatValue(value) {
  if (value === 0) return '0';
  if (value >= 1000) return `${Number((value / 1000).toFixed(1))}k`;
  return value >= 100 ? String(Math.round(value)) : String(Number(value.toFixed(value >= 10 ? 1 : 2)));
}

function tickSeconds(spanS) {
  const step = spanS > 240 ? 60 : spanS > 120 ? 30 : 15;
  const ticks = [];
  for (let s = 0; s <= spanS && ticks.length < 12; s += step) ticks.push(s);
  return ticks;
}

function formatAgo(seconds) {
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

function lastValue(values) {
  for (let k = values.length - 1; k >= 0; k--) if (values[k] !== null) return values[k];
  return null;
}

function legend(entries) {
  return entries.flatMap(([className, text]) => [el('span', { className: `legend-swatch ${className}` }), document.createTextNode(text)]);
}

function renderCharts(view) {
  const h = view.chart.history;
  const source = view.chart.from === view.leader?.id ? `${view.chart.from}, the leader` : view.chart.from;
  const commits = document.getElementById('commit-chart');
  const rate = lastValue(h.commitsPerSecond);
  commits.replaceChildren(
    el('figcaption', {}, [el('strong', { text: 'Log entries committed per second' }), ` — now ${rate === null ? '–' : number(Math.round(rate))}/s, last ${Math.round((h.atMs.length * h.intervalMs) / 60000)} min, as ${source} saw them`]),
    lineChart(h.atMs, [{ className: 's-commits', values: h.commitsPerSecond }], '/s'),
  );
  const latency = document.getElementById('latency-chart');
  const p99 = lastValue(h.writeP99Ms);
  latency.replaceChildren(
    el('figcaption', {}, [el('strong', { text: 'Write acknowledgement latency' }), ` — latest p99 ${p99 === null ? '–' : `${formatValue(p99)} ms`}, of appends and produces acknowledged by ${source}`, ...legend([['s-p50', 'p50'], ['s-p99', 'p99']])]),
    lineChart(h.atMs, [{ className: 's-p50', values: h.writeP50Ms }, { className: 's-p99', values: h.writeP99Ms }], 'ms'),
  );
}

function renderTable(selector, rows, columns, emptyText, omitted) {
  const table = document.querySelector(selector);
  const body = rows.length === 0
    ? [el('tr', {}, [el('td', { className: 'empty', text: emptyText, attrs: { colspan: columns.length } })])]
    : rows.map((row) => el('tr', {}, columns.map(([key, numeric]) => el('td', { className: numeric ? 'num' : '', text: numeric ? number(row[key]) : row[key] }))));
  table.querySelector('tbody').replaceChildren(...body);
  const next = table.nextElementSibling;
  if (next !== null && next.classList.contains('more')) next.remove();
  if (omitted > 0) table.after(el('p', { className: 'more', text: `and ${number(omitted)} more not listed` }));
}

function render(view) {
  lastServedBy = view.servedBy;
  document.title = `quorumlog · ${view.leader === null ? 'no leader' : `leader ${view.leader.id}`}`;
  renderSummary(view);
  renderAlerts(view);
  renderMembers(view);
  renderCharts(view);
  renderTable('#topics', view.topics, [['name', false], ['messages', true], ['delayed', true]], 'No topics yet', view.topicsOmitted);
  renderTable('#groups', view.groups, [['name', false], ['topic', false], ['lagMessages', true], ['inflight', true], ['deadLetterTopic', false], ['deadLetterMessages', true]], 'No consumer groups yet', view.groupsOmitted);
}

function renderConnection(error) {
  const connection = document.getElementById('connection');
  const by = lastServedBy === null ? 'this node' : lastServedBy;
  if (error === null) {
    connection.className = 'connection';
    connection.textContent = `Live from ${by} · updated ${new Date(lastSuccessMs).toLocaleTimeString()}`;
  } else {
    connection.className = 'connection stale';
    connection.textContent = lastSuccessMs === 0 ? `Cannot read the status: ${error}` : `${by} stopped answering (${error}); showing ${new Date(lastSuccessMs).toLocaleTimeString()}`;
  }
}

async function poll() {
  try {
    const response = await fetch('/status.json', { cache: 'no-store', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const view = await response.json();
    if (view.version !== 1) throw new Error(`status version ${view.version}, this page reads 1`);
    lastSuccessMs = Date.now();
    render(view);
    renderConnection(null);
  } catch (error) {
    renderConnection(error instanceof Error ? error.message : String(error));
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
