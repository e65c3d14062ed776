/**
 * Jest globalSetup: `globalSetup: 'smtpsink-testcontainers/jest/global-setup'`.
 * Starts the run's sink (or takes the running one the environment names)
 * before the workers start; they inherit its variables. Pair it with
 * `smtpsink-testcontainers/jest/global-teardown`. For container settings
 * write your own module calling startSharedSink({ image, labels, configure })
 * from `smtpsink-testcontainers/testing`.
 */
import { startSharedSink } from './testing';

export = async function globalSetup(): Promise<void> {
  await startSharedSink();
};
