/**
 * node:test integration: `smtpsink-testcontainers/node-test`.
 *
 *   const { mailbox } = require('smtpsink-testcontainers/node-test');
 *   test('signup', async (t) => {
 *     const mb = await mailbox(t);                 // cleared by t.after
 *     await app.signup(mb.address('alice'));       // sends to mb.smtpHost:mb.smtpPort
 *     const [m] = await mb.wait({ count: 1 });
 *   });
 *
 * One sink per run, by either
 *  - `with-smtpsink node --test` (this package's bin; any Node version): it
 *    runs the global setup, the command with the sink's variables, then the
 *    teardown; or
 *  - `node --test --test-global-setup=<this module's file>` where node has
 *    that flag (Node 24): it loads globalSetup/globalTeardown from here.
 * With SMTPSINK_SMTP_ADDR and SMTPSINK_GRPC_ADDR set, both use that running
 * sink and start nothing. Every test file (each a process of its own) then
 * reaches the same sink.
 */
import { openMailbox, startSharedSink, stopSharedSink } from './testing';
import type { Mailbox } from './testing';

export { Mailbox } from './testing';
export type { MailboxWaitOptions, MailboxListOptions, MailboxRejectOptions, SinkAddresses } from './testing';

/** What mailbox() needs of node:test's TestContext. */
export interface NodeTestContext {
  readonly name: string;
  after(fn: () => unknown): void;
}

/** t's mailbox on the run's sink; t.after deletes its rules and clears its mail. */
export async function mailbox(t: NodeTestContext): Promise<Mailbox> {
  const mb = await openMailbox(t.name);
  t.after(() => mb.close());
  return mb;
}

/** --test-global-setup: starts the run's sink (or takes the running one). */
export async function globalSetup(): Promise<void> {
  await startSharedSink();
}

/** --test-global-setup: stops the container globalSetup started, if any. */
export async function globalTeardown(): Promise<void> {
  await stopSharedSink();
}
