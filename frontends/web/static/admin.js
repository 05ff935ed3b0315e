// The box's administration: backups, SSH keys, LAN access and settings.
// Live parts (backup progress, names, addresses, the CA fingerprint) come
// from the replica; lists the document does not hold are fetched again
// when a revision may have changed them.
import { html, useState, useEffect, useRef } from './vendor/preact-htm.js';
import { call } from './rpc.js';
import { Badge, ErrorBox, Progress, ActionButton, titleOf, fmtTime, useCall, useConfirm } from './ui.js';

// Status is a polite live line saying what just succeeded.
function Status({ id, text }) {
  return html`<p class="ok" role="status" id=${id}>${text || ''}</p>`;
}

// parseCredentials reads "key=value" lines; the daemon validates the keys.
function parseCredentials(text) {
  const out = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new Error(`Credentials: "${line.slice(0, 40)}" is not key=value.`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export function Backups({ doc }) {
  const info = doc.serverInfo;
  const progress = info.statusInfo.backupProgress;
  const running = !!(progress && Object.keys(progress).length);
  // A finished run changes lastBackup: the targets' dates follow.
  const targets = useCall('backup.target.list', {}, [info.lastBackup, running]);
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [done, setDone] = useState('');
  const [confirmEl, ask] = useConfirm();
  // A run ends by setting lastBackup (or by an error in the progress).
  useEffect(() => { setDone((d) => (d.startsWith('Backing up') ? 'Backup finished.' : d)); }, [info.lastBackup]);
  const list = targets.value || [];
  const installed = Object.entries(doc.packageData).filter(([, e]) => e.stateInfo.state === 'installed');
  return html`<h1>Backups</h1>
    <p class="muted">Backups are restic repositories, encrypted with your backup password; restic alone can restore them.
      Last backup of the box: <span id="last-backup">${fmtTime(info.lastBackup)}</span>.</p>
    <section class="card" aria-labelledby="bk-pw-label">
      <h2 id="bk-pw-label">Backup password</h2>
      <p class="muted">Used to create, list and restore. The box keeps only its hash.</p>
      <label for="backup-password">Password</label>
      <input id="backup-password" type="password" autocomplete="off" value=${password} onInput=${(e) => setPassword(e.target.value)} />
    </section>
    <${ErrorBox} error=${error || targets.error} />
    <${Status} id="backup-status" text=${done} />
    <section class="card" aria-labelledby="bk-run-label" aria-live="polite" id="backup-progress" data-running=${running ? 'true' : 'false'}>
      <h2 id="bk-run-label">${running ? 'Backing up…' : 'No backup running'}</h2>
      ${running ? Object.entries(progress).map(([id, p]) => html`<${Progress} key=${id} name=${titleOf(id, doc.packageData[id])}
          p=${p.complete ? true : p.bytesTotal ? { done: p.bytesDone, total: p.bytesTotal, units: 'bytes' } : false} />
        ${p.error ? html`<p class="error">${id}: ${p.error}</p>` : ''}`) : ''}
    </section>
    <h2>Targets</h2>
    ${targets.value && list.length === 0 ? html`<p class="muted" id="no-targets">No backup targets yet: add one below.</p>` : ''}
    <ul class="plain" id="backup-targets">${list.map((t) => html`<${Target} key=${t.id} t=${t} doc=${doc} password=${password}
        installed=${installed} running=${running} reload=${targets.reload} setError=${setError} setDone=${setDone} ask=${ask} />`)}</ul>
    <${AddTarget} reload=${targets.reload} setDone=${setDone} />
    ${list.length ? html`<${Schedule} targets=${list} password=${password} />` : ''}
    ${confirmEl}`;
}

const weekdays = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

// Schedule sets when backups run by themselves; the daemon answers the
// next run, shown from backup.schedule.get.
function Schedule({ targets, password }) {
  const current = useCall('backup.schedule.get', {}, []);
  const [s, set] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (current.value && !s) set({ frequency: 'off', time: '03:00', weekday: 0, retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 6 }, ...current.value, targetId: current.value.targetId || targets[0].id });
  }, [current.value]);
  if (!s) return html`<section class="card"><h2>Schedule</h2><${ErrorBox} error=${current.error} /></section>`;
  const field = (k, conv = (v) => v) => (e) => set({ ...s, [k]: conv(e.target.value) });
  const keep = (k) => (e) => set({ ...s, retention: { ...s.retention, [k]: Math.max(0, parseInt(e.target.value, 10) || 0) } });
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    try {
      const { nextRun, ...params } = s;
      if (params.frequency !== 'off' && !password) throw new Error('Type the backup password first: the schedule is authorized with it.');
      await call('backup.schedule.set', { ...params, password });
      setError(null);
      await current.reload();
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const next = current.value && current.value.nextRun;
  return html`<form class="card" id="schedule-form" onSubmit=${submit} aria-labelledby="sched-label">
    <h2 id="sched-label">Schedule</h2>
    <p class="muted" id="schedule-next" data-next=${next || ''}>${next ? 'Next run: ' + fmtTime(next) : 'Backups run only when you start them.'}</p>
    <label for="sched-frequency">How often</label>
    <select id="sched-frequency" value=${s.frequency} onChange=${field('frequency')}><option value="off">Off</option><option value="daily">Daily</option><option value="weekly">Weekly</option></select>
    ${s.frequency === 'weekly' ? html`<label for="sched-weekday">Day</label>
      <select id="sched-weekday" value=${s.weekday} onChange=${field('weekday', Number)}>${weekdays.map((d, i) => html`<option value=${i}>${d}</option>`)}</select>` : ''}
    ${s.frequency !== 'off' ? html`<label for="sched-time">At (the box's time)</label>
      <input id="sched-time" type="time" required value=${s.time} onInput=${field('time')} />
      <label for="sched-target">Target</label>
      <select id="sched-target" value=${s.targetId} onChange=${field('targetId')}>${targets.map((t) => html`<option value=${t.id}>${t.name}</option>`)}</select>
      <fieldset class="field"><legend>Keep (0: no rule)</legend>
        <label class="inline">daily <input type="number" min="0" value=${s.retention.keepDaily} onInput=${keep('keepDaily')} /></label>
        <label class="inline">weekly <input type="number" min="0" value=${s.retention.keepWeekly} onInput=${keep('keepWeekly')} /></label>
        <label class="inline">monthly <input type="number" min="0" value=${s.retention.keepMonthly} onInput=${keep('keepMonthly')} /></label>
      </fieldset>` : ''}
    <${ErrorBox} error=${error} />
    <button type="submit" class="primary" disabled=${busy}>Save schedule</button>
  </form>`;
}

function AddTarget({ reload, setDone }) {
  const [name, setName] = useState('');
  const [url, setURL] = useState('');
  const [creds, setCreds] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    try {
      const credentials = parseCredentials(creds);
      const params = { name: name.trim(), url: url.trim() };
      if (Object.keys(credentials).length) params.credentials = credentials;
      await call('backup.target.add', params);
      setName(''); setURL(''); setCreds(''); setError(null);
      setDone(`Added the target ${params.name}.`);
      await reload();
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return html`<form class="card" id="target-form" onSubmit=${submit} aria-labelledby="tg-add-label">
    <h2 id="tg-add-label">Add a target</h2>
    <label for="target-name">Name</label>
    <input id="target-name" required value=${name} onInput=${(e) => setName(e.target.value)} />
    <label for="target-url">Repository</label>
    <input id="target-url" required placeholder="/mnt/usb/backups, sftp:user@host:/path, s3:… or rest:…" value=${url} onInput=${(e) => setURL(e.target.value)} />
    <label for="target-creds">Credentials, one key=value a line (optional)</label>
    <textarea id="target-creds" rows="3" placeholder="sshPrivateKey=…  sshKnownHosts=…  awsAccessKeyId=…" value=${creds} onInput=${(e) => setCreds(e.target.value)}></textarea>
    <${ErrorBox} error=${error} />
    <button type="submit" class="primary" disabled=${busy}>Add target</button>
  </form>`;
}

function Target({ t, doc, password, installed, running, reload, setError, setDone, ask }) {
  const [snaps, setSnaps] = useState(null);
  const [pick, setPick] = useState(() => new Set(installed.map(([id]) => id)));
  const needPw = () => { if (!password) throw new Error('Type the backup password first.'); };
  const list = async () => { needPw(); setSnaps((await call('backup.target.info', { targetId: t.id, password })).snapshots || []); };
  // A finished run adds snapshots: a list already shown follows it.
  const wasRunning = useRef(running);
  useEffect(() => {
    if (wasRunning.current && !running && snaps && password) list().catch(setError);
    wasRunning.current = running;
  }, [running]);
  const create = async () => {
    needPw();
    const ids = installed.map(([id]) => id).filter((id) => pick.has(id));
    if (installed.length && !ids.length) throw new Error('Choose at least one service, or all of them.');
    await call('backup.create', ids.length === installed.length ? { targetId: t.id, password } : { targetId: t.id, password, packageIds: ids });
    setDone(`Backing up to ${t.name}…`);
  };
  const restore = (s) => async () => {
    needPw();
    if (!(await ask(`Restore ${s.packageId} ${s.version} from ${fmtTime(s.time)}? Its current data is replaced.`, 'Restore'))) return;
    setDone(`Restoring ${s.packageId}…`);
    await call('package.backup.restore', { targetId: t.id, password, ids: [s.packageId], snapshot: s.id });
    setDone(`Restored ${s.packageId} from ${fmtTime(s.time)}.`);
  };
  const toggle = (id) => (e) => { const n = new Set(pick); e.target.checked ? n.add(id) : n.delete(id); setPick(n); };
  return html`<li class="card" data-target=${t.id} data-last-backup=${t.lastBackup || ''}>
    <h3 class="row-head"><span>${t.name}</span> <${Badge} kind="type" value=${t.type} /> ${t.initialized ? '' : html`<${Badge} kind="init" value="new" label="not yet used" />`}</h3>
    <p class="muted"><code>${t.url}</code> · last backup ${fmtTime(t.lastBackup)}${t.credentialKeys && t.credentialKeys.length ? ' · credentials: ' + t.credentialKeys.join(', ') : ''}</p>
    ${installed.length ? html`<fieldset class="field"><legend>Services to back up (the box itself always is)</legend>
      ${installed.map(([id, e]) => html`<label class="inline" key=${id}><input type="checkbox" checked=${pick.has(id)} onChange=${toggle(id)} /> ${titleOf(id, e)}</label> `)}</fieldset>` : ''}
    <div class="buttons">
      <${ActionButton} kind="primary" label=${'Back up now to ' + t.name} onClick=${create} onError=${setError} disabled=${running}>Back up now<//>
      <${ActionButton} label=${'Snapshots in ' + t.name} onClick=${list} onError=${setError}>Show snapshots<//>
      <${ActionButton} label=${'Check ' + t.name} onClick=${async () => { needPw(); await call('backup.target.check', { targetId: t.id, password }); setDone(`${t.name}: the repository is sound.`); }} onError=${setError}>Check<//>
      <${ActionButton} kind="danger" label=${'Forget target ' + t.name} onClick=${async () => {
        if (!(await ask(`Forget the target ${t.name}? Its repository is left as it is.`, 'Forget'))) return;
        await call('backup.target.remove', { targetId: t.id }); await reload(); }} onError=${setError}>Forget<//>
    </div>
    ${snaps ? html`<div class="table-wrap"><table class="snapshots"><caption class="sr-only">Snapshots in ${t.name}</caption>
      <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Version</th><th scope="col"><span class="sr-only">Restore</span></th></tr></thead>
      <tbody>${snaps.length ? snaps.map((s) => html`<tr key=${s.id} data-snapshot=${s.id} data-kind=${s.kind} data-pkg=${s.packageId || ''}>
        <td>${fmtTime(s.time)}</td><td>${s.kind === 'box' ? 'The box' : titleOf(s.packageId, doc.packageData[s.packageId])}</td><td>${s.version || ''}</td>
        <td>${s.kind === 'package' ? html`<${ActionButton} label=${'Restore ' + s.packageId + ' from ' + fmtTime(s.time)} onClick=${restore(s)} onError=${setError} disabled=${running}>Restore<//>` : ''}</td></tr>`)
        : html`<tr><td colspan="4" class="muted">No snapshots yet.</td></tr>`}</tbody></table></div>` : ''}
  </li>`;
}

export function SSHKeys({ doc }) {
  // The keys live in the private document: the list is fetched again after
  // each change made here.
  const [rev, setRev] = useState(0);
  const [confirmEl, ask] = useConfirm();
  const keys = useCall('ssh.list', {}, [rev]);
  const [key, setKey] = useState('');
  const [error, setError] = useState(null);
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const add = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    try {
      const k = await call('ssh.add', { key: key.trim() });
      setKey(''); setError(null);
      setDone(`Added ${k.alg} key ${k.fingerprint}.`);
      setRev((n) => n + 1);
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const list = keys.value || [];
  return html`<h1>SSH keys</h1>
    <p class="muted">Keys allowed to log in to <code>${doc.serverInfo.hostname || 'the box'}</code> over SSH; they are written to its authorized_keys.</p>
    <${ErrorBox} error=${error || keys.error} />
    <${Status} id="ssh-status" text=${done} />
    ${keys.value && list.length === 0 ? html`<p class="muted" id="no-keys">No SSH keys yet.</p>` : ''}
    <ul class="plain" id="ssh-keys">${list.map((k) => html`<li key=${k.fingerprint} class="card" data-fingerprint=${k.fingerprint}>
      <p><strong>${k.hostname || 'no comment'}</strong> <${Badge} kind="alg" value=${k.alg} /></p>
      <p class="muted"><code>${k.fingerprint}</code> · added ${fmtTime(k.createdAt)}</p>
      <${ActionButton} kind="danger" label=${'Remove key ' + (k.hostname || k.fingerprint)} onClick=${async () => {
        if (!(await ask(`Remove the key ${k.hostname || k.fingerprint}? It can no longer log in.`, 'Remove'))) return;
        await call('ssh.remove', { fingerprint: k.fingerprint }); setDone(`Removed ${k.fingerprint}.`); setRev((n) => n + 1); }} onError=${setError}>Remove<//>
    </li>`)}</ul>
    <form class="card" id="ssh-form" onSubmit=${add} aria-labelledby="ssh-add-label">
      <h2 id="ssh-add-label">Add a key</h2>
      <label for="ssh-key">Public key (one line, as in ~/.ssh/id_ed25519.pub)</label>
      <textarea id="ssh-key" rows="3" required spellcheck="false" placeholder="ssh-ed25519 AAAA… you@laptop" value=${key} onInput=${(e) => setKey(e.target.value)}></textarea>
      <button type="submit" class="primary" disabled=${busy || !key.trim()}>Add key</button>
    </form>
    ${confirmEl}`;
}

export function LAN({ doc }) {
  const info = doc.serverInfo;
  const rows = [];
  for (const [id, e] of Object.entries(doc.packageData)) {
    for (const [iface, a] of Object.entries(e.interfaceAddresses || {})) rows.push({ id, e, iface, a });
  }
  rows.sort((x, y) => x.id.localeCompare(y.id) || x.iface.localeCompare(y.iface));
  const safe = (u) => (typeof u === 'string' && /^https?:\/\//.test(u) ? u : null);
  return html`<h1>LAN access</h1>
    <section class="card" aria-labelledby="ca-label">
      <h2 id="ca-label">Trust this box</h2>
      <p>The box's services answer over https on your network, with certificates from the box's own root authority.
        Install its certificate once on each device (as a trusted root), then compare the fingerprint with the one the device shows.</p>
      <dl class="facts">
        <dt>Fingerprint (SHA-256)</dt><dd><code id="ca-fingerprint">${info.caFingerprint || '—'}</code></dd>
        <dt>Box name</dt><dd><code id="lan-box-name">${info.hostname ? info.hostname + '.local' : '—'}</code></dd>
      </dl>
      <div class="buttons"><a class="button primary" id="ca-download" href="/static/local-root-ca.crt" download="local-root-ca.crt">Download the root certificate</a></div>
    </section>
    <section class="card" aria-labelledby="addr-label">
      <h2 id="addr-label">Service addresses</h2>
      ${rows.length ? html`<div class="table-wrap"><table id="lan-addresses"><caption class="sr-only">Service addresses on the LAN</caption>
        <thead><tr><th scope="col">Service</th><th scope="col">Interface</th><th scope="col">Addresses</th></tr></thead>
        <tbody>${rows.map((r) => html`<tr key=${r.id + '/' + r.iface} data-pkg=${r.id} data-iface=${r.iface}>
          <td><a href=${'#/services/' + encodeURIComponent(r.id)}>${titleOf(r.id, r.e)}</a></td><td>${r.iface}</td>
          <td data-volatile>${safe(r.a.https) ? html`<a href=${safe(r.a.https)} target="_blank" rel="noopener noreferrer">${r.a.https}</a><br />` : ''}
            ${safe(r.a.http) ? html`<a href=${safe(r.a.http)} target="_blank" rel="noopener noreferrer">${r.a.http}</a><br />` : ''}
            ${(r.a.tcp || []).map((t) => html`<code>${t}</code> `)}${!r.a.https && !r.a.http && !(r.a.tcp || []).length ? html`<code>${r.a.lanAddress}</code>` : ''}</td></tr>`)}</tbody></table></div>`
        : html`<p class="muted" id="no-addresses">No service has a LAN address yet.</p>`}
    </section>`;
}

export function Settings({ doc }) {
  const info = doc.serverInfo;
  const st = info.statusInfo;
  const [power, setPower] = useState(null); // 'restart' or 'shutdown' while asking
  const [sent, setSent] = useState('');
  return html`<h1>Settings</h1>
    <div class="grid two">
      <${OneField} id="set-name" title="Server name" label="Name shown in the UI" method="server.set-name" param="name" current=${info.name}
        help="1 to 64 printable characters." />
      <${OneField} id="set-hostname" title="Hostname" label="Hostname (the box answers as <hostname>.local)" method="server.set-hostname" param="hostname" current=${info.hostname}
        help="One lowercase label: letters, digits and hyphens, 1 to 63." />
    </div>
    <section class="card" aria-labelledby="power-label">
      <h2 id="power-label">Power</h2>
      <p class="muted">Services are stopped first. Refused while something installs, updates, restores, is removed or backs up.</p>
      <p role="status" id="power-state" data-restarting=${st.restarting ? 'true' : 'false'} data-shutting-down=${st.shuttingDown ? 'true' : 'false'}>${
        st.restarting ? 'The box is restarting…' : st.shuttingDown ? 'The box is shutting down…' : sent}</p>
      <div class="buttons">
        <button type="button" id="power-restart" onClick=${() => setPower('restart')}>Restart…</button>
        <button type="button" id="power-shutdown" class="danger" onClick=${() => setPower('shutdown')}>Shut down…</button>
      </div>
    </section>
    ${power ? html`<${PowerDialog} what=${power} close=${() => setPower(null)} sent=${setSent} />` : ''}`;
}

// OneField edits one value of serverInfo; the replica shows the new value
// once the daemon has stored it.
function OneField({ id, title, label, method, param, current, help }) {
  const [value, setValue] = useState(current || '');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState('');
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    try {
      await call(method, { [param]: value.trim() });
      setError(null);
      setSaved('Saved.');
    } catch (e) { setError(e); setSaved(''); } finally { setBusy(false); }
  };
  return html`<form class="card" id=${id + '-form'} onSubmit=${submit} aria-labelledby=${id + '-label'}>
    <h2 id=${id + '-label'}>${title}</h2>
    <p class="muted">Now: <strong id=${id + '-current'}>${current || '—'}</strong></p>
    <label for=${id}>${label}</label>
    <input id=${id} required value=${value} aria-describedby=${id + '-help'} onInput=${(e) => { setValue(e.target.value); setSaved(''); }} />
    <small class="muted" id=${id + '-help'}>${help}</small>
    <${ErrorBox} error=${error} />
    <${Status} id=${id + '-saved'} text=${saved} />
    <button type="submit" class="primary" disabled=${busy || value.trim() === (current || '')}>Save</button>
  </form>`;
}

function PowerDialog({ what, close, sent }) {
  const ref = useRef(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { ref.current.showModal(); }, []);
  const verb = what === 'restart' ? 'Restart' : 'Shut down';
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    try {
      await call('server.' + what);
      sent(what === 'restart' ? 'Restart requested: the page reconnects by itself when the box is back.' : 'Shutdown requested: the box goes quiet.');
      if (ref.current) ref.current.close();
    } catch (e) { setError(e); setBusy(false); }
  };
  return html`<dialog ref=${ref} id="power-dialog" aria-labelledby="power-title" onClose=${close}>
    <form onSubmit=${submit}>
      <h2 id="power-title">${verb} the box?</h2>
      <p>${what === 'restart' ? 'Every service stops and the box restarts; they come back as they were.' : 'Every service stops and the box powers off; someone has to switch it on again.'}</p>
      <${ErrorBox} error=${error} />
      <div class="buttons">
        <button type="button" onClick=${() => ref.current.close()}>Cancel</button>
        <button type="submit" class="danger" id="power-confirm" disabled=${busy}>${busy ? 'Working…' : verb}</button>
      </div>
    </form>
  </dialog>`;
}
