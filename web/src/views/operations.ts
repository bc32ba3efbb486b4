import { call } from '../api';
import { badge, h, when } from '../dom';
import { listSection } from './common';

export function operationsView(main: HTMLElement): () => void {
  main.appendChild(h('h1', {}, 'Operations'));
  const s = listSection<any>('Recent operations', 'operations', () => call('GET', '/operations'), [
    { title: 'Kind', cell: (o) => o.kind },
    { title: 'Status', cell: (o) => badge(o.status) },
    { title: 'Progress', cell: (o) => h('progress', { max: 100, value: o.progress ?? 0, 'aria-label': `${o.progress ?? 0} %` }) },
    { title: 'Owner', cell: (o) => o.owner },
    { title: 'Resources', cell: (o) => (o.resources ?? []).join(', ') },
    { title: 'Error', cell: (o) => o.error ? h('span', { class: 'error-inline' }, o.error) : '' },
    { title: 'Started', cell: (o) => when(o.created) },
  ]);
  main.appendChild(s.section);
  // Operations change often: reload on their events too.
  let t = 0;
  const timer = setInterval(() => { clearTimeout(t); t = window.setTimeout(s.load, 100); }, 5000);
  return () => { s.unsub(); clearInterval(timer); };
}
