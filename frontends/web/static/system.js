// The box itself: notifications, sessions, diagnostics.
import { html, useState, useEffect } from './vendor/preact-htm.js';
import { call } from './rpc.js';
import { Badge, ErrorBox, ActionButton, fmtTime, fmtBytes, useCall } from './ui.js';

export function Notifications({ doc }) {
  const unread = doc.serverInfo.unreadNotificationCount;
  const list = useCall('notification.list', { limit: 100 }, [unread]);
  const [error, setError] = useState(null);
  const act = (method, params) => async () => { await call(method, params); await list.reload(); };
  const items = list.value || [];
  const newest = items.length ? items[0].id : 0;
  return html`<h1>Notifications</h1>
    <div class="buttons">
      <${ActionButton} id="notif-all-seen" onClick=${act('notification.mark-seen-before', { before: newest + 1 })} onError=${setError} disabled=${!unread}>Mark all seen<//>
    </div>
    <${ErrorBox} error=${error || list.error} />
    ${list.value && items.length === 0 ? html`<p class="muted">No notifications.</p>` : ''}
    <ul class="notifications" id="notifications">${items.map((n) => html`<li key=${n.id} class=${'card notification' + (n.seen ? ' seen' : '')} data-notification=${n.id} data-seen=${n.seen ? 'true' : 'false'}>
      <div class="notification-head"><${Badge} kind="level" value=${n.level} /> <strong>${n.title}</strong> <small class="muted">${fmtTime(n.createdAt)}${n.packageId ? ' · ' + n.packageId : ''}</small></div>
      <p>${n.message}</p>
      <div class="buttons">
        ${n.seen ? '' : html`<${ActionButton} label=${'Mark seen: ' + n.title} onClick=${act('notification.mark-seen', { ids: [n.id] })} onError=${setError}>Mark seen<//>`}
        <${ActionButton} kind="danger" label=${'Delete: ' + n.title} onClick=${act('notification.remove', { ids: [n.id] })} onError=${setError}>Delete<//>
      </div></li>`)}</ul>`;
}

export function Sessions() {
  const list = useCall('auth.session.list', {}, []);
  const [error, setError] = useState(null);
  const v = list.value;
  const rows = v ? Object.entries(v.sessions).sort((a, b) => b[1].lastActive.localeCompare(a[1].lastActive)) : [];
  return html`<h1>Sessions</h1>
    <${ErrorBox} error=${error || list.error} />
    <ul class="sessions" id="sessions">${rows.map(([id, s]) => html`<li key=${id} class="card" data-session=${id} data-current=${id === v.current ? 'true' : 'false'}>
      <p><strong>${s.userAgent || 'Unknown client'}</strong> ${id === v.current ? html`<${Badge} kind="current" value="current" label="this browser" />` : ''}</p>
      <p class="muted">Logged in ${fmtTime(s.loggedIn)} · last active ${fmtTime(s.lastActive)}${s.ephemeral ? ' · ends when the daemon stops' : ''}</p>
      <${ActionButton} kind="danger" label=${'End session ' + (s.userAgent || id)} onClick=${async () => { await call('auth.session.kill', { ids: [id] }); await list.reload(); }} onError=${setError}>${id === v.current ? 'Log out here' : 'End session'}<//>
    </li>`)}</ul>`;
}

function download(name, base64) {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/gzip' }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

export function Diagnostics() {
  const wd = useCall('server.watchdog', {}, [], 5000);
  const [error, setError] = useState(null);
  const [got, setGot] = useState(null);
  const r = wd.value;
  return html`<h1>Diagnostics</h1>
    <section class="card" aria-labelledby="bundle-label">
      <h2 id="bundle-label">Evidence bundle</h2>
      <p>A tar.gz of the newest goroutine dumps, the log ring, this report and the process status, as <code>start-cli server diagnose</code> writes it.</p>
      <div class="buttons">
        <${ActionButton} id="diagnose" onClick=${async () => { const b = await call('server.diagnose'); download(b.name, b.data); setGot(b.name); }} onError=${setError}>Download bundle<//>
        <${ActionButton} id="dump-now" onClick=${async () => { await call('server.dump', { reason: 'requested from the web UI' }); await wd.reload(); }} onError=${setError}>Write a goroutine dump<//>
      </div>
      <p class="ok" role="status" id="diagnose-done">${got ? 'Downloaded ' + got + '.' : ''}</p>
      <${ErrorBox} error=${error || wd.error} />
    </section>
    <section class="card" aria-labelledby="wd-label">
      <h2 id="wd-label">Watchdog ${r ? html`<${Badge} kind="watchdog" value=${r.watchdog.state} />` : ''}</h2>
      ${r ? html`<p class="muted">${r.watchdog.ready ? 'Ready.' : 'Not ready yet.'} Pauses: ${r.watchdog.pauses}. Dumps skipped: ${r.watchdog.dumpsSkipped}.</p>
      <div class="table-wrap"><table id="probes"><caption class="sr-only">Probes</caption>
        <thead><tr><th scope="col">Probe</th><th scope="col">Kind</th><th scope="col">State</th><th scope="col">Last success</th><th scope="col">Misses</th><th scope="col">Detail</th></tr></thead>
        <tbody>${(r.watchdog.probes || []).map((p) => html`<tr key=${p.name}><td>${p.name}</td><td>${p.kind} · ${p.severity}</td><td><${Badge} kind="probe" value=${p.state} /></td>
          <td class="num">${(p.lastSuccessAgeMs / 1000).toFixed(1)} s ago</td><td class="num">${p.misses}/${p.megamisses}</td><td>${p.lastError || p.detail || ''}</td></tr>`)}</tbody></table></div>
      <h3>Log sinks</h3>
      <div class="table-wrap"><table><thead><tr><th scope="col">Sink</th><th scope="col">Written</th><th scope="col">Dropped</th><th scope="col">Queued</th></tr></thead>
        <tbody>${(r.sinks || []).map((s) => html`<tr key=${s.name}><td>${s.name}</td><td class="num">${s.written}</td><td class="num">${s.dropped}</td><td class="num">${fmtBytes(s.queuedBytes)}</td></tr>`)}</tbody></table></div>
      <h3>Goroutine dumps</h3>
      ${(r.watchdog.dumps || []).length ? html`<ul>${r.watchdog.dumps.map((d) => html`<li key=${d.name}><code>${d.name}</code> · ${fmtBytes(d.size)} · ${fmtTime(d.time)}${d.reason ? ' · ' + d.reason : ''}</li>`)}</ul>` : html`<p class="muted">None.</p>`}` : html`<p class="muted">Loading…</p>`}
    </section>`;
}
