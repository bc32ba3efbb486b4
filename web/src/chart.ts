// A small line chart in SVG: the last N samples of one or more series,
// scaled to [0, max].  Built with DOM calls, so no inline markup.
const NS = 'http://www.w3.org/2000/svg';

export function lineChart(title: string, series: { label: string; values: number[]; cls: string }[],
                          max: number, fmt: (v: number) => string): SVGSVGElement {
  const W = 300, H = 100, N = 60;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  const last = series.map((s) => `${s.label} ${s.values.length ? fmt(s.values[s.values.length - 1]) : '—'}`);
  svg.setAttribute('aria-label', `${title}: ${last.join(', ')}`);
  for (const y of [0.25, 0.5, 0.75]) {
    const l = document.createElementNS(NS, 'line');
    l.setAttribute('x1', '0'); l.setAttribute('x2', String(W));
    l.setAttribute('y1', String(H * y)); l.setAttribute('y2', String(H * y));
    l.setAttribute('class', 'grid');
    svg.appendChild(l);
  }
  const top = max > 0 ? max : 1;
  for (const s of series) {
    const v = s.values.slice(-N);
    const pts = v.map((x, i) => `${((N - v.length + i) * W) / (N - 1)},${H - (Math.min(x, top) / top) * (H - 4) - 2}`);
    const p = document.createElementNS(NS, 'polyline');
    p.setAttribute('points', pts.join(' '));
    p.setAttribute('class', 'line ' + s.cls);
    svg.appendChild(p);
  }
  return svg;
}
