/**
 * Vitest globalSetup: `globalSetup: ['smtpsink-testcontainers/vitest/global-setup']`.
 * setup() starts the run's sink (or takes the running one the environment
 * names) before the workers start; teardown() stops what it started.
 * For container settings write your own globalSetup file calling
 * startSharedSink({ image, labels, configure }) from
 * `smtpsink-testcontainers/testing`, with stopSharedSink() as teardown.
 */
import { startSharedSink, stopSharedSink } from './testing';

export async function setup(): Promise<void> {
  await startSharedSink();
}

export async function teardown(): Promise<void> {
  await stopSharedSink();
}
