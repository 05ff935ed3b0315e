// A package's config (StartOS 0.3 ValueSpec) as a form, checked by the box
// (package.config.set with dryRun) as it is edited, and its properties.
import { html, useState, useEffect, useRef } from './vendor/preact-htm.js';
import { call } from './rpc.js';
import { ErrorBox, useCall } from './ui.js';

// defaultsOf fills a spec's defaults for a new item or variant; generated
// string defaults ({charset, len}) are left to the box (empty here).
export function defaultsOf(spec) {
  const out = {};
  for (const [k, s] of Object.entries(spec || {})) out[k] = defaultOf(s);
  return out;
}

function defaultOf(s) {
  switch (s.type) {
    case 'object': return defaultsOf(s.spec);
    case 'union': {
      const tag = s.default || Object.keys(s.variants || {})[0];
      return { ...defaultsOf((s.variants || {})[tag]), [s.tag.id]: tag };
    }
    case 'list': return Array.isArray(s.default) ? structuredClone(s.default) : [];
    case 'boolean': return s.default === true;
    case 'pointer': return null;
    default:
      if (s.default !== undefined && typeof s.default !== 'object') return s.default;
      if (s.type === 'enum') return (s.values || [])[0] ?? null;
      return s.type === 'string' && s.nullable === false ? '' : null;
  }
}

// itemSpec is the value spec of one item of a list spec.
function itemSpec(s) {
  const sub = s.subtype || 'string';
  if (sub === 'object') return { type: 'object', name: s.name, spec: (s.spec || {}).spec || {}, 'display-as': (s.spec || {})['display-as'] };
  if (sub === 'union') return { type: 'union', name: s.name, ...(s.spec || {}) };
  return { type: sub, nullable: false, ...(s.spec || {}) };
}

const fieldId = (path) => 'cfg-' + path.replace(/[^A-Za-z0-9_-]+/g, '-');
const join = (path, k) => (path ? path + '.' + k : k);

