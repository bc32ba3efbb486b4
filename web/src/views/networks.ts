import { call, can } from '../api';
import { h } from '../dom';
import { deleteButton, listSection } from './common';

// On, off (why in its tooltip), or failing: dnsmasq runs but cannot serve
// its hosts, the error written out, as guests then get no address.
function dhcpCell(n: any): HTMLElement {
  if (n.dhcp?.error) return h('span', { class: 'error-inline' }, `failing: ${n.dhcp.error}`);
  return n.dhcp?.running ? h('span', {}, 'on') : h('span', { title: n.dhcp?.reason ?? '' }, 'off');
}

export function networksView(main: HTMLElement): () => void {
  main.appendChild(h('h1', {}, 'Networks'));
  const admin = can('admin');
  const s = listSection<any>('Networks', 'networks', () => call('GET', '/networks'), [
    { title: 'Name', cell: (n) => n.name },
    { title: 'Subnet', cell: (n) => n.subnet },
    { title: 'Gateway', cell: (n) => n.gateway },
    { title: 'Bridge', cell: (n) => n.bridge },
    { title: 'NAT', cell: (n) => n.nat ? 'on' : 'off' },
    { title: 'DHCP', cell: dhcpCell },
    { title: 'Description', cell: (n) => h('span', { class: 'desc' }, n.description ?? '') },
    { title: '', cell: (n) => admin ? deleteButton(`network ${n.name}`, `/networks/${encodeURIComponent(n.name)}`, () => s.load()) : null },
  ], admin ? {
    label: 'Create network',
    inputs: [
      { name: 'name', label: 'Name', required: true, hint: 'Lower-case letters, digits and “-”' },
      { name: 'subnet', label: 'Subnet', required: true, hint: 'e.g. 10.10.1.0/24' },
      { name: 'nat', label: 'NAT', options: ['off', 'on'], hint: 'On: guests reach beyond the host, masqueraded as it' },
      { name: 'description', label: 'Description' },
    ],
    submit: (v) => call('POST', '/networks', {
      name: v.name, subnet: v.subnet, ...(v.nat === 'on' ? { nat: true } : {}), ...(v.description ? { description: v.description } : {}),
    }),
  } : undefined);
  main.appendChild(s.section);
  return s.unsub;
}
