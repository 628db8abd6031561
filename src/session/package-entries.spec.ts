import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The main entry must work for applications without GraphQL or WebSocket packages: it may not import them,
// not even through another file. Each transport entry imports only the packages it documents; the test
// helpers (`/testing`) none of them, and no test framework either.

const sessionDir = dirname(fileURLToPath(import.meta.url));

/** The packages imported (at run time) by `entry` and every file of the library it reaches. */
function packagesReachedFrom(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    // `import type` and `export type` vanish at compile time; everything else is loaded.
    const imports = source.matchAll(/^(?:import|export)(?!\s+type\s)[^;]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm);
    for (const [, from, bare] of imports) {
      const specifier = from ?? bare;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else
        packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
    }
  };
  visit(resolve(sessionDir, entry));
  return packages;
}

const OPTIONAL = [
  '@nestjs/websockets',
  '@nestjs/platform-socket.io',
  '@nestjs/platform-ws',
  'socket.io',
  'ws',
  'graphql',
  'graphql-ws',
];

describe('package entries', () => {
  it('the main entry imports no optional transport package', () => {
    const reached = packagesReachedFrom('index.ts');
    expect(OPTIONAL.filter((name) => reached.has(name))).toEqual([]);
    expect(reached.has('@nestjs/common')).toBe(true); // the walk does find imports
  });

  it.each([
    ['sockets/socket.io.ts', ['@nestjs/websockets', '@nestjs/platform-socket.io']],
    ['sockets/ws.ts', ['@nestjs/websockets', '@nestjs/platform-ws']],
    ['graphql/index.ts', ['graphql']],
    ['testing/index.ts', []],
  ])('%s imports %j and no other optional package', (entry, expected) => {
    const reached = packagesReachedFrom(entry);
    expect(OPTIONAL.filter((name) => reached.has(name)).sort()).toEqual([...expected].sort());
  });

  it('testing/index.ts imports no test framework or HTTP client (it works with any runner)', () => {
    const reached = packagesReachedFrom('testing/index.ts');
    expect(['@nestjs/testing', 'jest', '@jest/globals', 'supertest'].filter((name) => reached.has(name))).toEqual([]);
    expect(reached.has('@nestjs/common')).toBe(true);
  });
});
