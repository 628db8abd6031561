// ESLint flat config: typescript-eslint's type-checked presets for the TypeScript, ESLint's own recommended
// rules for the JavaScript, and eslint-config-prettier last so that formatting is Prettier's alone.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  // What .gitignore leaves out (ESLint does not read it; Prettier does).
  { ignores: ['dist/', 'coverage/', 'node_modules/', '.cache/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts'],
    extends: [tseslint.configs.recommendedTypeChecked, tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: {
        // Each file is checked with the tsconfig.json nearest to it: the root one for src/ and test/,
        // test/types/ its own; scripts/mongo-server.d.mts through the tests that import it.
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A caught or callback error is passed on exactly as it came: typed `unknown` (catch clauses, rejections
      // relayed by the store's timeout) or `any` (express-session's callbacks). Wrapping it would change it.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
    },
  },
  {
    // bench/ and example/ have tsconfigs that resolve 'nestjs-typed-session' to the build in dist/, which
    // lint must not need: the root tsconfig.json (which includes both) maps it to src/ instead.
    files: ['bench/**/*.ts', 'example/**/*.ts'],
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.json' } },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // The tests assert on what supertest's `response.body`, Nest's `getHttpServer()` and raw MongoDB documents
      // give them, all typed `any` by their libraries; a cast at each assertion would check nothing more.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  prettier,
);
