// Vitest run of the runner integration (.ci/clients-node.sh):
//   vitest run --config test/runners/vitest/vitest.config.mjs
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['**/*.test.mjs'],
    globalSetup: ['./global-setup.mjs'],
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
});
