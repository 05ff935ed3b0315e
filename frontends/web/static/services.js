// Services: the live list, one service's page, and installing.
import { html, useState, useEffect, useRef, useLayoutEffect, useMemo } from './vendor/preact-htm.js';
import { call, upload } from './rpc.js';
import { ConfigCard, PropertiesCard } from './config.js';
import { Badge, ErrorBox, Progress, ActionButton, deriveStatus, manifestOf, titleOf, iconURL, fmtBytes, fmtTime, useCall, useStream } from './ui.js';

// Icon is the package's icon, or its title's first letter on a coloured
// tile when it has none, the image fails to load, or it is a placeholder
// (smaller than 16 px, such as a 1x1 pixel) that would show an empty box.
function Icon({ id, entry }) {
  const src = iconURL(entry);
  const [broken, setBroken] = useState(false);
  if (src && !broken) {
    return html`<img class="icon" src=${src} alt="" width="40" height="40" data-icon="image" onError=${() => setBroken(true)}
      onLoad=${(e) => { if (e.target.naturalWidth < 16 && e.target.naturalHeight < 16) setBroken(true); }} />`;
  }
  const title = titleOf(id, entry);
  let hue = 0;
  for (const c of id) hue = (hue * 31 + c.charCodeAt(0)) % 360;
  return html`<span class=${'icon icon-fallback hue-' + (hue % 8)} data-icon="fallback" aria-hidden="true">${(title.match(/[\p{L}\p{N}]/u) || ['?'])[0].toUpperCase()}</span>`;
}

export function ServicesList({ doc, perf }) {
  const rows = useMemo(() => Object.entries(doc.packageData)
    .map(([id, e]) => ({ id, e, title: titleOf(id, e), ...deriveStatus(e) }))
    .sort((a, b) => a.title.localeCompare(b.title) || a.id.localeCompare(b.id)), [doc.packageData]);
  useLayoutEffect(() => {
    if (perf.patchAt) {
      perf.revisionRenderMs.push(performance.now() - perf.patchAt);
      perf.patchAt = 0;
    }
  });
  return html`<h1>Services</h1>
    ${rows.length === 0 ? html`<p class="muted">No services yet. <a href="#/install">Install one</a>.</p>` : ''}
    <ul class="services" id="services">${rows.map((r) => html`<${ServiceRow} key=${r.id} row=${r} />`)}</ul>`;
}

// ServiceRow re-renders only when its entry changed (patches keep the
// identity of everything they did not touch).
function ServiceRow({ row }) {
  const up = row.e.updateAvailable;
  return useMemo(() => html`<li class="service" data-pkg=${row.id} data-status=${row.status} data-health=${row.health} data-update=${up ? up.version : ''}>
      <a href=${'#/services/' + encodeURIComponent(row.id)}>
        <${Icon} id=${row.id} entry=${row.e} />
        <span class="service-title">${row.title}<small class="muted">${manifestOf(row.e).version || ''}</small></span>
        <${Badge} kind="status" value=${row.status} />
        <${Badge} kind="health" value=${row.health} label=${row.health ? 'health: ' + row.health : ''} />
        ${up ? html`<${Badge} kind="market" value="update" label=${'update ' + up.version} />` : ''}
      </a></li>`, [row.e]);
}

