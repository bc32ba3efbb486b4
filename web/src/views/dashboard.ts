// The dashboard: host CPU/memory/load graphed over time (polled every few
// seconds; the history survives leaving the page), guests by state and the
// latest operations.
import { call } from '../api';
import { lineChart } from '../chart';
import { badge, bytes, h, table, when } from '../dom';
import { subscribe } from '../events';
import { errorBox, loading, replace } from '../ui';

const POLL_MS = 3000;
const hist = { load: [] as number[], mem: [] as number[], cpu: [] as number[] };
let memTotal = 0;
let lastCpu: { busy: number; idle: number } | null = null;

export function dashboardView(main: HTMLElement): () => void {
  const hostBox = h('section', { class: 'card wide', 'aria-label': 'Host' }, loading('host figures'));
  const guestBox = h('section', { class: 'card', 'aria-label': 'Guests' }, loading('guests'));
  const opsBox = h('section', { class: 'card', 'aria-label': 'Recent operations' }, loading('operations'));
  main.appendChild(h('h1', {}, 'Dashboard'));
  main.appendChild(h('div', { class: 'grid' }, hostBox, guestBox, opsBox));

  const pollHost = async () => {
    try {
      const host = await call('GET', '/host');
      memTotal = host.memory?.total ?? 0;
      hist.load.push(host.load?.[0] ?? 0);
      hist.mem.push(memTotal - (host.memory?.available ?? 0));
      // cpu_time holds counters: busy is their change between two reads.
      const ct = host.cpu_time;
      if (ct && lastCpu) {
        const db = ct.busy - lastCpu.busy, di = ct.idle - lastCpu.idle;
        if (db + di > 0) hist.cpu.push(Math.min(100, (100 * db) / (db + di)));
      }
      lastCpu = ct ?? null;
      for (const k of Object.keys(hist) as (keyof typeof hist)[]) if (hist[k].length > 60) hist[k].shift();
      const used = hist.mem[hist.mem.length - 1];
      replace(hostBox,
        h('h2', {}, 'Host ', h('span', { class: 'muted' }, host.hostname ?? '')),
        h('dl', { class: 'facts' },
          h('dt', {}, 'CPUs'), h('dd', { 'data-fact': 'cpus' }, String(host.cpus)),
          h('dt', {}, 'Memory'), h('dd', { 'data-fact': 'memory' }, `${bytes(used)} used of ${bytes(memTotal)}`),
          h('dt', {}, 'Load'), h('dd', { 'data-fact': 'load' }, (host.load ?? []).map((l: number) => l.toFixed(2)).join(' / ')),
          h('dt', {}, 'Kernel'), h('dd', {}, host.kernel ?? '—'),
          h('dt', {}, 'Engine'), h('dd', {}, `${host.engines?.default ?? '—'}: ${host.engines?.default_reason ?? ''}`)),
        h('div', { class: 'charts' },
          h('figure', {}, lineChart('CPU busy', [{ label: 'CPU', values: hist.cpu, cls: 'c1' }], 100, (v) => v.toFixed(0) + ' %'),
            h('figcaption', { 'data-fact': 'cpu-busy' }, `CPU busy: ${hist.cpu.length ? hist.cpu[hist.cpu.length - 1].toFixed(0) + ' %' : 'measuring…'}`)),
          h('figure', {}, lineChart('Memory used', [{ label: 'used', values: hist.mem, cls: 'c2' }], memTotal, bytes),
            h('figcaption', {}, `Memory used: ${bytes(used)}`)),
          h('figure', {}, lineChart('Load average', [{ label: '1 min', values: hist.load, cls: 'c3' }],
            Math.max(1, ...hist.load) * 1.2, (v) => v.toFixed(2)),
            h('figcaption', {}, `Load (1 min): ${hist.load[hist.load.length - 1].toFixed(2)}`))));
    } catch (e) { replace(hostBox, h('h2', {}, 'Host'), errorBox(e)); }
  };
  const loadGuests = async () => {
    try {
      const [vms, cts]: any[][] = await Promise.all([call('GET', '/vms'), call('GET', '/containers')]);
      const byState = (list: any[], what: string, href: string) => {
        const counts: Record<string, number> = {};
        for (const g of list) counts[g.state] = (counts[g.state] ?? 0) + 1;
        return [h('p', {}, h('a', { href, 'data-link': true }, `${list.length} ${what}${list.length === 1 ? '' : 's'}`)),
          list.length ? h('ul', { class: 'counts', 'data-guests': href.slice(1) }, Object.entries(counts).map(([s, n]) => h('li', {}, badge(s), ` ${n}`))) : null];
      };
      replace(guestBox, h('h2', {}, 'Guests'), ...byState(vms, 'VM', '/vms'), ...byState(cts, 'container', '/containers'));
    } catch (e) { replace(guestBox, h('h2', {}, 'Guests'), errorBox(e)); }
  };
  const loadOps = async () => {
    try {
      const ops: any[] = (await call('GET', '/operations')).slice(0, 6);
      replace(opsBox, h('h2', {}, 'Recent operations'),
        table(ops, [
          { title: 'Operation', cell: (o) => o.kind },
          { title: 'Status', cell: (o) => [badge(o.status), o.error ? h('span', { class: 'error-inline' }, ` ${o.error}`) : null] },
          { title: 'When', cell: (o) => when(o.created) },
        ], 'No operations yet.'));
    } catch (e) { replace(opsBox, h('h2', {}, 'Recent operations'), errorBox(e)); }
  };
  pollHost(); loadGuests(); loadOps();
  const timer = setInterval(pollHost, POLL_MS);
  const unsub = subscribe((type) => {
    if (type === 'lifecycle') loadGuests();
    if (type === 'operation') loadOps();
  });
  return () => { clearInterval(timer); unsub(); };
}
