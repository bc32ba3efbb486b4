// A terminal in the page: xterm.js over a console WebSocket (a VM's serial
// port or a container's pty; corrald relays raw bytes both ways).
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { h } from './dom';
import { pruneStyleShim } from './styleshim';

export interface ConsoleHandle { close(): void; }

/* Opens the console at API path `path` (e.g. /vms/vm1/console) under `box`;
 * `closed` is what the status line says when the server ends it. */
export function openConsole(box: HTMLElement, path: string, key: string, closed: string): ConsoleHandle {
  const status = h('p', { class: 'loading', role: 'status' }, 'Connecting to the console…');
  const screen = h('div', { class: 'console-screen', 'data-terminal': key });
  box.appendChild(status);
  box.appendChild(screen);
  const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 2000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  fit.fit();
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/api/v1${path}`);
  ws.binaryType = 'arraybuffer';
  const enc = new TextEncoder();
  ws.onopen = () => { status.textContent = 'Connected. Select text to copy; paste with Ctrl-Shift-V.'; status.className = 'muted'; term.focus(); };
  ws.onmessage = (ev) => term.write(typeof ev.data === 'string' ? ev.data : new Uint8Array(ev.data));
  ws.onclose = () => { status.textContent = closed; status.className = 'error'; };
  const input = term.onData((d) => { if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d)); });
  const onResize = () => fit.fit();
  window.addEventListener('resize', onResize);
  return {
    close() {
      window.removeEventListener('resize', onResize);
      input.dispose();
      ws.close();
      term.dispose();
      screen.remove();
      pruneStyleShim();
    },
  };
}