export function ServicePage({ id, doc, socket }) {
  const entry = doc.packageData[id];
  const info = useCall('package.info', { id }, [id, entry]);
  const stats = useCall('package.stats', {}, [id], 5000);
  const [error, setError] = useState(null);
  const [uninstalling, setUninstalling] = useState(false);
  if (!entry) {
    return html`<h1>${id}</h1><p id="service-gone">This service is not installed. <a href="#/services">Back to services</a>.</p>`;
  }
  const m = manifestOf(entry);
  const { status, health } = deriveStatus(entry);
  const si = entry.statusInfo;
  const inst = entry.stateInfo.state === 'installed';
  const run = (method) => () => call(method, { id });
  const i = info.value;
  const st = stats.value && stats.value[id];
  return html`<div id="service" data-pkg=${id}>
    <div class="service-head">
      <${Icon} id=${id} entry=${entry} />
      <div><h1>${m.title || id}</h1><p class="muted">${id} · ${m.version || ''}${m.description ? ' · ' + m.description.short : ''}</p></div>
    </div>
    <section class="card" aria-labelledby="status-label">
      <h2 id="status-label">Status</h2>
      <p class="status-line"><${Badge} kind="status" value=${status} /> <${Badge} kind="health" value=${health} label=${health ? 'health: ' + health : ''} /></p>
      ${si.error ? html`<p class="error" role="alert" id="status-reason">${si.error.details}</p>` : ''}
      <div class="buttons">
        <${ActionButton} id="svc-start" onClick=${run('package.start')} onError=${setError} disabled=${!inst || si.desired.main === 'running'}>Start<//>
        <${ActionButton} id="svc-stop" onClick=${run('package.stop')} onError=${setError} disabled=${!inst || si.desired.main === 'stopped'}>Stop<//>
        <${ActionButton} id="svc-restart" onClick=${run('package.restart')} onError=${setError} disabled=${!inst || si.desired.main !== 'running'}>Restart<//>
        <button type="button" id="svc-uninstall" class="danger" disabled=${!inst} onClick=${() => setUninstalling(true)}>Uninstall…</button>
      </div>
      <${ErrorBox} error=${error} />
    </section>
    ${inst && m.config ? html`<${ConfigCard} id=${id} entry=${entry} />` : ''}
    ${inst && m.properties ? html`<${PropertiesCard} id=${id} />` : ''}
    <div class="grid two">
      <section class="card" aria-labelledby="health-label">
        <h2 id="health-label">Health checks</h2>
        ${Object.keys(si.health).length === 0 ? html`<p class="muted">${si.desired.main === 'running' ? 'No results yet.' : 'Checks run while the service runs.'}</p>` : ''}
        <ul class="checks">${Object.entries(si.health).map(([cid, c]) => html`<li key=${cid} data-check=${cid}><${Badge} kind="result" value=${c.result} /> <strong>${c.name || cid}</strong> <span class="muted">${c.message || ''}</span></li>`)}</ul>
      </section>
      <section class="card" aria-labelledby="ifaces-label">
        <h2 id="ifaces-label">Interfaces</h2>
        ${!i ? html`<p class="muted">Loading…</p>` : i.interfaces.length === 0 ? html`<p class="muted">None.</p>` : ''}
        <ul class="ifaces">${i && i.interfaces.map((f) => html`<li key=${f.id}><strong>${f.name}</strong>
          ${f.addresses.length === 0 ? html` <span class="muted">not published</span>` : f.addresses.map((a) => /^https?:\/\//.test(a)
            ? html` <a class="iface-link" data-volatile href=${a} target="_blank" rel="noopener noreferrer">${a}</a>` : html` <code>${a}</code>`)}</li>`)}</ul>
      </section>
      <section class="card" aria-labelledby="stats-label">
        <h2 id="stats-label">Resources</h2>
        <dl class="facts">
          <dt>Memory</dt><dd class="num" id="svc-mem">${st ? fmtBytes(st.memory) + (st.memoryLimit ? ' of ' + fmtBytes(st.memoryLimit) : '') : '—'}</dd>
          <dt>CPU</dt><dd class="num" id="svc-cpu">${st ? st.cpu.toFixed(1) + ' %' : '—'}</dd>
          <dt>Started</dt><dd>${fmtTime(si.started)}</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="deps-label">
        <h2 id="deps-label">Dependencies</h2>
        ${i && Object.keys(i.dependencies).length === 0 ? html`<p class="muted">None.</p>` : ''}
        <ul>${i && Object.entries(i.dependencies).map(([d, s]) => html`<li key=${d}><a href=${'#/services/' + encodeURIComponent(d)}>${d}</a> <${Badge} kind="dep" value=${s.kind} /> <span class="muted">${s.required ? 'required' : 'optional'}${s.message ? ' · ' + s.message : ''}</span></li>`)}</ul>
      </section>
    </div>
    <${Actions} id=${id} actions=${i ? i.actions : null} />
    <${Logs} id=${id} socket=${socket} />
    ${uninstalling ? html`<${Uninstall} id=${id} title=${m.title || id} alert=${m.alerts && m.alerts.uninstall} close=${() => setUninstalling(false)} />` : ''}
  </div>`;
}

