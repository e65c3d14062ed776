// `npm test` = with-smtpsink node --test: one smtpsink for the run (a
// container, or the running sink SMTPSINK_SMTP_ADDR + SMTPSINK_GRPC_ADDR
// name), and a mailbox of its own for each test.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { mailbox } = require('smtpsink-testcontainers/node-test');

const { createApp } = require('../src/app');

// the app, sending to the sink, on a free port for this test
async function start(t, mb) {
  const server = createApp({ smtpHost: mb.smtpHost, smtpPort: mb.smtpPort }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return (body) => fetch(`http://127.0.0.1:${server.address().port}/signup`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
}

test('POST /signup sends a welcome mail', async (t) => {
  const mb = await mailbox(t);
  const signup = await start(t, mb);

  const res = await signup({ email: mb.address('alice'), name: 'Alice' });
  assert.equal(res.status, 201);

  const [m] = await mb.wait({ count: 1, timeoutMs: 10_000 });
  assert.equal(m.subject, 'Welcome, Alice!');
  assert.deepEqual(m.rcpt_to, [mb.address('alice')]);
  assert.equal(m.mail_from, 'welcome@app.example');
  assert.match(m.text_body, /Hello Alice/);
});

test('a refused address is a 502, and nothing is stored', async (t) => {
  const mb = await mailbox(t);
  await mb.reject({ local: 'gone', code: 550, message: 'no such user' });
  const signup = await start(t, mb);

  const res = await signup({ email: mb.address('gone'), name: 'Gone' });
  assert.equal(res.status, 502);
  assert.match((await res.json()).error, /no such user/);
  assert.deepEqual(await mb.messages(), []);
});

test('a bad request sends nothing', async (t) => {
  const mb = await mailbox(t);
  const signup = await start(t, mb);

  assert.equal((await signup({ email: 'not an address', name: 'X' })).status, 400);
  assert.equal((await signup({ email: mb.address('bob') })).status, 400);
  assert.deepEqual(await mb.messages(), []);
});
