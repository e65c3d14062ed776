// node:test + smtpsink-testcontainers/node-test, run by .ci/clients-node.sh
// under `with-smtpsink` (one sink for the run: a container, or the running
// sink SMTPSINK_SMTP_ADDR + SMTPSINK_GRPC_ADDR name).
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');

const { mailbox } = require('smtpsink-testcontainers/node-test');
const { sharedSink } = require('smtpsink-testcontainers/testing');
const { isolatedSide, checkCleared, checkSink, transport, runTag } = require('../scenario');

const tag = runTag();
const sides = [];

describe('two mailboxes at the same time on one sink', { concurrency: 2 }, () => {
  test('left', async (t) => {
    sides.push(await isolatedSide(await mailbox(t), { tag, me: 'left', peer: 'right' }));
  });
  test('right', async (t) => {
    sides.push(await isolatedSide(await mailbox(t), { tag, me: 'right', peer: 'left' }));
  });
});

test('t.after cleared both mailboxes: mail and rules', async () => {
  assert.equal(sides.length, 2);
  await checkCleared((await sharedSink()).client, sides);
});

test('the mailbox knows the web URL: the HTTP API sees its mail', async (t) => {
  const mb = await mailbox(t);
  checkSink(mb);
  assert.equal((await (await fetch(new URL('healthz', mb.webUrl))).text()).trim(), 'ok');
  const tr = transport(mb);
  try {
    await tr.sendMail({ from: 'app@example.test', to: mb.address('web'), subject: 'over HTTP', text: 'x' });
  } finally {
    tr.close();
  }
  await mb.wait();
  // the Mailpit-compatible search, on the mailbox's address
  const res = await fetch(new URL(`api/v1/search?query=${encodeURIComponent(`to:${mb.address('web')}`)}`, mb.webUrl));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.messages_count, 1);
  assert.equal(body.messages[0].Subject, 'over HTTP');
});

test('mailbox arguments are checked', async (t) => {
  const mb = await mailbox(t);
  assert.throws(() => mb.address('a@b'), /local part/);
  assert.throws(() => mb.address('a*'), /glob/);
  await assert.rejects(mb.reject({ stage: 'HELO' }), /scopes only/);
  await assert.rejects(mb.reject({ local: 'x@y' }), /local part glob/);
  await assert.rejects(mb.wait({ rcpt_to: 'bob@elsewhere.test' }), /outside this mailbox/);
});
