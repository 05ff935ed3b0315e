// Small pieces every screen shares.
import { html, useState, useEffect, useRef, useCallback } from './vendor/preact-htm.js';
import { call, prefetched, OfflineError } from './rpc.js';

export { html };

// deriveStatus mirrors model.DeriveStatus (the StartOS UI's
// pkg-status-rendering), so every frontend shows the same status.
export function deriveStatus(e) {
  if (!e || e.stateInfo.state !== 'installed') return { status: e ? e.stateInfo.state : 'unknown', health: '' };
  const si = e.statusInfo;
  const desired = (si.desired && si.desired.main) || 'stopped';
  const checks = Object.values(si.health || {});
  const any = (...rs) => checks.some((c) => rs.includes(c.result));
  let health = '';
  if (desired === 'running' && checks.length) {
    health = any('failure') ? 'failure' : any('starting') ? 'starting' : any('loading') ? 'loading' : 'success';
  }
  let status = desired;
  if (si.error) status = 'error';
  else if (si.configured === false && !si.started) status = 'needs-config';
  else if (desired === 'running' && (!si.started || any('starting', 'waiting'))) status = 'starting';
  else if (desired === 'stopped' && si.started) status = 'stopping';
  return { status, health };
}

export function manifestOf(e) {
  return (e && (e.stateInfo.manifest || (e.stateInfo.installingInfo && e.stateInfo.installingInfo.newManifest))) || {};
}

export function titleOf(id, e) {
  return manifestOf(e).title || id;
}

// iconURL accepts only icons served by the box itself.
export function iconURL(e) {
  const u = e && e.icon;
  return typeof u === 'string' && (u.startsWith('/') || u.startsWith('data:image/')) && !u.startsWith('//') ? u : null;
}

export function Badge({ kind, value, label }) {
  const data = { ['data-' + kind]: value || '' };
  return html`<span class=${'badge badge-' + (value || 'none')} ...${data}>${value ? label || value : label || ''}</span>`;
}

export function ErrorBox({ error }) {
  return html`<p class="error" role="alert">${error ? error.message : ''}</p>`;
}

// Progress renders StartOS's progress forms: null, false, true or {done, total}.
export function Progress({ name, p }) {
  let bar, text;
  if (p === null || p === undefined) { bar = html`<progress aria-label=${name} max="1" value="0"></progress>`; text = 'waiting'; }
  else if (p === false) { bar = html`<progress aria-label=${name}></progress>`; text = 'working'; }
  else if (p === true) { bar = html`<progress aria-label=${name} max="1" value="1"></progress>`; text = 'done'; }
  else {
    const total = p.total || 0;
    bar = total ? html`<progress aria-label=${name} max=${total} value=${p.done}></progress>` : html`<progress aria-label=${name}></progress>`;
    text = p.units === 'bytes' ? fmtBytes(p.done) + (total ? ' of ' + fmtBytes(total) : '') : p.done + (total ? ' / ' + total : '');
  }
  return html`<div class="progress"><span class="progress-name">${name}</span>${bar}<span class="progress-text">${text}</span></div>`;
}

export function fmtBytes(n) {
  if (n == null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

export function fmtDuration(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m ${s % 60}s`;
  return `${m}m ${s % 60}s`;
}

export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  return isNaN(d) ? '—' : d.toLocaleString();
}

// useCall runs a method when deps change and keeps its last answer; reload
// runs it again. Errors are kept, not thrown.
export function useCall(method, params, deps, everyMs) {
  const [state, set] = useState(() => {
    const v = prefetched.get(method);
    prefetched.delete(method);
    return { value: v || null, error: null, loading: !v };
  });
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const n = ++seq.current;
    try {
      const value = await call(method, params);
      if (n === seq.current) set({ value, error: null, loading: false });
    } catch (error) {
      // The box not answering while a value is shown is the connection
      // badge's news ("reconnecting"), not this card's: keep the value.
      if (n === seq.current) set((s) => (error instanceof OfflineError && s.value ? { ...s, loading: false } : { value: s.value, error, loading: false }));
    }
  }, deps);
  const first = useRef(true);
  useEffect(() => {
    if (!(first.current && state.value)) reload();
    first.current = false;
    if (!everyMs) return;
    const t = setInterval(reload, everyMs);
    return () => clearInterval(t);
  }, [reload]);
  return { ...state, reload };
}

// useStream follows a streaming method on the socket while mounted.
export function useStream(socket, method, params, deps, reduce, initial) {
  const [value, set] = useState(initial);
  useEffect(() => {
    set(initial);
    return socket.subscribe(method, params, {
      onStart: (v) => set((s) => reduce(s, v, true)),
      onItem: (v) => set((s) => reduce(s, v, false)),
    });
  }, deps);
  return value;
}

// Busy button: disabled while its action runs; reports errors to onError.
export function ActionButton({ onClick, children, kind, onError, disabled, id, label }) {
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try { await onClick(); onError && onError(null); } catch (e) { onError ? onError(e) : console.error(e); } finally { setBusy(false); }
  };
  return html`<button type="button" id=${id} aria-label=${label} class=${kind || ''} disabled=${busy || disabled} aria-busy=${busy} onClick=${run}>${children}</button>`;
}

// useConfirm asks in a modal dialog of the page (not window.confirm, which
// blocks the page and cannot be styled): ask(text, verb) resolves to true
// when the person confirms. Render the returned element once.
export function useConfirm() {
  const [q, setQ] = useState(null); // {text, verb, resolve}
  const ask = useCallback((text, verb) => new Promise((resolve) => setQ({ text, verb, resolve })), []);
  const answer = (yes) => { if (q) q.resolve(yes); setQ(null); };
  const el = q ? html`<${ConfirmDialog} text=${q.text} verb=${q.verb} answer=${answer} />` : '';
  return [el, ask];
}

function ConfirmDialog({ text, verb, answer }) {
  const ref = useRef(null);
  const yes = useRef(false);
  useEffect(() => { ref.current.showModal(); }, []);
  return html`<dialog ref=${ref} id="confirm-dialog" aria-labelledby="confirm-text" onClose=${() => answer(yes.current)}>
    <form method="dialog" onSubmit=${() => { yes.current = true; }}>
      <p id="confirm-text">${text}</p>
      <div class="buttons">
        <button type="button" id="confirm-cancel" onClick=${() => ref.current.close()}>Cancel</button>
        <button type="submit" class="danger" id="confirm-yes">${verb}</button>
      </div>
    </form>
  </dialog>`;
}
