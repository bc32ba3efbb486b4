// The event stream (SSE at /api/v1/events), shared by every view: one
// EventSource while logged in; views subscribe and unsubscribe.
type Listener = (type: string, data: any) => void;
const listeners = new Set<Listener>();
let source: EventSource | null = null;

export function startEvents(onLost: () => void): void {
  if (source) return;
  source = new EventSource('/api/v1/events', { withCredentials: true });
  for (const t of ['lifecycle', 'operation', 'overflow'])
    source.addEventListener(t, (ev) => {
      let data: any = null;
      try { data = JSON.parse((ev as MessageEvent).data); } catch { /* keep null */ }
      for (const l of listeners) l(t, data);
    });
  source.onerror = () => { if (source?.readyState === EventSource.CLOSED) onLost(); };
}

export function stopEvents(): void {
  source?.close();
  source = null;
}

export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}
