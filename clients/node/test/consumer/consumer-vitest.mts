// Type-checked like consumer.ts, under the node16 module resolution only:
// smtpsink-testcontainers/vitest is ESM (as Vitest test files are).
import { mailbox, type Mailbox, type VitestContext } from 'smtpsink-testcontainers/vitest';

export async function vitest(ctx: VitestContext): Promise<string> {
  const a: Mailbox = await mailbox();
  const b: Mailbox = await mailbox(ctx);
  const [m] = await b.wait({ count: 1 });
  return `${a.address('alice')} ${m.subject}`;
}
