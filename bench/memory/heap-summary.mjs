// Summarises V8 heap snapshots for the memory study (bench/memory/README.md) and compares them:
//
//   node bench/memory/heap-summary.mjs base.heapsnapshot other.heapsnapshot [more…]
//
// For each snapshot: total self size; self size by kind (V8 node type, with the constructor for objects);
// and the code of each script (its source string, SharedFunctionInfos, bytecode, scope infos, feedback,
// closures; whatever those reach through V8's internal edges and nobody else claimed first), grouped by
// package: `node_modules/<package>`, `lib` (dist/session), `app` (dist/app, dist/main.js), `bench`,
// `node:` (Node's own). Every snapshot after the first is printed as a difference from the first.
import { readFileSync } from 'node:fs';

const MiB = 1024 * 1024;

function load(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const { nodes, edges, strings } = snap;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const count = nodes.length / NF;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i += 1) {
    firstEdge[i] = e;
    e += nodes[i * NF + 4] * EF;
  }
  firstEdge[count] = edges.length;
  const type = (i) => nodeTypes[nodes[i * NF]];
  const name = (i) => strings[nodes[i * NF + 1]];
  const size = (i) => nodes[i * NF + 3];
  function* out(i) {
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
      const edgeType = edgeTypes[edges[e]];
      const edgeName = edgeType === 'element' || edgeType === 'hidden' ? edges[e + 1] : strings[edges[e + 1]];
      yield { edgeType, edgeName, to: edges[e + 2] / NF };
    }
  }
  return { count, type, name, size, out };
}

/** The package a script belongs to. */
function group(path) {
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path.slice(path.lastIndexOf('node_modules/')));
  if (packageMatch) return packageMatch[1];
  if (path.startsWith('node:')) return 'node:';
  if (/\/dist\/session\//.test(path)) return 'lib';
  if (/\/dist\/(app\/|main\.js)/.test(path)) return 'app';
  if (/\/dist\/bench\/|\/bench\//.test(path)) return 'bench';
  return '(other)';
}

function summarise(file) {
  const heap = load(file);
  const byKind = new Map();
  let total = 0;
  const scriptOf = new Int32Array(heap.count).fill(-1);
  const claimed = new Uint8Array(heap.count);
  const scripts = [];
  for (let i = 0; i < heap.count; i += 1) {
    const type = heap.type(i);
    total += heap.size(i);
    const kind = type === 'object' || type === 'native' ? `${type}: ${heap.name(i)}` : type;
    byKind.set(kind, (byKind.get(kind) ?? 0) + heap.size(i));
    // Script objects are 'code' nodes named after their file, with a 'source' edge.
    if (type === 'code' && /^(file:|node:|\/)/.test(heap.name(i)))
      for (const edge of heap.out(i))
        if (edge.edgeName === 'source') {
          scriptOf[i] = scripts.length;
          scripts.push({ path: heap.name(i), size: 0 });
          break;
        }
  }
  const claim = (root, script) => {
    const stack = [root];
    while (stack.length) {
      const i = stack.pop();
      if (claimed[i]) continue;
      claimed[i] = 1;
      scripts[script].size += heap.size(i);
      for (const edge of heap.out(i)) {
        if (edge.edgeType === 'weak' || claimed[edge.to] || scriptOf[edge.to] >= 0) continue;
        const type = heap.type(edge.to);
        // Only V8's own structures: the objects a module's code creates are counted by kind, not here.
        if (type !== 'code' && type !== 'hidden' && type !== 'array' && type !== 'string') continue;
        if (edge.edgeName === 'script' || edge.edgeName === 'context' || edge.edgeName === 'map') continue;
        stack.push(edge.to);
      }
    }
  };
  // SharedFunctionInfos point at their script; closures at their SharedFunctionInfo.
  const sharedOf = new Int32Array(heap.count).fill(-1);
  for (let i = 0; i < heap.count; i += 1)
    for (const edge of heap.out(i))
      if (edge.edgeName === 'script' && scriptOf[edge.to] >= 0) sharedOf[i] = scriptOf[edge.to];
  for (let i = 0; i < heap.count; i += 1) if (scriptOf[i] >= 0) claim(i, scriptOf[i]);
  for (let i = 0; i < heap.count; i += 1) if (sharedOf[i] >= 0) claim(i, sharedOf[i]);
  for (let i = 0; i < heap.count; i += 1) {
    if (heap.type(i) !== 'closure') continue;
    for (const edge of heap.out(i))
      if (edge.edgeName === 'shared' && sharedOf[edge.to] >= 0) {
        claim(i, sharedOf[edge.to]);
        break;
      }
  }
  const byGroup = new Map();
  const byScript = new Map();
  for (const script of scripts) {
    const key = group(script.path);
    const entry = byGroup.get(key) ?? { size: 0, scripts: 0 };
    entry.size += script.size;
    entry.scripts += 1;
    byGroup.set(key, entry);
    byScript.set(script.path.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/'), script.size);
  }
  return { file, total, byKind, byGroup, byScript };
}

const mib = (bytes) => (bytes / MiB).toFixed(2);
const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node bench/memory/heap-summary.mjs base.heapsnapshot [other.heapsnapshot…]\n');
  process.exit(2);
}
const [base, ...others] = files.map(summarise);
const top = (map, n) => [...map].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, n);
const codeTotal = (summary) => [...summary.byGroup.values()].reduce((sum, entry) => sum + entry.size, 0);

console.log(`# ${base.file}: ${mib(base.total)} MiB, of which script code ${mib(codeTotal(base))} MiB`);
console.log('\nBy package (script code, MiB, scripts):');
for (const [key, entry] of top(new Map([...base.byGroup].map(([key, entry]) => [key, entry.size])), 25))
  console.log(`  ${key.padEnd(40)} ${mib(entry).padStart(7)} ${String(base.byGroup.get(key).scripts).padStart(5)}`);
console.log('\nBy kind (MiB):');
for (const [key, value] of top(base.byKind, 25))
  console.log(`  ${key.slice(0, 60).padEnd(60)} ${mib(value).padStart(7)}`);

for (const other of others) {
  console.log(`\n# ${other.file} − ${base.file}: ${mib(other.total - base.total)} MiB (total ${mib(other.total)});`);
  console.log(`  script code ${mib(codeTotal(other) - codeTotal(base))} MiB`);
  const diff = (a, b) => {
    const keys = new Set([...a.keys(), ...b.keys()]);
    return new Map([...keys].map((key) => [key, (a.get(key) ?? 0) - (b.get(key) ?? 0)]));
  };
  const sizes = (summary) => new Map([...summary.byGroup].map(([key, entry]) => [key, entry.size]));
  console.log('\nBy package (script code, MiB):');
  for (const [key, value] of top(diff(sizes(other), sizes(base)), 20))
    if (Math.abs(value) >= 0.01 * MiB) console.log(`  ${key.padEnd(40)} ${mib(value).padStart(7)}`);
  console.log('\nBy script (MiB):');
  for (const [key, value] of top(diff(other.byScript, base.byScript), 25))
    if (Math.abs(value) >= 0.01 * MiB) console.log(`  ${key.slice(0, 70).padEnd(70)} ${mib(value).padStart(7)}`);
  console.log('\nBy kind (MiB):');
  for (const [key, value] of top(diff(other.byKind, base.byKind), 25))
    console.log(`  ${key.slice(0, 60).padEnd(60)} ${mib(value).padStart(7)}`);
}
