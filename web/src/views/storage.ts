import { call, can } from '../api';
import { bytes, h } from '../dom';
import { deleteButton, listSection } from './common';

export function storageView(main: HTMLElement): () => void {
  main.appendChild(h('h1', {}, 'Storage'));
  const admin = can('admin'), op = can('operator');
  const pools = listSection<any>('Pools', 'pools', () => call('GET', '/pools'), [
    { title: 'Name', cell: (p) => p.name },
    { title: 'Path', cell: (p) => p.path },
    { title: 'Description', cell: (p) => h('span', { class: 'desc' }, p.description ?? '') },
    { title: '', cell: (p) => admin ? deleteButton(`pool ${p.name}`, `/pools/${encodeURIComponent(p.name)}`, () => pools.load()) : null },
  ], admin ? {
    label: 'Create pool',
    inputs: [{ name: 'name', label: 'Name', required: true }, { name: 'description', label: 'Description' }],
    submit: (v) => call('POST', '/pools', { name: v.name, ...(v.description ? { description: v.description } : {}) }),
  } : undefined);
  const volumes = listSection<any>('Volumes', 'volumes', async () => {
    const ps: any[] = await call('GET', '/pools');
    const all = await Promise.all(ps.map((p) => call<any[]>('GET', `/pools/${encodeURIComponent(p.name)}/volumes`)));
    return all.flat();
  }, [
    { title: 'Pool', cell: (v) => v.pool },
    { title: 'Name', cell: (v) => v.name },
    { title: 'Size', cell: (v) => bytes(v.size) },
    { title: 'Format', cell: (v) => v.format },
    { title: 'Base', cell: (v) => v.base ?? '—' },
    { title: 'State', cell: (v) => v.state },
    { title: '', cell: (v) => op ? deleteButton(`volume ${v.pool}/${v.name}`, `/pools/${encodeURIComponent(v.pool)}/volumes/${encodeURIComponent(v.name)}`, () => volumes.load()) : null },
  ], op ? {
    label: 'Create volume',
    inputs: [
      { name: 'pool', label: 'Pool', required: true },
      { name: 'name', label: 'Name', required: true },
      { name: 'size', label: 'Size', required: true, value: '1G', hint: 'e.g. 512M, 10G' },
    ],
    submit: (v) => call('POST', `/pools/${encodeURIComponent(v.pool)}/volumes`, { name: v.name, size: v.size }),
  } : undefined);
  main.appendChild(pools.section);
  main.appendChild(volumes.section);
  return () => { pools.unsub(); volumes.unsub(); };
}
