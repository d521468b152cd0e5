// The friction chart: a small horizontal SVG bar chart of the Gate's counters
// (`gate.metrics()`), so a ward can see whether its policy fits practice.

const NS = 'http://www.w3.org/2000/svg';

export const BARS = [
  { key: 'prompts', label: 'Prompts', color: '#0b5c7a' },
  { key: 'approvals', label: 'Approvals', color: '#1d6b42' },
  { key: 'cancels', label: 'Cancels', color: '#a8231b' },
  { key: 'interrupted', label: 'Interrupted', color: '#8a4b00' },
  { key: 'grantsReused', label: 'Grants reused', color: '#5b3a8e' },
];

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Draw (or redraw) the chart of `metrics` into `container`. */
export function renderFriction(container, metrics) {
  const width = 290;
  const row = 24;
  const labelW = 92;
  const valueW = 28;
  const height = BARS.length * row + 4;
  const max = Math.max(1, ...BARS.map((b) => Number(metrics?.[b.key] ?? 0)));
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': 'Friction counters: ' + BARS.map((b) => `${b.label} ${metrics?.[b.key] ?? 0}`).join(', '),
  });
  BARS.forEach((b, i) => {
    const value = Number(metrics?.[b.key] ?? 0);
    const y = i * row + 4;
    const barMax = width - labelW - valueW - 6;
    const w = value === 0 ? 0 : Math.max(3, Math.round((value / max) * barMax));
    svg.append(el('text', { x: 0, y: y + 13 }, b.label));
    svg.append(el('rect', { x: labelW, y: y + 2, width: barMax, height: 14, rx: 3, fill: '#eef2f5' }));
    svg.append(el('rect', { x: labelW, y: y + 2, width: w, height: 14, rx: 3, fill: b.color, 'data-key': b.key, 'data-value': value }));
    svg.append(el('text', { x: width - valueW + 6, y: y + 13, class: 'val' }, String(value)));
  });
  container.classList.add('friction');
  container.replaceChildren(svg);
}
