// The "Resource use" card of a VM or a container: the server answers
// counters (usage.cpu_seconds, usage.memory_bytes) with each GET, and this
// graphs CPU as their change over the wall time between reads.
import { lineChart } from './chart';
import { bytes, h } from './dom';
import { replace } from './ui';

export interface UsageLabels {
  cpuTitle: string;                                       // the CPU chart's accessible title
  memTitle: string;
  memLine: string;                                        // the memory series' name
  memCaption: (used: number, limit: number) => string;    // limit 0: none
  idle: string;                                           // shown without usage
}

/* Returns show(usage, memoryLimit): call it with each fresh GET. */
export function usageCard(box: HTMLElement, l: UsageLabels): (u: any, limit: number) => void {
  const hist = { cpu: [] as number[], mem: [] as number[] };
  let last: { t: number; cpu: number } | null = null;
  return (u, limit) => {
    if (!u) {
      last = null;
      replace(box, h('h2', {}, 'Resource use'), h('p', { class: 'muted' }, l.idle));
      return;
    }
    const cpu = typeof u.cpu_seconds === 'number' ? u.cpu_seconds : null;
    const mem = typeof u.memory_bytes === 'number' ? u.memory_bytes : null;
    const t = performance.now() / 1000;
    if (last && t - last.t > 0.5 && cpu !== null) hist.cpu.push(Math.max(0, ((cpu - last.cpu) / (t - last.t)) * 100));
    if (!last || t - last.t > 0.5) {
      last = { t, cpu: cpu ?? 0 };
      if (mem !== null) hist.mem.push(mem);
    }
    for (const k of ['cpu', 'mem'] as const) if (hist[k].length > 60) hist[k].shift();
    const cpuNow = cpu === null ? 'not counted on this host'
      : hist.cpu.length ? `${hist.cpu[hist.cpu.length - 1].toFixed(0)} %` : 'measuring…';
    replace(box, h('h2', {}, 'Resource use'),
      h('div', { class: 'charts' },
        h('figure', {}, lineChart(l.cpuTitle, [{ label: 'CPU', values: hist.cpu, cls: 'c1' }],
          Math.max(100, ...hist.cpu), (v) => v.toFixed(0) + ' %'),
          h('figcaption', { 'data-usage': 'cpu' }, `CPU: ${cpuNow}`)),
        h('figure', {}, lineChart(l.memTitle, [{ label: l.memLine, values: hist.mem, cls: 'c2' }],
          Math.max(limit, ...hist.mem), bytes),
          h('figcaption', { 'data-usage': 'memory' }, mem === null ? 'Memory: not counted on this host' : l.memCaption(mem, limit)))));
  };
}
