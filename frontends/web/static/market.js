// Marketplace: the configured registries, search by text and category, a
// package's details (release notes, icon), install with the live phased
// progress of the state document, and the updates on offer.
import { html, useState, useEffect } from './vendor/preact-htm.js';
import { call } from './rpc.js';
import { Badge, ErrorBox, Progress, ActionButton, titleOf, fmtBytes, fmtTime, useCall, useConfirm } from './ui.js';

// MarketIcon is the registry's icon, or the title's first letter on a tile
// when it has none or it does not load (the page's policy allows https
// images; a registry on plain http shows the tile).
function MarketIcon({ p }) {
  const [broken, setBroken] = useState(false);
  if (p.icon && !broken) {
    return html`<img class="icon" src=${p.icon} alt="" width="40" height="40" data-icon="image" referrerpolicy="no-referrer" onError=${() => setBroken(true)} />`;
  }
  let hue = 0;
  for (const c of p.id) hue = (hue * 31 + c.charCodeAt(0)) % 360;
  return html`<span class=${'icon icon-fallback hue-' + (hue % 8)} data-icon="fallback" aria-hidden="true">${((p.title || p.id).match(/[\p{L}\p{N}]/u) || ['?'])[0].toUpperCase()}</span>`;
}

// installedVersion reads the version installed now from the live document.
function installedVersion(doc, id) {
  const e = doc.packageData[id];
  if (!e || e.stateInfo.state !== 'installed') return '';
  return (e.stateInfo.manifest && e.stateInfo.manifest.version) || '';
}

export function Marketplace({ doc }) {
  const regs = useCall('registry.list', {}, []);
  const cats = useCall('marketplace.categories', {}, [regs.value]);
  const [query, setQuery] = useState('');
  const [category, setCategory] = useState('');
  const [submitted, setSubmitted] = useState({ query: '', category: '' });
  const found = useCall('package.search', submitted, [submitted.query, submitted.category, regs.value]);
  const [selected, setSelected] = useState(null);
  const search = (ev) => { ev.preventDefault(); setSubmitted({ query: query.trim(), category }); };
  const pick = (c) => { setCategory(c); setSubmitted({ query: query.trim(), category: c }); };
  const reloadAll = () => { regs.reload(); cats.reload(); found.reload(); };
  const items = found.value || [];
  const current = selected && items.find((p) => p.id === selected);
  return html`<div id="marketplace">
    <h1>Marketplace</h1>
    <${Updates} doc=${doc} />
    <section class="card" aria-labelledby="browse-label">
      <h2 id="browse-label">Browse</h2>
      <form id="market-search" class="inline" role="search" onSubmit=${search}>
        <label for="market-query">Search</label>
        <input id="market-query" type="search" placeholder="name, description or category" value=${query} onInput=${(e) => setQuery(e.target.value)} />
        <button type="submit" class="primary">Search</button>
      </form>
      <div class="chips" role="group" aria-label="Categories" id="market-categories">
        ${['', ...(cats.value || [])].map((c) => html`<button type="button" key=${c} class=${'chip' + (c === category ? ' chip-on' : '')} aria-pressed=${c === category} data-category=${c} onClick=${() => pick(c)}>${c || 'all'}</button>`)}
      </div>
      <${ErrorBox} error=${found.error} />
      ${found.value && items.length === 0 ? html`<p class="muted" id="market-empty">${(regs.value || []).length ? 'Nothing found.' : 'No registry yet: add one below.'}</p>` : ''}
      <ul class="services market" id="market-results" data-loaded=${found.value ? 'true' : 'false'}>${items.map((p) => html`<li key=${p.id} class="service" data-market-pkg=${p.id} data-installed=${installedVersion(doc, p.id)}>
        <button type="button" class="row-button" aria-expanded=${selected === p.id} onClick=${() => setSelected(selected === p.id ? null : p.id)}>
          <${MarketIcon} p=${p} />
          <span class="service-title">${p.title}<small class="muted">${p.version} · ${p.shortDescription}</small></span>
          <${MarketState} doc=${doc} p=${p} />
        </button></li>`)}</ul>
    </section>
    ${current ? html`<${Details} key=${current.id} doc=${doc} p=${current} />` : ''}
    <${Registries} regs=${regs} changed=${reloadAll} />
  </div>`;
}

