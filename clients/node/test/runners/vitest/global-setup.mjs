// The shipped globalSetup ('smtpsink-testcontainers/vitest/global-setup'),
// plus the CI run's label on the container.
import { createRequire } from 'node:module';
import { startSharedSink } from 'smtpsink-testcontainers/testing';

const ciLabels = createRequire(import.meta.url)('../ci-labels.js');

export async function setup() {
  await startSharedSink({ labels: ciLabels() });
}

export { teardown } from 'smtpsink-testcontainers/vitest/global-setup';