function Actions({ id, actions }) {
  const [open, setOpen] = useState(null);
  return html`<section class="card" aria-labelledby="actions-label">
    <h2 id="actions-label">Actions</h2>
    ${actions && actions.length === 0 ? html`<p class="muted">This service offers no actions.</p>` : ''}
    <ul class="actions">${actions && actions.map((a) => html`<li key=${a.id}>
      <div class="action-head"><div><strong>${a.name}</strong><p class="muted">${a.description}${a.allowedStatuses && a.allowedStatuses.length ? ' (when ' + a.allowedStatuses.join(' or ') + ')' : ''}</p></div>
      <button type="button" data-action=${a.id} aria-expanded=${open === a.id} onClick=${() => setOpen(open === a.id ? null : a.id)}>${open === a.id ? 'Close' : 'Run…'}</button></div>
      ${open === a.id ? html`<${ActionForm} pkg=${id} action=${a} />` : ''}
    </li>`)}</ul>
  </section>`;
}

// specDefaults fills a StartOS 0.3 config spec's defaults.
function specDefaults(spec, value) {
  const out = {};
  for (const [k, s] of Object.entries(spec || {})) {
    if (value && value[k] !== undefined) out[k] = value[k];
    else if (s.type === 'object') out[k] = specDefaults(s.spec, null);
    else if (s.default !== undefined && typeof s.default !== 'object') out[k] = s.default;
    else if (s.type === 'boolean') out[k] = false;
    else out[k] = s.type === 'list' ? [] : null;
  }
  return out;
}

// Field renders one entry of a config spec as a labelled control.
function Field({ path, k, s, value, set }) {
  const id = 'f-' + path.concat(k).join('-');
  const desc = s.description ? html`<small class="muted" id=${id + '-d'}>${s.description}</small>` : '';
  const label = html`<label for=${id}>${s.name || k}${s.nullable === false ? ' *' : ''}</label>`;
  const common = { id, name: k, 'aria-describedby': s.description ? id + '-d' : undefined };
  switch (s.type) {
    case 'boolean':
      return html`<div class="field check"><input type="checkbox" ...${common} checked=${!!value} onChange=${(e) => set(e.target.checked)} />${label}${desc}</div>`;
    case 'number':
      return html`<div class="field">${label}<input type="number" ...${common} step=${s.integral ? 1 : 'any'} required=${s.nullable === false} placeholder=${s.placeholder || ''}
        value=${value == null ? '' : value} onInput=${(e) => set(e.target.value === '' ? null : Number(e.target.value))} />${desc}</div>`;
    case 'enum': {
      const names = s['value-names'] || {};
      return html`<div class="field">${label}<select ...${common} value=${value || ''} onChange=${(e) => set(e.target.value)}>
        ${(s.values || []).map((v) => html`<option value=${v}>${names[v] || v}</option>`)}</select>${desc}</div>`;
    }
    case 'select': { // StartOS 0.4: values maps each value to its name
      const vals = s.values || {};
      return html`<div class="field">${label}<select ...${common} value=${value || ''} onChange=${(e) => set(e.target.value)}>
        ${Object.entries(vals).map(([v, n]) => html`<option value=${v}>${n}</option>`)}</select>${desc}</div>`;
    }
    case 'object':
      return html`<fieldset class="field"><legend>${s.name || k}</legend>${desc}
        ${Object.entries(s.spec || {}).map(([ck, cs]) => html`<${Field} key=${ck} path=${path.concat(k)} k=${ck} s=${cs} value=${value && value[ck]} set=${(v) => set({ ...(value || {}), [ck]: v })} />`)}</fieldset>`;
    case 'string':
      return html`<div class="field">${label}<input type=${s.masked ? 'password' : 'text'} ...${common} required=${s.nullable === false} pattern=${s.pattern || undefined}
        title=${s['pattern-description'] || undefined} placeholder=${s.placeholder || ''} value=${value == null ? '' : value} onInput=${(e) => set(e.target.value === '' && s.nullable ? null : e.target.value)} />${desc}</div>`;
    default: // list, union, pointer: edited as JSON
      return html`<div class="field">${label}<textarea ...${common} rows="3" onInput=${(e) => { try { set(JSON.parse(e.target.value)); } catch {} }}>${JSON.stringify(value)}</textarea>${desc}<small class="muted">JSON</small></div>`;
  }
}

