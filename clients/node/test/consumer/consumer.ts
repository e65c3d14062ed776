// Type-checked by .ci/clients-node.sh against the `npm pack` tarball installed
// into a fresh project (tsc --noEmit --strict): the published types must
// cover what a user writes. Never run; a wrong type here fails CI.
import { SmtpSinkContainer, SmtpSinkTimeoutError, type Message } from 'smtpsink-testcontainers';
import { SinkClient } from 'smtpsink-testcontainers/client';

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
