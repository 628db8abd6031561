/** Jest in native ESM mode (NestJS 12 is ESM-only): run through `npm test`, which sets --experimental-vm-modules. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^nestjs-typed-session$': '<rootDir>/src/session/index.ts',
    '^nestjs-typed-session/socket\\.io$': '<rootDir>/src/session/sockets/socket.io.ts',
    '^nestjs-typed-session/ws$': '<rootDir>/src/session/sockets/ws.ts',
    '^nestjs-typed-session/graphql$': '<rootDir>/src/session/graphql/index.ts',
    '^nestjs-typed-session/testing$': '<rootDir>/src/session/testing/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }],
  },
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  globalSetup: '<rootDir>/test/global-setup.mjs',
  globalTeardown: '<rootDir>/test/global-teardown.mjs',
  testTimeout: 30_000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