function ActionForm({ pkg, action }) {
  const input = useCall('package.action.get-input', { packageId: pkg, actionId: action.id }, [pkg, action.id]);
  const [value, setValue] = useState(null);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const spec = input.value && input.value.spec;
  useEffect(() => { if (input.value) setValue(specDefaults(spec, input.value.value)); }, [input.value]);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true); setResult(null); setError(null);
    try {
      const params = { packageId: pkg, actionId: action.id };
      if (spec && Object.keys(spec).length) params.input = value;
      setResult(await call('package.action.run', params));
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  if (input.error) return html`<${ErrorBox} error=${input.error} />`;
  if (!input.value || !value) return html`<p class="muted">Loading the form…</p>`;
  return html`<form class="action-form" data-form=${action.id} onSubmit=${submit}>
    ${Object.entries(spec || {}).map(([k, s]) => html`<${Field} key=${k} path=${[action.id]} k=${k} s=${s} value=${value[k]} set=${(v) => setValue({ ...value, [k]: v })} />`)}
    <button type="submit" class="primary" disabled=${busy}>${busy ? 'Running…' : 'Run ' + action.name}</button>
    <${ErrorBox} error=${error} />
    ${result ? html`<div class="result" role="status" data-result=${action.id}><p>${result.message}</p>
      ${result.value != null ? html`<p><code class="value">${result.value}</code> ${result.copyable ? html`<button type="button" onClick=${() => navigator.clipboard && navigator.clipboard.writeText(result.value)}>Copy</button>` : ''}</p>` : ''}</div>` : ''}
  </form>`;
}

const maxLogLines = 2000;

function Logs({ id, socket }) {
  const lines = useStream(socket, 'package.logs.follow', { id, limit: 200 }, [id], (s, v, first) => {
    const add = first ? v.entries || [] : [v];
    const next = (first ? [] : s).concat(add);
    return next.length > maxLogLines ? next.slice(next.length - maxLogLines) : next;
  }, []);
  const [follow, setFollow] = useState(true);
  const [wrap, setWrap] = useState(false);
  const [search, setSearch] = useState('');
  const box = useRef(null);
  const shown = search ? lines.filter((l) => l.message.toLowerCase().includes(search.toLowerCase())) : lines;
  useLayoutEffect(() => { if (follow && box.current) box.current.scrollTop = box.current.scrollHeight; });
  return html`<section class="card" aria-labelledby="logs-label">
    <h2 id="logs-label">Logs</h2>
    <div class="log-tools">
      <label class="inline"><input type="checkbox" id="log-follow" checked=${follow} onChange=${(e) => setFollow(e.target.checked)} /> Follow</label>
      <label class="inline"><input type="checkbox" id="log-wrap" checked=${wrap} onChange=${(e) => setWrap(e.target.checked)} /> Wrap</label>
      <label class="inline grow" for="log-search">Search <input type="search" id="log-search" value=${search} onInput=${(e) => setSearch(e.target.value)} /></label>
    </div>
    <div class=${'log' + (wrap ? ' wrap' : '')} id="logs" ref=${box} tabindex="0" role="log" aria-label="Service log">
      ${shown.length === 0 ? html`<div class="muted">${lines.length ? 'No line matches.' : 'No log lines yet.'}</div>` : ''}
      ${shown.map((l) => html`<div class=${'line ' + l.stream} key=${l.cursor}><time>${l.timestamp.slice(11, 19)}</time> ${l.message}</div>`)}
    </div>
  </section>`;
}

