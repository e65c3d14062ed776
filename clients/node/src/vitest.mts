/**
 * Vitest integration: `smtpsink-testcontainers/vitest` (ESM).
 *
 *   // vitest.config.js
 *   export default { test: { globalSetup: ['smtpsink-testcontainers/vitest/global-setup'] } };
 *
 *   import { mailbox } from 'smtpsink-testcontainers/vitest';
 *   test('signup', async () => {
 *     const mb = await mailbox();                 // cleared by onTestFinished
 *     ...
 *   });
 *   test.concurrent('in parallel', async (ctx) => {
 *     const mb = await mailbox(ctx);              // concurrent tests: pass the context
 *   });
 *
 * The global setup (main process) starts one sink per run, or takes the one
 * SMTPSINK_SMTP_ADDR + SMTPSINK_GRPC_ADDR name; the workers find it in
 * their environment.
 */
import { expect, onTestFinished } from 'vitest';

import { openMailbox } from './testing.js';
import type { Mailbox } from './testing.js';

export { Mailbox } from './testing.js';
export type { MailboxWaitOptions, MailboxListOptions, MailboxRejectOptions, SinkAddresses } from './testing.js';

/** What mailbox() needs of Vitest's TestContext. */
export interface VitestContext {
  readonly task: { readonly name: string };
  onTestFinished(fn: () => unknown): void;
}

/**
 * This test's mailbox on the run's sink; onTestFinished deletes its rules
 * and clears its mail. Without `ctx` it must be called before the test's
 * first await (Vitest knows the current test only until then); in
 * test.concurrent always pass the test's context.
 */
export function mailbox(ctx?: VitestContext): Promise<Mailbox> {
  let box: Mailbox | undefined;
  const cleanup = async () => { await box?.close(); };
  // registered now, synchronously, on the right test
  if (ctx) ctx.onTestFinished(cleanup);
  else onTestFinished(cleanup);
  const name = ctx?.task.name ?? expect.getState().currentTestName ?? 'test';
  return openMailbox(name).then((mb) => (box = mb));
}
