// The StartOS web UI: setup, login, and the screens of a logged-in session.
// State comes from one db.subscribe stream (a live replica of /public);
// everything else is a method of the public table.
import { html, render, useState, useEffect, useLayoutEffect, useRef, useErrorBoundary } from './vendor/preact-htm.js';
import { call, batch, prefetched, hooks, Socket, RpcError, Code } from './rpc.js';
import { applyPatch } from './patch.js';
import { ErrorBox, fmtDuration, useCall, Badge } from './ui.js';
import { ServicesList, ServicePage, Install } from './services.js';
import { Notifications, Sessions, Diagnostics } from './system.js';
import { Backups, SSHKeys, LAN, Settings } from './admin.js';
import { Marketplace } from './market.js';

// perf records, for the benchmark, how long a revision takes to reach the
// screen: from the patch's arrival to the end of the render it caused.
const perf = (window.__startos = { revisionRenderMs: [], patchAt: 0, readyAt: 0 });

function useRoute() {
  const [route, set] = useState(location.hash.slice(1) || '/');
  useEffect(() => {
    const on = () => set(location.hash.slice(1) || '/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

const bootCalls = [['setup.status'], ['auth.session.list'], ['server.time'], ['server.watchdog']];
// The boot request leaves before the first render.
const booting = batch(bootCalls);

function App() {
  const [phase, setPhase] = useState('boot'); // boot, offline, setup, login, ready
  const [bootError, setBootError] = useState(null);

  const boot = async (first) => {
    try {
      // One request says whether the box has an owner and whether this
      // browser is logged in, and fetches what the dashboard shows first.
      const [status, session, time, watchdog] = await (first ? booting : batch(bootCalls));
      if (status.error) throw status.error;
      if (status.value.status !== 'complete') return setPhase('setup');
      if (session.error) throw session.error;
      if (time.value) prefetched.set('server.time', time.value);
      if (watchdog.value) prefetched.set('server.watchdog', watchdog.value);
      setPhase('ready');
    } catch (e) {
      if (e instanceof RpcError && e.code === Code.Unauthorized) return setPhase('login');
      setBootError(e);
      setPhase('offline');
      setTimeout(boot, 1500);
    }
  };
  useEffect(() => {
    hooks.onUnauthorized = () => setPhase('login');
    boot(true);
  }, []);

  switch (phase) {
    case 'boot': return html`<p class="boot">Loading StartOS…</p>`;
    case 'offline': return html`<main class="center"><h1>StartOS</h1><p role="status" class="notice">Cannot reach the box (${bootError && bootError.message}). Trying again…</p></main>`;
    case 'setup': return html`<${Setup} done=${() => setPhase('ready')} />`;
    case 'login': return html`<${Login} done=${() => setPhase('ready')} />`;
    default: return html`<${Session} loggedOut=${() => setPhase('login')} />`;
  }
}

function PasswordField({ id, label, value, set, autocomplete }) {
  return html`<label for=${id}>${label}</label>
    <input id=${id} name=${id} type="password" required minlength="8" autocomplete=${autocomplete} value=${value} onInput=${(e) => set(e.target.value)} />`;
}

function Setup({ done }) {
  const [name, setName] = useState('');
  const [pw, setPw] = useState('');
  const [pw2, setPw2] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    if (pw !== pw2) return setError(new Error('The two passwords differ.'));
    setBusy(true);
    try {
      await call('setup.execute', name.trim() ? { password: pw, name: name.trim() } : { password: pw });
      await call('auth.login', { password: pw });
      done();
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return html`<main class="center">
    <form class="card narrow" id="setup-form" onSubmit=${submit} aria-labelledby="setup-title">
      <h1 id="setup-title">Set up your StartOS box</h1>
      <p>This box has no owner yet. Choose its name and the password that guards it.</p>
      <label for="setup-name">Server name</label>
      <input id="setup-name" name="name" autocomplete="off" placeholder="My StartOS" value=${name} onInput=${(e) => setName(e.target.value)} />
      <${PasswordField} id="setup-password" label="Password (at least 8 characters)" value=${pw} set=${setPw} autocomplete="new-password" />
      <${PasswordField} id="setup-password2" label="Password again" value=${pw2} set=${setPw2} autocomplete="new-password" />
      <${ErrorBox} error=${error} />
      <button type="submit" class="primary" disabled=${busy}>${busy ? 'Setting up…' : 'Set up'}</button>
    </form></main>`;
}

function Login({ done }) {
  const [pw, setPw] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [waitUntil, setWaitUntil] = useState(0);
  const [attempts, setAttempts] = useState(0);
  const [, tick] = useState(0);
  useEffect(() => {
    if (!waitUntil) return;
    const t = setInterval(() => { if (Date.now() >= waitUntil) { setWaitUntil(0); setError(null); } tick((n) => n + 1); }, 250);
    return () => clearInterval(t);
  }, [waitUntil]);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    try {
      await call('auth.login', { password: pw });
      done();
    } catch (e) {
      if (e.code === Code.IncorrectPassword) setError(new Error('Wrong password.'));
      else if (e.code === Code.RateLimited) {
        const ms = (e.info && e.info.retryAfterMs) || 1000;
        setWaitUntil(Date.now() + ms);
        setError(new Error('Too many attempts.'));
      } else setError(e);
    } finally { setBusy(false); setAttempts((n) => n + 1); }
  };
  const wait = waitUntil ? Math.ceil((waitUntil - Date.now()) / 1000) : 0;
  const message = error && (wait > 0 ? new Error(`${error.message} Try again in ${wait} s.`) : error);
  return html`<main class="center">
    <form class="card narrow" id="login-form" data-attempts=${attempts} onSubmit=${submit} aria-labelledby="login-title">
      <h1 id="login-title">Log in to StartOS</h1>
      <${PasswordField} id="login-password" label="Password" value=${pw} set=${setPw} autocomplete="current-password" />
      <${ErrorBox} error=${message} />
      <button type="submit" class="primary" disabled=${busy || wait > 0}>${busy ? 'Logging in…' : 'Log in'}</button>
    </form></main>`;
}

const nav = [
  ['/', 'Dashboard'],
  ['/services', 'Services'],
  ['/marketplace', 'Marketplace'],
  ['/install', 'Install'],
  ['/notifications', 'Notifications'],
  ['/backups', 'Backups'],
  ['/lan', 'LAN access'],
  ['/ssh', 'SSH keys'],
  ['/sessions', 'Sessions'],
  ['/settings', 'Settings'],
  ['/diagnostics', 'Diagnostics'],
];

// Session is the logged-in UI: the socket, the replica, the shell.
function Session({ loggedOut }) {
  const route = useRoute();
  const [conn, setConn] = useState('connecting');
  const [reconnects, setReconnects] = useState(0);
  const [db, setDB] = useState({ doc: null, rev: 0 });
  const socket = useRef(null);
  if (!socket.current) {
    socket.current = new Socket((s, was) => {
      if (s === 'open' && was === 'reconnecting') {
        setConn('reconnected');
        setReconnects((n) => n + 1);
        setTimeout(() => setConn((c) => (c === 'reconnected' ? 'open' : c)), 6000);
      } else setConn(s);
    });
  }
  useEffect(() => {
    const sock = socket.current;
    let doc = null, rev = 0;
    const stop = sock.subscribe('db.subscribe', () => (rev ? { pointer: '/public', since: rev } : { pointer: '/public' }), {
      onStart: (v) => {
        if (v.dump) { doc = v.dump.value; rev = v.dump.id; } else rev = v.id;
        setDB({ doc, rev });
      },
      onItem: (r) => {
        if (r.id <= rev) return;
        rev = r.id;
        if (!r.patch.length) return;
        perf.patchAt = performance.now();
        doc = applyPatch(doc, r.patch);
        setDB({ doc, rev });
      },
    });
    const prev = hooks.onUnauthorized;
    hooks.onUnauthorized = () => { sock.close(); prev(); };
    return () => { stop(); sock.close(); hooks.onUnauthorized = prev; };
  }, []);

  // Metrics follow from the start, so the dashboard has figures at once.
  const [metrics, setMetrics] = useState(null);
  useEffect(() => socket.current.subscribe('server.metrics.follow', {}, { onStart: setMetrics, onItem: setMetrics }), []);

  const logout = async () => {
    try { await call('auth.logout'); } catch {}
    socket.current.close();
    loggedOut();
  };

  const info = db.doc && db.doc.serverInfo;
  const unread = info ? info.unreadNotificationCount : 0;
  const section = '/' + route.split('/')[1];
  const connText = { connecting: 'Connecting…', open: 'Live', reconnecting: 'Connection lost: the box is not answering. Reconnecting…', reconnected: 'Reconnected: the box is back.' }[conn];
  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="#/"><img src=${document.querySelector('link[rel=icon]').href} alt="" width="24" height="24" /> <span id="server-name">${info ? info.name || 'StartOS' : 'StartOS'}</span></a>
      <p class=${'conn conn-' + conn} role="status" id="conn-state" data-conn=${conn} data-reconnects=${reconnects}>${connText}</p>
      <button type="button" class="link" id="logout" onClick=${logout}>Log out</button>
    </header>
    <nav class="side" aria-label="Main">
      <ul>${nav.map(([href, label]) => html`<li><a href=${'#' + href} aria-current=${section === href ? 'page' : undefined}>${label}${href === '/notifications' && unread ? html` <span class="count" aria-label=${unread + ' unread'}>${unread}</span>` : ''}</a></li>`)}</ul>
    </nav>
    <main class="content" id="main">${!db.doc ? html`<p class="muted">Loading the box's state…</p>` : html`<${Screen} key=${route} route=${route} db=${db} socket=${socket.current} metrics=${metrics} />`}</main>
  </div>`;
}

// Screen shows a screen, or what went wrong when it cannot render.
function Screen({ route, db, socket, metrics }) {
  const [failed, reset] = useErrorBoundary();
  if (failed) {
    return html`<h1>This screen failed</h1><p class="error" role="alert">${String(failed)}</p>
      <button type="button" onClick=${reset}>Try again</button>`;
  }
  return screen(route, db, socket, metrics);
}

function screen(route, db, socket, metrics) {
  const parts = route.split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0] || '') {
    case '': return html`<${Dashboard} doc=${db.doc} metrics=${metrics} />`;
    case 'services': return parts[1] ? html`<${ServicePage} key=${parts[1]} id=${parts[1]} doc=${db.doc} socket=${socket} />` : html`<${ServicesList} doc=${db.doc} perf=${perf} />`;
    case 'install': return html`<${Install} doc=${db.doc} />`;
    case 'marketplace': return html`<${Marketplace} doc=${db.doc} />`;
    case 'notifications': return html`<${Notifications} doc=${db.doc} />`;
    case 'sessions': return html`<${Sessions} />`;
    case 'diagnostics': return html`<${Diagnostics} />`;
    case 'backups': return html`<${Backups} doc=${db.doc} />`;
    case 'lan': return html`<${LAN} doc=${db.doc} />`;
    case 'ssh': return html`<${SSHKeys} doc=${db.doc} />`;
    case 'settings': return html`<${Settings} doc=${db.doc} />`;
  }
  return html`<h1>Not found</h1><p>No screen at ${route}. <a href="#/">Go to the dashboard</a>.</p>`;
}

function Meter({ id, label, value, unit, detail }) {
  const v = value == null ? null : Number(value);
  return html`<section class="card stat" aria-labelledby=${id + '-label'}>
    <h2 id=${id + '-label'}>${label}</h2>
    <p class="figure" id=${id} data-value=${v == null ? '' : v}>${v == null ? '—' : v.toFixed(1)}<small>${unit}</small></p>
    <meter min="0" max="100" value=${v == null ? 0 : v} aria-labelledby=${id + '-label'}></meter>
    <p class="muted detail">${detail || '\u00a0'}</p>
  </section>`;
}

function Dashboard({ doc, metrics }) {
  const info = doc.serverInfo;
  const time = useCall('server.time', {}, []);
  const wd = useCall('server.watchdog', {}, [], 5000);
  const [now, setNow] = useState(Date.now());
  useEffect(() => { const t = setInterval(() => setNow(Date.now()), 1000); return () => clearInterval(t); }, []);
  const fetchedAt = useRef(Date.now());
  useEffect(() => { if (time.value) fetchedAt.current = Date.now(); }, [time.value]);
  const uptime = time.value ? time.value.uptime + (now - fetchedAt.current) / 1000 : null;
  const ready = metrics && time.value && wd.value;
  useLayoutEffect(() => { if (ready && !perf.readyAt) perf.readyAt = performance.now(); }, [ready]);
  const m = metrics;
  const state = wd.value ? wd.value.watchdog.state : null;
  const probes = (wd.value && wd.value.watchdog.probes) || [];
  return html`<div id="dashboard" data-ready=${ready ? 'true' : 'false'}>
    <h1>Dashboard</h1>
    <div class="grid">
      <section class="card" aria-labelledby="srv-label">
        <h2 id="srv-label">Server</h2>
        <dl class="facts">
          <dt>Name</dt><dd id="dash-name">${info.name || '—'}</dd>
          <dt>Version</dt><dd id="dash-version">${info.version}</dd>
          <dt>Hostname</dt><dd>${info.hostname || '—'}</dd>
          <dt>Uptime</dt><dd id="dash-uptime" class="num">${uptime == null ? '—' : fmtDuration(uptime)}</dd>
        </dl>
      </section>
      <${Meter} id="dash-cpu" label="CPU" value=${m && m.cpu.percentageUsed.value} unit="%" detail=${m && `user ${m.cpu.userSpace.value} % · kernel ${m.cpu.kernelSpace.value} %`} />
      <${Meter} id="dash-mem" label="Memory" value=${m && m.memory.percentageUsed.value} unit="%" detail=${m && `${m.memory.used.value} of ${m.memory.total.value} MiB`} />
      <${Meter} id="dash-disk" label="Disk" value=${m && m.disk.percentageUsed.value} unit="%" detail=${m && `${m.disk.used.value} of ${m.disk.capacity.value} GB`} />
      <section class="card" aria-labelledby="wd-label">
        <h2 id="wd-label">Watchdog</h2>
        <p class="figure"><${Badge} kind="watchdog" value=${state} label=${state || '…'} /></p>
        <p class="muted detail">${wd.value ? `${probes.filter((p) => p.state === 'ok').length} of ${probes.length} probes ok` : '\u00a0'} · <a href="#/diagnostics">details</a></p>
      </section>
      <section class="card" aria-labelledby="nt-label">
        <h2 id="nt-label">Notifications</h2>
        <p class="figure" id="dash-unread">${info.unreadNotificationCount}<small> unread</small></p>
        <p class="muted detail"><a href="#/notifications">Read them</a></p>
      </section>
    </div>
    <${ErrorBox} error=${metrics === null && wd.error} />
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
