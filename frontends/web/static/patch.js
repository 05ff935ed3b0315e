// RFC 6902 JSON Patch, applied without mutating: every object on a changed
// path is copied, everything else keeps its identity, so views can tell
// what changed by comparing references.

function keys(ptr) {
  if (ptr === '') return [];
  return ptr.slice(1).split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function get(doc, path) {
  let v = doc;
  for (const k of path) v = v == null ? undefined : v[k];
  return v;
}

function edit(node, path, f) {
  const copy = Array.isArray(node) ? node.slice() : { ...node };
  if (path.length === 1) f(copy, path[0]);
  else copy[path[0]] = edit(node[path[0]], path.slice(1), f);
  return copy;
}

function applyOp(doc, op) {
  const path = keys(op.path);
  switch (op.op) {
    case 'add':
    case 'replace':
      if (!path.length) return op.value;
      return edit(doc, path, (p, k) => {
        if (!Array.isArray(p)) p[k] = op.value;
        else if (op.op === 'add') p.splice(k === '-' ? p.length : +k, 0, op.value);
        else p[+k] = op.value;
      });
    case 'remove':
      return edit(doc, path, (p, k) => (Array.isArray(p) ? p.splice(+k, 1) : delete p[k]));
    case 'move': {
      const v = get(doc, keys(op.from));
      return applyOp(applyOp(doc, { op: 'remove', path: op.from }), { op: 'add', path: op.path, value: v });
    }
    case 'copy':
      return applyOp(doc, { op: 'add', path: op.path, value: structuredClone(get(doc, keys(op.from))) });
    case 'test':
      return doc;
  }
  throw new Error('unknown patch operation ' + op.op);
}

export function applyPatch(doc, patch) {
  for (const op of patch) doc = applyOp(doc, op);
  return doc;
}
