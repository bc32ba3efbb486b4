// Talking to corrald: the session cookie goes by itself; writes also send
// the CSRF token the login returned (kept in sessionStorage, so it dies with
// the tab).  A 401 from any call means the session ended: back to /login.
export interface Me { username: string; role: 'auditor' | 'operator' | 'admin'; }

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public retryAfter = 0) {
    super(message);
  }
}

const CSRF_KEY = 'corral.csrf';
const ME_KEY = 'corral.me';
let onUnauthenticated: () => void = () => {};

export function setUnauthenticatedHandler(fn: () => void): void { onUnauthenticated = fn; }
export function me(): Me | null {
  const s = sessionStorage.getItem(ME_KEY);
  return s ? (JSON.parse(s) as Me) : null;
}
export function forget(): void {
  sessionStorage.removeItem(CSRF_KEY);
  sessionStorage.removeItem(ME_KEY);
}

const RANK = { auditor: 1, operator: 2, admin: 3 };
/* True when the current user's role is at least `role`. */
export function can(role: keyof typeof RANK): boolean {
  const m = me();
  return !!m && RANK[m.role] >= RANK[role];
}

async function request(method: string, path: string, body?: unknown, ifMatch?: string): Promise<{ data: any; etag: string | null }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = sessionStorage.getItem(CSRF_KEY) ?? '';
  if (ifMatch) headers['If-Match'] = ifMatch;
  let res: Response;
  try {
    res = await fetch('/api/v1' + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'cannot reach corrald (is it running?)');
  }
  let env: any = null;
  try { env = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const code = env?.error?.code ?? 'http_' + res.status;
    const msg = env?.error?.message ?? `${res.status} ${res.statusText}`;
    const err = new ApiError(res.status, code, msg, Number(res.headers.get('Retry-After') ?? 0));
    if (res.status === 401 && !path.startsWith('/auth/login')) onUnauthenticated();
    throw err;
  }
  return { data: env?.metadata ?? null, etag: res.headers.get('ETag') };
}

export async function call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  return (await request(method, path, body)).data as T;
}

/* A resource with its ETag, and an update that applies only if it is unchanged. */
export function getTagged(path: string): Promise<{ data: any; etag: string | null }> {
  return request('GET', path);
}
export async function patchIfMatch<T = any>(path: string, body: unknown, etag: string | null): Promise<T> {
  return (await request('PATCH', path, body, etag ?? undefined)).data as T;
}

export async function login(username: string, password: string): Promise<Me> {
  const m = await call<any>('POST', '/auth/login', { username, password });
  sessionStorage.setItem(CSRF_KEY, m.csrf_token);
  const who: Me = { username: m.username, role: m.role };
  sessionStorage.setItem(ME_KEY, JSON.stringify(who));
  return who;
}

/* Asks the server who we are (the role may have changed since login). */
export async function refreshMe(): Promise<Me> {
  const m = await call<any>('GET', '/auth/whoami');
  const who: Me = { username: m.username, role: m.role };
  sessionStorage.setItem(ME_KEY, JSON.stringify(who));
  return who;
}

export async function logout(): Promise<void> {
  try { await call('POST', '/auth/logout'); } finally { forget(); }
}

/* Waits for an operation to end (long polls); throws its error on failure. */
export async function waitOp(op: any): Promise<any> {
  let cur = op;
  while (cur && (cur.status === 'pending' || cur.status === 'running'))
    cur = await call('GET', `/operations/${encodeURIComponent(cur.id)}/wait?timeout=30`);
  if (cur && cur.status !== 'success') throw new ApiError(0, cur.status, cur.error || `operation ${cur.status}`);
  return cur;
}
