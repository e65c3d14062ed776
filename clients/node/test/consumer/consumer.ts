// Type-checked by .ci/clients-node.sh against the `npm pack` tarball installed
// into a fresh project (tsc --noEmit --strict): the published types must
// cover what a user writes. Never run; a wrong type here fails CI.
import { SmtpSinkContainer, SmtpSinkTimeoutError, type Message } from 'smtpsink-testcontainers';
import { SinkClient } from 'smtpsink-testcontainers/client';
import { Mailbox, openMailbox, startSharedSink, stopSharedSink, type SharedSink } from 'smtpsink-testcontainers/testing';
import { mailbox as nodeTestMailbox, globalSetup, globalTeardown } from 'smtpsink-testcontainers/node-test';
import { mailbox as jestMailbox } from 'smtpsink-testcontainers/jest';
import jestGlobalSetup from 'smtpsink-testcontainers/jest/global-setup';
import jestGlobalTeardown from 'smtpsink-testcontainers/jest/global-teardown';
import { setup as vitestSetup, teardown as vitestTeardown } from 'smtpsink-testcontainers/vitest/global-setup';

export async function example(): Promise<string> {
  const sink = await new SmtpSinkContainer('smtpsink:latest').withStartTls().withAuth({ app: 's3cret' }).start();
  const port: number = sink.getSmtpPort();
  const client: SinkClient = sink.client();
  try {
    const msgs: Message[] = await client.waitForMessages({ rcpt_to: `a@${port}.test` }, { count: 1, timeoutMs: 1_000 });
    const rule = await client.rejectRule({ stage: 'RCPT_TO', match: '*@blocked.test', code: 550 });
    await client.deleteRejectRule(rule.id);
    const deleted: number = await client.clear({ rcpt_to: `a@${port}.test` });
    return `${msgs[0].subject} ${msgs[0].mail_from} ${deleted}`;
  } catch (e) {
    if (e instanceof SmtpSinkTimeoutError) return e.details;
    throw e;
  } finally {
    await sink.stop();
  }
}

export function plain(): SinkClient {
  return new SinkClient('127.0.0.1:50051');
}

// the test-runner integration (subpath exports, each with its .d.ts)
export async function runners(t: { name: string; after(fn: () => unknown): void }): Promise<string[]> {
  const sink: SharedSink = await startSharedSink({ labels: { a: 'b' }, configure: (c) => c.withStartTls() });
  const web: string | undefined = sink.webUrl;
  const mb: Mailbox = await nodeTestMailbox(t);
  const rule = await mb.reject({ stage: 'MAIL_FROM', local: 'spam*', code: 451, times: 1 });
  const msgs: Message[] = await mb.wait({ count: 2, timeoutMs: 5_000, subject: '*Welcome*' });
  const listed: Message[] = await mb.messages({ rcpt_to: 'alice', includeRaw: true });
  const cleared: number = await mb.clear();
  const other: Mailbox = await jestMailbox();
  await (await openMailbox('plain')).close();
  await Promise.all([globalSetup(), globalTeardown(), jestGlobalSetup(), jestGlobalTeardown(), vitestSetup(), vitestTeardown()]);
  await stopSharedSink();
  return [mb.address('alice'), mb.domain, `${mb.smtpHost}:${mb.smtpPort}`, mb.webUrl ?? '', web ?? '', rule.id,
    msgs[0].subject, String(listed.length + cleared), other.grpcAddress, sink.container?.getWebUrl() ?? ''];
}