function MarketState({ doc, p }) {
  const inst = installedVersion(doc, p.id);
  if (p.stale) return html`<${Badge} kind="market" value="stale" label="stale index" />`;
  if (doc.packageData[p.id] && doc.packageData[p.id].stateInfo.installingInfo) return html`<${Badge} kind="market" value="installing" />`;
  if (inst && inst !== p.version) return html`<${Badge} kind="market" value="update" label=${'update ' + inst + ' → ' + p.version} />`;
  if (inst) return html`<${Badge} kind="market" value="installed" />`;
  if (!p.runs) return html`<${Badge} kind="market" value="unsupported" label="not for this box" />`;
  return '';
}

// Details shows one package and installs it; the progress comes from the
// document, so it stays right across reloads and other clients.
function Details({ doc, p }) {
  const [error, setError] = useState(null);
  const entry = doc.packageData[p.id];
  const inst = installedVersion(doc, p.id);
  const installing = entry && entry.stateInfo.installingInfo;
  const install = () => call('package.install', { id: p.id, registry: p.registry });
  const update = () => call('package.update', { id: p.id });
  return html`<section class="card" id="market-details" data-pkg=${p.id} aria-labelledby="md-title">
    <div class="service-head"><${MarketIcon} p=${p} /><div>
      <h2 id="md-title">${p.title} <small class="muted">${p.version}</small></h2>
      <p class="muted">${p.id} · ${p.shortDescription}</p></div></div>
    ${p.longDescription ? html`<p class="long">${p.longDescription}</p>` : ''}
    <dl class="facts">
      <dt>Categories</dt><dd>${(p.categories || []).join(', ') || '—'}</dd>
      <dt>Architectures</dt><dd>${(p.arch || []).join(', ')}</dd>
      <dt>Size</dt><dd class="num">${fmtBytes(p.size)}</dd>
      <dt>Registry</dt><dd><code>${p.registry}</code></dd>
      <dt>Installed</dt><dd id="md-installed">${inst || '—'}</dd>
    </dl>
    <h3>Release notes</h3>
    <pre class="notes" id="md-notes">${p.releaseNotes || 'None.'}</pre>
    ${p.stale ? html`<p class="error" role="alert">This registry's index has expired: refresh it before installing.</p>` : ''}
    <div class="buttons">
      ${!inst ? html`<${ActionButton} id="md-install" kind="primary" onClick=${install} onError=${setError} disabled=${!!installing || !p.runs || p.stale}>Install<//>` : ''}
      ${inst && inst !== p.version ? html`<${ActionButton} id="md-update" kind="primary" onClick=${update} onError=${setError} disabled=${!!installing || p.stale}>Update to ${p.version}<//>` : ''}
      ${inst ? html`<a href=${'#/services/' + encodeURIComponent(p.id)} id="md-open">Open the service</a>` : ''}
    </div>
    ${installing ? html`<div class="install-job" data-installing=${p.id}>
      <${Progress} name="Overall" p=${installing.progress.overall} />
      ${installing.progress.phases.map((ph) => html`<${Progress} key=${ph.name} name=${ph.name} p=${ph.progress} />`)}</div>` : ''}
    ${inst === p.version ? html`<p class="ok" id="market-installed">${p.title} ${inst} is installed.</p>` : ''}
    <${ErrorBox} error=${error} />
  </section>`;
}

// Updates lists the installed packages a registry offers a newer version
// of (packageData.<id>.updateAvailable, live).
function Updates({ doc }) {
  const [error, setError] = useState(null);
  const ups = Object.entries(doc.packageData).filter(([, e]) => e.updateAvailable)
    .sort(([a], [b]) => a.localeCompare(b));
  const all = async () => { for (const [id] of ups) await call('package.update', { id }); };
  return html`<section class="card" aria-labelledby="updates-label" id="market-updates" data-count=${ups.length}>
    <h2 id="updates-label">Updates</h2>
    ${ups.length === 0 ? html`<p class="muted">Every installed service is up to date with the registries.</p>` : ''}
    <ul class="updates">${ups.map(([id, e]) => html`<li key=${id} data-update=${id}>
      <strong>${titleOf(id, e)}</strong> <span class="muted">${installedVersion({ packageData: { [id]: e } }, id)} → ${e.updateAvailable.version}</span>
      <${ActionButton} onClick=${() => call('package.update', { id })} onError=${setError} disabled=${!!e.stateInfo.installingInfo}>Update<//>
      ${e.updateAvailable.releaseNotes ? html`<details><summary>Release notes</summary><pre class="notes">${e.updateAvailable.releaseNotes}</pre></details>` : ''}
      ${e.stateInfo.installingInfo ? html`<${Progress} name="Overall" p=${e.stateInfo.installingInfo.progress.overall} />` : ''}
    </li>`)}</ul>
    ${ups.length > 0 ? html`<${ActionButton} id="update-all" kind="primary" onClick=${all} onError=${setError}>Update all<//>` : ''}
    <${ErrorBox} error=${error} />
  </section>`;
}

function Registries({ regs, changed }) {
  const [url, setURL] = useState('');
  const [fp, setFP] = useState('');
  const [added, setAdded] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [dialog, confirm] = useConfirm();
  const add = async (ev) => {
    ev.preventDefault();
    setBusy(true); setError(null); setAdded(null);
    try {
      const r = await call('registry.add', fp.trim() ? { url: url.trim(), fingerprint: fp.trim() } : { url: url.trim() });
      setAdded({ url: url.trim(), fingerprint: r.fingerprint, given: !!fp.trim() });
      setURL(''); setFP('');
      changed();
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const remove = async (u) => {
    if (!(await confirm(`Remove the registry ${u}? Its packages stay installed.`, 'Remove'))) return;
    await call('registry.remove', { url: u });
    changed();
  };
  const refresh = async (u) => {
    try { await call('registry.refresh', u ? { url: u } : {}); } finally { changed(); }
  };
  const list = regs.value || [];
  return html`<section class="card" aria-labelledby="regs-label" id="registries">
    <h2 id="regs-label">Registries</h2>
    ${regs.value && list.length === 0 ? html`<p class="muted">No registry is configured.</p>` : ''}
    <ul class="registries">${list.map((r) => html`<li key=${r.url} data-registry=${r.url} data-expired=${r.expired ? 'true' : 'false'}>
      <strong>${r.name || r.url}</strong> <code class="muted">${r.url}</code>
      <p class="muted">key <code class="fingerprint">${r.fingerprint || 'not yet fetched'}</code> · ${r.packages} packages · sequence ${r.sequence}${r.expires ? ' · expires ' + fmtTime(r.expires) : ''}</p>
      ${r.expired ? html`<p class="error">The cached index has expired: nothing is installed from it until a refresh succeeds.</p>` : ''}
      ${r.lastError ? html`<p class="error">Last refresh: ${r.lastError}</p>` : ''}
      <div class="buttons">
        <${ActionButton} onClick=${() => refresh(r.url)} onError=${setError} label=${'Refresh ' + r.url}>Refresh<//>
        <${ActionButton} kind="danger" onClick=${() => remove(r.url)} onError=${setError} label=${'Remove ' + r.url}>Remove…<//>
      </div></li>`)}</ul>
    ${list.length > 1 ? html`<${ActionButton} onClick=${() => refresh('')} onError=${setError}>Refresh all<//>` : ''}
    <form id="registry-add" onSubmit=${add} aria-labelledby="reg-add-label">
      <h3 id="reg-add-label">Add a registry</h3>
      <label for="registry-url">Registry URL (http or https)</label>
      <input id="registry-url" type="url" required placeholder="https://registry.example.org" value=${url} onInput=${(e) => setURL(e.target.value)} />
      <label for="registry-fingerprint">Key fingerprint (optional: without it the key the index is signed by now is pinned, and shown)</label>
      <input id="registry-fingerprint" autocomplete="off" placeholder="SHA256:…" value=${fp} onInput=${(e) => setFP(e.target.value)} />
      <button type="submit" class="primary" disabled=${busy || !url.trim()}>Add</button>
    </form>
    ${added ? html`<p class="ok" id="registry-added" role="status">Added ${added.url}, pinned to the key <code class="fingerprint">${added.fingerprint}</code>${added.given ? '.' : ': compare this fingerprint with the one the registry publishes.'}</p>` : ''}
    <${ErrorBox} error=${error} />
    ${dialog}
  </section>`;
}
