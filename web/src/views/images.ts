// Images: container images (config digest, layers) and VM boot images
// (kernel, initrd, command line), each imported from paths on corrald's
// host (an operation, waited for) and deleted — both for admins only, as
// the server's routes say.
import { call, can } from '../api';
import { bytes, h } from '../dom';
import { deleteButton, listSection } from './common';

type List = ReturnType<typeof listSection>;
const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

export function imagesView(main: HTMLElement): () => void {
  main.appendChild(h('h1', {}, 'Images'));
  const admin = can('admin');
  const of = (type: string) => () => call('GET', '/images').then((is: any[]) => is.filter((i) => i.type === type));
  const del = (i: any, list: List): HTMLElement | null =>
    admin ? deleteButton(`image ${i.name}`, `/images/${encodeURIComponent(i.name)}`, () => list.load()) : null;
  const checkName = (name: string) => {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) throw new Error('The name must match ^[a-z0-9][a-z0-9-]{0,62}$.');
  };
  const checkPath = (what: string, path: string) => {
    if (!path.startsWith('/')) throw new Error(`The ${what} is an absolute path on corrald\u2019s host.`);
  };
  const images: List = listSection<any>('Container images', 'images', of('container'), [
    { title: 'Name', cell: (i) => h('span', { 'data-image': i.name }, i.name) },
    { title: 'Config digest', cell: (i) => h('code', { title: i.config }, short(i.config)) },
    { title: 'Layers', cell: (i) => h('span', { title: (i.layers ?? []).join('\n') }, String((i.layers ?? []).length)) },
    { title: '', cell: (i) => del(i, images) },
  ], admin ? {
    label: 'Import container image', ok: 'Import',
    inputs: [
      { name: 'name', label: 'Name', required: true, hint: 'What containers call it: lower-case letters, digits and “-”' },
      { name: 'path', label: 'Path on the host', required: true,
        hint: 'Absolute path of an OCI image layout (a directory or a tar of one) or a docker-archive tar (docker save), under a directory corrald allows (--host-path-allow)' },
    ],
    submit: (v) => {
      checkName(v.name);
      checkPath('path', v.path);
      return call('POST', '/images', { name: v.name, path: v.path });
    },
  } : undefined);
  const file = (f: any) => f ? h('span', { title: `SHA-256 ${f.sha256}` }, bytes(f.size)) : '—';
  const vmImages: List = listSection<any>('VM images', 'vm-images', of('vm'), [
    { title: 'Name', cell: (i) => h('span', { 'data-image': i.name }, i.name) },
    { title: 'Kernel', cell: (i) => h('span', {}, `${i.kernel?.format ?? ''} `, file(i.kernel)) },
    { title: 'Initrd', cell: (i) => file(i.initrd) },
    { title: 'Command line', cell: (i) => i.cmdline ? h('code', {}, i.cmdline) : '—' },
    { title: '', cell: (i) => del(i, vmImages) },
  ], admin ? {
    label: 'Import VM image', ok: 'Import',
    inputs: [
      { name: 'name', label: 'Name', required: true, hint: 'What VMs boot: lower-case letters, digits and “-”' },
      { name: 'kernel', label: 'Kernel on the host', required: true, hint: 'Absolute path of an x86-64 bzImage or ELF64 kernel, under a directory corrald allows (--host-path-allow)' },
      { name: 'initrd', label: 'Initrd on the host', hint: 'Absolute path, under an allowed directory too; optional' },
      { name: 'cmdline', label: 'Command line', value: 'console=ttyS0', hint: 'The default; a VM may give its own' },
    ],
    submit: (v) => {
      checkName(v.name);
      checkPath('kernel', v.kernel);
      if (v.initrd) checkPath('initrd', v.initrd);
      const body: any = { name: v.name, type: 'vm', kernel: v.kernel, cmdline: v.cmdline };
      if (v.initrd) body.initrd = v.initrd;
      return call('POST', '/images', body);
    },
  } : undefined);
  main.appendChild(images.section);
  main.appendChild(vmImages.section);
  return () => { images.unsub(); vmImages.unsub(); };
}
