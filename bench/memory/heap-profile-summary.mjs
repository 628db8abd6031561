// Summarises sampling heap profiles written by the probe (MEM_SAMPLING=1 in bench/memory/run.ts): the
// sampled bytes of objects that survived a scavenge during the load, by the package of the allocating
// function, by function, and by whether this repository's library (dist/session) was on the stack.
//
//   node bench/memory/heap-profile-summary.mjs a.heapprofile [b.heapprofile…]
import { readFileSync } from 'node:fs';

const MiB = 1024 * 1024;

function group(url) {
  if (url === '') return '(native / V8)';
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url.slice(url.lastIndexOf('node_modules/')));
  if (packageMatch) return packageMatch[1];
  if (url.startsWith('node:')) return 'node:';
  if (/\/dist\/session\//.test(url)) return 'lib';
  if (/\/dist\/(app\/|main\.js)/.test(url)) return 'app';
  return '(other)';
}

function summarise(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byPackage = new Map();
  const byFunction = new Map();
  let total = 0;
  let libOnStack = 0;
  const add = (map, key, size) => map.set(key, (map.get(key) ?? 0) + size);
  const walk = (node, stack) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const here = [...stack, group(url)];
    if (node.selfSize > 0) {
      total += node.selfSize;
      // Attributed to the nearest frame that is not Node's own (node:internal allocates for its callers).
      const owner = [...here].reverse().find((name) => name !== 'node:' && name !== '(native / V8)') ?? 'node:';
      add(byPackage, owner, node.selfSize);
      add(
        byFunction,
        `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${lineNumber + 1}`,
        node.selfSize,
      );
      if (here.includes('lib')) libOnStack += node.selfSize;
    }
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, []);
  return { file, total, libOnStack, byPackage, byFunction };
}

const mib = (bytes) => (bytes / MiB).toFixed(2).padStart(7);
const top = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
for (const file of process.argv.slice(2)) {
  const summary = summarise(file);
  console.log(`# ${file}: ${mib(summary.total)} MiB sampled; with the library on the stack ${mib(summary.libOnStack)}`);
  console.log('By package of the allocating code (MiB):');
  for (const [key, value] of top(summary.byPackage, 12)) console.log(`  ${key.padEnd(30)} ${mib(value)}`);
  console.log('By function (MiB):');
  for (const [key, value] of top(summary.byFunction, Number(process.env.TOP ?? 20)))
    console.log(`  ${key.slice(0, 90).padEnd(90)} ${mib(value)}`);
  console.log('');
}
