/**
 * Jest globalTeardown: `globalTeardown: 'smtpsink-testcontainers/jest/global-teardown'`.
 * Stops the container the global setup started, if any.
 */
import { stopSharedSink } from './testing';

export = async function globalTeardown(): Promise<void> {
  await stopSharedSink();
};
