// Container images: the store's list (config digest, layers), an import
// from a path on corrald's host (an operation, waited for) and delete —
// both for admins only, as the server's routes say.
import { call, can } from '../api';
import { h } from '../dom';
import { deleteButton, listSection } from './common';

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

export function imagesView(main: HTMLElement): () => void {
  main.appendChild(h('h1', {}, 'Images'));
  const admin = can('admin');
  const images = listSection<any>('Container images', 'images', () => call('GET', '/images'), [
    { title: 'Name', cell: (i) => h('span', { 'data-image': i.name }, i.name) },
    { title: 'Config digest', cell: (i) => h('code', { title: i.config }, short(i.config)) },
    { title: 'Layers', cell: (i) => h('span', { title: (i.layers ?? []).join('\n') }, String((i.layers ?? []).length)) },
    { title: '', cell: (i) => admin ? deleteButton(`image ${i.name}`, `/images/${encodeURIComponent(i.name)}`, () => images.load()) : null },
  ], admin ? {
    label: 'Import image', ok: 'Import',
    inputs: [
      { name: 'name', label: 'Name', required: true, hint: 'What containers call it: lower-case letters, digits and “-”' },
      { name: 'path', label: 'Path on the host', required: true,
        hint: 'Absolute path of an OCI image layout (a directory or a tar of one) or a docker-archive tar (docker save)' },
    ],
    submit: (v) => {
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(v.name)) throw new Error('The name must match ^[a-z0-9][a-z0-9-]{0,62}$.');
      if (!v.path.startsWith('/')) throw new Error('The path is an absolute path on corrald\u2019s host.');
      return call('POST', '/images', { name: v.name, path: v.path });
    },
  } : undefined);
  main.appendChild(images.section);
  return () => images.unsub();
}
