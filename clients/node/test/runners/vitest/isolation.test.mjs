// Vitest + smtpsink-testcontainers/vitest: test.concurrent mailboxes on one
// sink (a container the global setup started, or the running one
// SMTPSINK_SMTP_ADDR + SMTPSINK_GRPC_ADDR name).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'vitest';
import { mailbox } from 'smtpsink-testcontainers/vitest';
import { sharedSink } from 'smtpsink-testcontainers/testing';

const { isolatedSide, checkCleared, checkSink, runTag } = createRequire(import.meta.url)('../scenario.js');

const tag = runTag();
const sides = [];

describe('two mailboxes at the same time on one sink', () => {
  test.concurrent('left', async (ctx) => {
    sides.push(await isolatedSide(await mailbox(ctx), { tag, me: 'left', peer: 'right' }));
  });
  test.concurrent('right', async (ctx) => {
    sides.push(await isolatedSide(await mailbox(ctx), { tag, me: 'right', peer: 'left' }));
  });
});

test('onTestFinished cleared both mailboxes: mail and rules', async () => {
  assert.equal(sides.length, 2);
  await checkCleared((await sharedSink()).client, sides);
});

let plain;
test('mailbox() without the context', async () => {
  const mb = await mailbox();
  checkSink(mb);
  assert.match(mb.domain, /^t-[0-9a-f]{12}\.mailbox-without-the-context\.smtpsink\.test$/);
  const rule = await mb.reject({ stage: 'MAIL_FROM', local: 'spam*' });
  assert.equal(rule.match, `spam*@${mb.domain}`);
  plain = { domain: mb.domain, rule: rule.id };
});

test('... and it was cleared too', async () => {
  await checkCleared((await sharedSink()).client, [plain]);
});
