// The public RPC surface, and nothing else: POST /rpc/v1 for calls and one
// WebSocket (/ws/rpc) for streams. The session lives in an HttpOnly cookie the
// browser sends by itself; this code never sees a token.

export const Code = { IncorrectPassword: 7, Unauthorized: 34, RateLimited: 37 };

// RpcError is an error envelope from the daemon.
export class RpcError extends Error {
  constructor(e) {
    super((e.data && e.data.details) || e.message);
    this.code = e.code;
    this.title = e.message;
    this.info = e.data && e.data.info;
  }
}

// OfflineError means the daemon did not answer at all.
export class OfflineError extends Error {
  constructor() { super('The box is not answering.'); }
}

// onUnauthorized is called when a call finds the session gone.
export const hooks = { onUnauthorized: () => {} };

let nextID = 1;

// call runs one method over HTTP and returns its result.
export async function call(method, params = {}) {
  let res;
  try {
    res = await fetch('/rpc/v1', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ jsonrpc: '2.0', id: nextID++, method, params }),
    });
  } catch {
    throw new OfflineError();
  }
  if (!res.ok) throw new RpcError({ code: -res.status, message: 'HTTP ' + res.status, data: { details: (await res.text()).trim() } });
  const body = await res.json();
  if (body.error) {
    const err = new RpcError(body.error);
    if (err.code === Code.Unauthorized && method !== 'auth.login') hooks.onUnauthorized();
    throw err;
  }
  return body.result;
}

// batch runs several methods in one HTTP request; each answer is
// {value} or {error}, in order.
export async function batch(calls) {
  let res;
  try {
    res = await fetch('/rpc/v1', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(calls.map(([method, params], i) => ({ jsonrpc: '2.0', id: i, method, params: params || {} }))),
    });
  } catch {
    throw new OfflineError();
  }
  if (!res.ok) throw new RpcError({ code: -res.status, message: 'HTTP ' + res.status, data: { details: (await res.text()).trim() } });
  const body = await res.json();
  const out = calls.map(() => ({ error: new RpcError({ code: -32603, message: 'no answer' }) }));
  for (const r of Array.isArray(body) ? body : [body]) {
    if (r.id == null || !out[r.id]) continue;
    out[r.id] = r.error ? { error: new RpcError(r.error) } : { value: r.result };
  }
  return out;
}

// prefetched holds answers fetched with the boot request, taken once by
// the first screen that asks (see useCall).
export const prefetched = new Map();

// upload sends a file to a one-shot /rest/rpc/<id> and reports bytes sent.
// It resolves when the daemon has finished with it (for a sideload: installed).
export function upload(id, file, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', '/rest/rpc/' + encodeURIComponent(id));
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    x.upload.onload = () => onProgress(file.size, file.size, true);
    x.onerror = () => reject(new OfflineError());
    x.onload = () => {
      if (x.status >= 200 && x.status < 300) return resolve();
      try { reject(new RpcError(JSON.parse(x.responseText).error)); } catch { reject(new RpcError({ code: -x.status, message: 'HTTP ' + x.status, data: { details: x.responseText } })); }
    };
    x.send(file);
  });
}

// Socket is the one WebSocket connection. Subscriptions survive a reconnect:
// each is started again once the socket is back. State is "connecting",
// "open" or "reconnecting"; onState hears every change.
export class Socket {
  constructor(onState) {
    this.onState = onState;
    this.subs = new Set();
    this.bySid = new Map();
    this.pending = new Map();
    this.retries = 0;
    this.closed = false;
    this.state = 'connecting';
    this.open();
  }

  setState(s) {
    if (this.state === s) return;
    const was = this.state;
    this.state = s;
    this.onState(s, was);
  }

  open() {
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/rpc');
    this.ws = ws;
    ws.onopen = () => {
      this.retries = 0;
      this.setState('open');
      for (const s of this.subs) this.start(s);
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      this.receive(m);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const p of this.pending.values()) p.reject(new OfflineError());
      this.pending.clear();
      this.bySid.clear();
      for (const s of this.subs) s.sid = null;
      if (this.closed) return;
      this.setState('reconnecting');
      this.later();
    };
  }

  // later tries again with backoff; it checks over HTTP first, because a
  // browser hides why an upgrade failed and a dead session needs the login.
  later() {
    const delay = Math.min(4000, 200 * 2 ** this.retries++);
    this.timer = setTimeout(async () => {
      if (this.closed) return;
      try {
        await call('auth.session.list');
      } catch (e) {
        if (e instanceof RpcError && e.code === Code.Unauthorized) return; // hooks.onUnauthorized closes us
        return this.later();
      }
      if (!this.closed) this.open();
    }, delay);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }

  request(method, params) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return reject(new OfflineError());
      const id = nextID++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  receive(m) {
    if (m.id != null && this.pending.has(m.id)) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      return m.error ? p.reject(new RpcError(m.error)) : p.resolve(m.result);
    }
    if (!m.method || !m.params) return;
    const s = this.bySid.get(m.params.subscription);
    if (!s) return;
    if (m.method === 'rpc.end') {
      this.bySid.delete(s.sid);
      s.sid = null;
      // One that fell behind starts again from a fresh value.
      if (m.params.reason === 'fell behind' && this.subs.has(s)) return this.start(s);
      if (s.handlers.onEnd) s.handlers.onEnd(m.params.reason);
      return;
    }
    s.handlers.onItem(m.params.value);
  }

  async start(s) {
    const gen = (s.gen = (s.gen || 0) + 1);
    try {
      const r = await this.request(s.method, typeof s.params === 'function' ? s.params() : s.params);
      if (!this.subs.has(s) || gen !== s.gen) {
        this.request('rpc.unsubscribe', { subscription: r.subscription }).catch(() => {});
        return;
      }
      s.sid = r.subscription;
      this.bySid.set(s.sid, s);
      s.handlers.onStart(r.value);
    } catch (e) {
      if (!(e instanceof OfflineError) && s.handlers.onError) s.handlers.onError(e);
    }
  }

  // subscribe opens a stream; params may be a function, read at each
  // (re)start. handlers: onStart(value), onItem(value), onEnd?, onError?.
  subscribe(method, params, handlers) {
    const s = { method, params, handlers, sid: null };
    this.subs.add(s);
    if (this.state === 'open') this.start(s);
    return () => {
      this.subs.delete(s);
      if (s.sid) {
        this.bySid.delete(s.sid);
        this.request('rpc.unsubscribe', { subscription: s.sid }).catch(() => {});
      }
    };
  }
}