// ValueField renders one value at path (StartOS's path form:
// users[1].name) and its error, if the box named that path.
function ValueField({ path, s, value, set, errors }) {
  const id = fieldId(path);
  const err = errors[path];
  const errEl = err ? html`<small class="error field-error" role="alert" data-error-path=${path}>${err}</small>` : '';
  const desc = s.description ? html`<small class="muted" id=${id + '-d'}>${s.description}</small>` : '';
  const label = html`<label for=${id}>${s.name || path}${s.nullable === false ? ' *' : ''}</label>`;
  const common = { id, 'data-path': path, 'aria-invalid': err ? 'true' : undefined, 'aria-describedby': s.description ? id + '-d' : undefined };
  switch (s.type) {
    case 'boolean':
      return html`<div class="field check"><input type="checkbox" ...${common} checked=${!!value} onChange=${(e) => set(e.target.checked)} />${label}${desc}${errEl}</div>`;
    case 'number':
      return html`<div class="field">${label}<span class="with-units"><input type="number" ...${common} step=${s.integral ? 1 : 'any'}
        value=${value == null ? '' : value} placeholder=${s.placeholder || ''} onInput=${(e) => set(e.target.value === '' ? null : Number(e.target.value))} />${s.units ? html`<span class="muted"> ${s.units}</span>` : ''}</span>${desc}${errEl}</div>`;
    case 'enum': {
      const names = s['value-names'] || {};
      return html`<div class="field">${label}<select ...${common} value=${value ?? ''} onChange=${(e) => set(e.target.value)}>
        ${(s.values || []).map((v) => html`<option value=${v}>${names[v] || v}</option>`)}</select>${desc}${errEl}</div>`;
    }
    case 'string':
      return html`<div class="field">${label}<input type=${s.masked ? 'password' : 'text'} ...${common} autocomplete="off"
        value=${value == null ? '' : value} placeholder=${s.placeholder || ''} title=${s['pattern-description'] || undefined}
        onInput=${(e) => set(e.target.value === '' && s.nullable ? null : e.target.value)} />${desc}${errEl}</div>`;
    case 'pointer':
      return html`<div class="field">${label}<output ...${common} class="pointer">${value == null ? 'not available' : JSON.stringify(value)}</output>
        <small class="muted">Filled in by the box.</small>${desc}</div>`;
    case 'object':
      return html`<fieldset class="field" data-path=${path}><legend>${s.name || path}</legend>${desc}${errEl}
        <${SpecFields} path=${path} spec=${s.spec} value=${value || {}} set=${set} errors=${errors} /></fieldset>`;
    case 'union': {
      const tagId = s.tag.id;
      const tag = value && value[tagId];
      const names = s.tag['variant-names'] || {};
      const variant = (s.variants || {})[tag] || {};
      const pick = (t) => set({ ...defaultsOf((s.variants || {})[t]), [tagId]: t });
      return html`<fieldset class="field" data-path=${path}><legend>${s.name || path}</legend>${desc}
        <div class="field"><label for=${fieldId(join(path, tagId))}>${s.tag.name || tagId}</label>
          <select id=${fieldId(join(path, tagId))} data-path=${join(path, tagId)} value=${tag ?? ''} onChange=${(e) => pick(e.target.value)}>
          ${Object.keys(s.variants || {}).map((v) => html`<option value=${v}>${names[v] || v}</option>`)}</select>
          ${errors[join(path, tagId)] ? html`<small class="error field-error" role="alert" data-error-path=${join(path, tagId)}>${errors[join(path, tagId)]}</small>` : ''}</div>
        ${errEl}<${SpecFields} path=${path} spec=${variant} value=${value || {}} set=${set} errors=${errors} /></fieldset>`;
    }
    case 'list': {
      const items = Array.isArray(value) ? value : [];
      const is = itemSpec(s);
      const label = (it, i) => {
        const d = is['display-as'];
        return d && it ? d.replace(/\{\{([^}]+)\}\}/g, (_, k) => it[k.trim()] ?? '') : `${s.name || path} ${i + 1}`;
      };
      return html`<fieldset class="field list" data-path=${path}><legend>${s.name || path}</legend>${desc}${errEl}
        <ol class="list-items">${items.map((it, i) => html`<li key=${i} class="list-item">
          <${ValueField} path=${`${path}[${i}]`} s=${{ ...is, name: label(it, i) }} value=${it} errors=${errors}
            set=${(v) => set(items.map((x, j) => (j === i ? v : x)))} />
          <button type="button" class="remove-item" data-remove=${`${path}[${i}]`} onClick=${() => set(items.filter((_, j) => j !== i))}>Remove</button></li>`)}</ol>
        <button type="button" class="add-item" data-add=${path} onClick=${() => set(items.concat([defaultOf(is)]))}>Add ${is.type === 'object' || is.type === 'union' ? 'an item' : 'a value'}</button></fieldset>`;
    }
  }
  return html`<p class="muted">${path}: unsupported type ${s.type}</p>`;
}

function SpecFields({ path, spec, value, set, errors }) {
  return Object.entries(spec || {}).map(([k, s]) => html`<${ValueField} key=${k} path=${join(path, k)} s=${s}
    value=${value[k]} errors=${errors} set=${(v) => set({ ...value, [k]: v })} />`);
}

// pathOf reads the path a config error names ("invalid config: a.b[0]: …").
function pathOf(msg) {
  const m = /invalid config: ([^\s:][^:]*): (.*)$/.exec(msg || '');
  return m ? [m[1], m[2]] : null;
}

export function ConfigCard({ id, entry }) {
  const needs = entry.statusInfo.configured === false;
  const [open, setOpen] = useState(needs);
  return html`<section class="card" aria-labelledby="config-label" id="config-card">
    <h2 id="config-label">Config</h2>
    ${needs ? html`<p class="warning" id="config-needed">This service needs its config saved before it can start.</p>` : ''}
    <button type="button" id="config-toggle" aria-expanded=${open} onClick=${() => setOpen(!open)}>${open ? 'Close' : 'Configure…'}</button>
    ${open ? html`<${ConfigForm} id=${id} />` : ''}
  </section>`;
}

