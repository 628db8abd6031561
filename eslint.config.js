// ESLint flat config: typescript-eslint's type-checked presets for the TypeScript, ESLint's own recommended
// rules for the JavaScript, and eslint-config-prettier last so that formatting is Prettier's alone.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts'],
    extends: [tseslint.configs.recommendedTypeChecked, tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: {
        // Each file is checked with the tsconfig.json nearest to it: the root one for src/ and test/,
        // test/types/ and bench/ their own; scripts/mongo-server.d.mts through the tests that import it.
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Omitting a property by destructuring it away (`const { persistent: _persistent, ...rest } = o`) is intended.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // Node-style callbacks (express-session's regenerate, the store's get) hand their errors over typed
      // `any`; they are passed on to the promise exactly as they came.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
    },
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
