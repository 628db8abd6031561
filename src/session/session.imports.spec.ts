import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The library's import graph, counting type imports too: no cycle, and the layers of the tree hold. The core
// knows no transport and no database; only the module picks the MongoDB store; the optional transports are
// reached from their own entries and the module alone; the test helpers (`testing/`) are an entry nothing
// imports; the example application is a user, never imported.

const root = resolve('src/session');

function sources(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.spec.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)';|^import\s+'(\.[^']+)';/gms)].map((match) =>
    resolve(dirname(file), (match[1] ?? match[2]).replace(/\.js$/, '.ts')),
  );
}

const graph = new Map(sources(root).map((file) => [file, importsOf(file)]));
const edges = [...graph].flatMap(([file, targets]) =>
  targets.map((target) => ({ from: relative(root, file), to: relative(root, target) })),
);
const under = (folder: string) => (path: string) => path.startsWith(`${folder}/`);

/** Each rule: the importing files it covers, the files they must not import. */
const rules: { name: string; importer: (path: string) => boolean; forbidden: (path: string) => boolean }[] = [
  {
    name: 'core/ imports neither http/, store/mongodb/, sockets/ nor graphql/',
    importer: under('core'),
    forbidden: (path) => ['http', 'store/mongodb', 'sockets', 'graphql'].some((folder) => under(folder)(path)),
  },
  {
    name: 'core/, interfaces/ and options/ import no guard, decorator or interceptor',
    importer: (path) => ['core', 'interfaces', 'options'].some((folder) => under(folder)(path)),
    forbidden: (path) => ['guards', 'decorators', 'interceptors'].some((folder) => under(folder)(path)),
  },
  {
    name: 'only the module imports store/mongodb/ (everything else uses the SessionStore contract)',
    importer: (path) => !under('store/mongodb')(path) && path !== 'session.module.ts',
    forbidden: under('store/mongodb'),
  },
  {
    name: 'sockets/ is imported by none of core/, interfaces/, options/, http/, store/',
    importer: (path) => ['core', 'interfaces', 'options', 'http', 'store'].some((folder) => under(folder)(path)),
    forbidden: under('sockets'),
  },
  {
    name: 'graphql/ is imported by nothing else',
    importer: (path) => !under('graphql')(path),
    forbidden: under('graphql'),
  },
  {
    name: 'testing/ (the test helpers entry) is imported by nothing else',
    importer: (path) => !under('testing')(path),
    forbidden: under('testing'),
  },
  {
    name: "testing/ imports no transport or store implementation (it runs the app's own providers)",
    importer: under('testing'),
    forbidden: (path) => ['store/mongodb', 'sockets', 'graphql'].some((folder) => under(folder)(path)),
  },
  {
    name: 'nothing imports the example application or the tests',
    importer: () => true,
    forbidden: (path) => path.startsWith('../') || path.startsWith('..\\'),
  },
];

describe('import graph', () => {
  it('has no cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      path.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open')
          cycles.push([...path.slice(path.indexOf(next)), next].map((p) => relative(root, p)).join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(graph.size).toBeGreaterThan(30);
    expect(cycles).toEqual([]);
  });

  it.each(rules.map((rule) => [rule.name, rule] as const))('%s', (_name, rule) => {
    const covered = edges.filter((edge) => rule.importer(edge.from));
    expect(covered.length).toBeGreaterThan(0); // the rule looks at some imports
    expect(covered.filter((edge) => rule.forbidden(edge.to)).map((edge) => `${edge.from} -> ${edge.to}`)).toEqual([]);
  });
});