function ConfigForm({ id }) {
  const res = useCall('package.config.get', { id }, [id]);
  const [value, setValue] = useState(null);
  const [errors, setErrors] = useState({});
  const [problem, setProblem] = useState(null);
  const [breakages, setBreakages] = useState({});
  const [state, setState] = useState('');
  const seq = useRef(0);
  useEffect(() => { if (res.value) setValue(res.value.config || defaultsOf(res.value.spec)); }, [res.value]);
  // Every edit is checked by the box (a dry run); the newest answer wins.
  const check = async (v, save) => {
    const n = ++seq.current;
    try {
      const br = await call('package.config.set', save ? { id, config: v } : { id, config: v, dryRun: true });
      if (n !== seq.current) return;
      setErrors({}); setProblem(null); setBreakages(br || {});
      setState(save ? 'saved' : 'valid');
    } catch (e) {
      if (n !== seq.current) return;
      const p = pathOf(e.message);
      setErrors(p ? { [p[0]]: p[1] } : {});
      setProblem(e);
      setState('invalid');
    }
  };
  const timer = useRef(0);
  useEffect(() => () => clearTimeout(timer.current), []);
  const edit = (v) => {
    setValue(v); setState('checking');
    clearTimeout(timer.current);
    timer.current = setTimeout(() => check(v, false), 300);
  };
  if (res.error) return html`<${ErrorBox} error=${res.error} />`;
  if (!res.value || !value) return html`<p class="muted">Loading the config…</p>`;
  const submit = (ev) => { ev.preventDefault(); clearTimeout(timer.current); setState('saving'); check(value, true); };
  const broken = Object.entries(breakages);
  return html`<form id="config-form" class="config-form" data-state=${state} onSubmit=${submit} novalidate>
    <${SpecFields} path="" spec=${res.value.spec} value=${value} set=${edit} errors=${errors} />
    ${broken.length ? html`<div class="warning" id="config-breakages"><p>Saving this breaks:</p><ul>${broken.map(([d, b]) => html`<li key=${d}><strong>${d}</strong>: ${b.error}</li>`)}</ul></div>` : ''}
    <${ErrorBox} error=${problem} />
    <div class="buttons"><button type="submit" class="primary" id="config-save" disabled=${state === 'saving'}>${state === 'saving' ? 'Saving…' : 'Save'}</button>
      <span role="status" id="config-status" class="muted">${{ saved: 'Saved.', valid: 'Valid.', checking: 'Checking…', invalid: 'Not valid yet.' }[state] || ''}</span></div>
  </form>`;
}

export function PropertiesCard({ id }) {
  const [open, setOpen] = useState(false);
  return html`<section class="card" aria-labelledby="props-label" id="props-card">
    <h2 id="props-label">Properties</h2>
    <button type="button" id="props-toggle" aria-expanded=${open} onClick=${() => setOpen(!open)}>${open ? 'Hide' : 'Show properties'}</button>
    ${open ? html`<${PropertiesView} id=${id} />` : ''}
  </section>`;
}

function PropertiesView({ id }) {
  const res = useCall('package.properties', { id }, [id]);
  if (res.error) return html`<${ErrorBox} error=${res.error} />`;
  if (res.loading) return html`<p class="muted">Loading…</p>`;
  if (!res.value || Object.keys(res.value.data || {}).length === 0) return html`<p class="muted" id="props-none">No properties yet.</p>`;
  return html`<${PropList} data=${res.value.data} path="" />`;
}

function PropList({ data, path }) {
  return html`<dl class="props">${Object.keys(data).sort().map((k) => html`<${Prop} key=${k} name=${k} p=${data[k]} path=${join(path, k)} />`)}</dl>`;
}

function Prop({ name, p, path }) {
  const [shown, setShown] = useState(false);
  const [copied, setCopied] = useState(false);
  if (p.type === 'object') {
    return html`<dt>${name}</dt><dd>${p.description ? html`<small class="muted">${p.description}</small>` : ''}<${PropList} data=${p.value || {}} path=${path} /></dd>`;
  }
  const v = String(p.value ?? '');
  const copy = async () => { try { await navigator.clipboard.writeText(v); setCopied(true); } catch { setCopied(false); } };
  return html`<dt>${name}</dt><dd data-prop=${path}>
    <code class="value" data-masked=${p.masked && !shown ? 'true' : 'false'}>${p.masked && !shown ? '••••••••' : v}</code>
    ${p.masked ? html` <button type="button" class="reveal" onClick=${() => setShown(!shown)}>${shown ? 'Hide' : 'Reveal'}</button>` : ''}
    ${p.copyable ? html` <button type="button" class="copy" data-copy=${path} onClick=${copy}>${copied ? 'Copied' : 'Copy'}</button>` : ''}
    ${p.description ? html`<br /><small class="muted">${p.description}</small>` : ''}</dd>`;
}
