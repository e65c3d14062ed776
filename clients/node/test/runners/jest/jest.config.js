// Jest run of the runner integration (.ci/clients-node.sh):
//   jest --config test/runners/jest/jest.config.js
// Two test files, two workers, one sink. RUN_TAG is made once here, in the
// main process, and reaches both workers as a global.
'use strict';
const crypto = require('node:crypto');

module.exports = {
  rootDir: __dirname,
  testMatch: ['<rootDir>/*.test.js'],
  testEnvironment: 'node',
  transform: {},
  maxWorkers: 2,
  // a memory limit makes Jest use its workers even when earlier runs say
  // the files are fast (it runs up to 20 fast files in band otherwise, and
  // the two files wait for each other)
  workerIdleMemoryLimit: '1GB',
  testTimeout: 90_000,
  globalSetup: '<rootDir>/global-setup.js',
  globalTeardown: 'smtpsink-testcontainers/jest/global-teardown',
  globals: { RUN_TAG: `r${crypto.randomBytes(5).toString('hex')}` },
};
