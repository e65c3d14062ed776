/**
 * Jest integration: `smtpsink-testcontainers/jest`.
 *
 *   // jest.config.js
 *   module.exports = {
 *     globalSetup: 'smtpsink-testcontainers/jest/global-setup',
 *     globalTeardown: 'smtpsink-testcontainers/jest/global-teardown',
 *   };
 *
 *   const { mailbox } = require('smtpsink-testcontainers/jest');  // at the top of the test file
 *   test('signup', async () => {
 *     const mb = await mailbox();                 // cleared after the test (afterEach)
 *     ...
 *   });
 *
 * Loading this module registers, in the test file that loads it, an
 * afterEach that closes the mailboxes its tests opened and an afterAll that
 * closes the file's client; so load it at the top level of a test file (or
 * a setupFilesAfterEnv file), not inside a test. Tests of one file run one
 * after another; files run at the same time in Jest's workers (one sink for
 * all of them). test.concurrent is not supported: afterEach does not
 * follow concurrent tests.
 */
import { closeSharedClient, openMailbox } from './testing';
import type { Mailbox } from './testing';

export { Mailbox } from './testing';
export type { MailboxWaitOptions, MailboxListOptions, MailboxRejectOptions, SinkAddresses } from './testing';

type Hook = (fn: () => Promise<void> | void) => void;
interface JestGlobals {
  afterEach: Hook;
  afterAll: Hook;
  expect: { getState(): { currentTestName?: string } };
}

function jestGlobals(): JestGlobals {
  const g = globalThis as unknown as Partial<JestGlobals>;
  if (typeof g.afterEach === 'function' && typeof g.afterAll === 'function' && g.expect) return g as JestGlobals;
  // injectGlobals: false; Jest's module registry answers this name itself
  return require('@jest/globals') as JestGlobals;
}

const hooks = jestGlobals();
const open = new Set<Mailbox>();

hooks.afterEach(async () => {
  const boxes = [...open];
  open.clear();
  for (const mb of boxes) await mb.close();
});
hooks.afterAll(() => closeSharedClient());

/** This test's mailbox on the run's sink; deleted rules and cleared mail after the test. */
export async function mailbox(): Promise<Mailbox> {
  const mb = await openMailbox(hooks.expect.getState().currentTestName ?? 'test');
  open.add(mb);
  return mb;
}