function Uninstall({ id, title, alert, close }) {
  const ref = useRef(null);
  const [keep, setKeep] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { ref.current.showModal(); }, []);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    try {
      await call('package.uninstall', keep ? { id, soft: true } : { id });
      // The page may be gone already: the replica drops the entry as the
      // daemon removes it.
      location.hash = '#/services';
      if (ref.current) ref.current.close();
    } catch (e) { setError(e); setBusy(false); }
  };
  return html`<dialog ref=${ref} id="uninstall-dialog" aria-labelledby="uninstall-title" onClose=${close}>
    <form onSubmit=${submit}>
      <h2 id="uninstall-title">Uninstall ${title}?</h2>
      ${alert ? html`<p class="warning" id="uninstall-alert">${alert}</p>` : ''}
      <p>The service's container and images are removed.</p>
      <div class="field check"><input type="checkbox" id="uninstall-keep" checked=${keep} onChange=${(e) => setKeep(e.target.checked)} /><label for="uninstall-keep">Keep its data, to use again after a reinstall</label></div>
      <${ErrorBox} error=${error} />
      <div class="buttons">
        <button type="button" onClick=${() => ref.current.close()}>Cancel</button>
        <button type="submit" class="danger" id="uninstall-confirm" disabled=${busy}>${busy ? 'Uninstalling…' : 'Uninstall'}</button>
      </div>
    </form>
  </dialog>`;
}

export function Install({ doc }) {
  const [file, setFile] = useState(null);
  const [url, setURL] = useState('');
  const [sent, setSent] = useState(null); // {loaded, total, done}
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [installed, setInstalled] = useState(null);
  const sideload = async (ev) => {
    ev.preventDefault();
    if (!file) return;
    setBusy(true); setError(null); setInstalled(null); setSent({ loaded: 0, total: file.size });
    try {
      const { upload: uid } = await call('package.sideload');
      await upload(uid, file, (loaded, total, done) => setSent({ loaded, total, done }));
      setInstalled(true);
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const fromURL = async (ev) => {
    ev.preventDefault();
    setBusy(true); setError(null); setInstalled(null); setSent(null);
    try {
      await call('package.install', { url: url.trim() });
      setInstalled(true);
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const installing = Object.entries(doc.packageData).filter(([, e]) => e.stateInfo.installingInfo);
  return html`<h1>Install a service</h1>
    <div class="grid two">
      <form class="card" id="sideload-form" onSubmit=${sideload} aria-labelledby="sl-label">
        <h2 id="sl-label">Upload a package</h2>
        <label for="sideload-file">Package file (.s9pk)</label>
        <input type="file" id="sideload-file" accept=".s9pk" onChange=${(e) => setFile(e.target.files[0] || null)} />
        <button type="submit" class="primary" id="sideload-submit" disabled=${busy || !file}>Upload and install</button>
      </form>
      <form class="card" id="url-form" onSubmit=${fromURL} aria-labelledby="url-label">
        <h2 id="url-label">Install from a URL</h2>
        <label for="install-url">Package URL (http or https)</label>
        <input type="url" id="install-url" required placeholder="https://…/service.s9pk" value=${url} onInput=${(e) => setURL(e.target.value)} />
        <button type="submit" class="primary" disabled=${busy || !url.trim()}>Install</button>
      </form>
    </div>
    <section class="card" aria-labelledby="prog-label" aria-live="polite">
      <h2 id="prog-label">Progress</h2>
      ${sent ? html`<${Progress} name="Upload" p=${sent.done ? true : { done: sent.loaded, total: sent.total, units: 'bytes' }} />` : ''}
      ${installing.map(([id, e]) => html`<div class="install-job" key=${id} data-installing=${id}>
        <h3>${titleOf(id, e)} <small class="muted">${e.stateInfo.state}</small></h3>
        <${Progress} name="Overall" p=${e.stateInfo.installingInfo.progress.overall} />
        ${e.stateInfo.installingInfo.progress.phases.map((ph) => html`<${Progress} key=${ph.name} name=${ph.name} p=${ph.progress} />`)}
      </div>`)}
      ${!sent && !installing.length && !installed && !error ? html`<p class="muted">Nothing is installing.</p>` : ''}
      ${installed ? html`<p class="ok" id="install-done">Installed. <a href="#/services">See your services</a>.</p>` : ''}
      <${ErrorBox} error=${error} />
    </section>`;
}
