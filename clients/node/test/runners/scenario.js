// The checks every runner's tests make (test/runners/*/), with node:assert
// so they run under node:test, Vitest and Jest alike.
//
// isolatedSide: one of two tests running at the same time against one sink,
// each with its own mailbox. The tests meet twice through the sink itself
// (cross-process: Jest runs them in two workers), by mail to a barrier
// domain no mailbox owns (so no mailbox's cleanup can remove a signal the
// other side still waits for): "ready" once each has its reject rule and
// its two messages, "done" once each has made its checks, so both
// mailboxes are alive during all the checks. `tag` is unique per run and
// shared by both sides; `me` and `peer` name the two sides.
'use strict';
const assert = require('node:assert/strict');
const nodemailer = require('nodemailer');

function transport(mb) {
  return nodemailer.createTransport({ host: mb.smtpHost, port: mb.smtpPort, ignoreTLS: true, name: 'runner-test' });
}

function barrierAddress(tag, side, what) {
  return `${side}-${what}@${tag}.barrier.smtpsink.test`;
}

async function meet(mb, t, tag, me, peer, what) {
  await t.sendMail({ from: 'barrier@example.test', to: barrierAddress(tag, me, what), subject: what, text: what });
  await mb.client.waitForMessages({ rcpt_to: barrierAddress(tag, peer, what) }, { timeoutMs: 60_000 });
}

/** Where the tests expect their sink: the running one CI named, or one the global setup started. */
function checkSink(mb) {
  const want = process.env.SMTPSINK_EXPECT_GRPC_ADDR;
  if (want) assert.equal(mb.grpcAddress, want, 'the global setup used the running sink');
  assert.equal(mb.grpcAddress, process.env.SMTPSINK_GRPC_ADDR);
  assert.match(mb.webUrl ?? '', /^http:\/\/.+:\d+\/$/);
}

async function isolatedSide(mb, { tag, me, peer }) {
  checkSink(mb);
  assert.match(mb.domain, /^t-[0-9a-f]{12}\.[a-z0-9-]+\.smtpsink\.test$/);
  const rule = await mb.reject({ local: 'blocked', code: 550, enhanced_code: '5.1.1', message: `blocked by ${me}` });
  assert.equal(rule.match, mb.address('blocked'));
  assert.equal(rule.stage, 'RCPT_TO');

  const t = transport(mb);
  try {
    for (const i of [1, 2]) {
      await t.sendMail({ from: `app@${me}.example.test`, to: mb.address('alice'), subject: `${tag} ${me} ${i}`, text: `${me} ${i}` });
    }
    await meet(mb, t, tag, me, peer, 'ready');

    // the peer's mail is in the sink right now (the unfiltered client sees it) ...
    const theirs = await mb.client.listMessages({ subject: `${tag} ${peer} *` });
    assert.equal(theirs.length, 2);
    const peerDomain = theirs[0].rcpt_to[0].split('@')[1];
    assert.notEqual(peerDomain, mb.domain);
    // ... and never in this mailbox, however asked
    const mine = await mb.wait({ count: 2, timeoutMs: 10_000 });
    assert.deepEqual(mine.map((m) => m.subject), [`${tag} ${me} 1`, `${tag} ${me} 2`]);
    for (const m of mine) assert.deepEqual(m.rcpt_to, [mb.address('alice')]);
    assert.deepEqual((await mb.messages()).map((m) => m.id), mine.map((m) => m.id));
    assert.deepEqual(await mb.messages({ subject: `${tag} ${peer} *` }), []);
    assert.deepEqual((await mb.messages({ rcpt_to: 'alice' })).length, 2);
    await assert.rejects(mb.messages({ rcpt_to: `alice@${peerDomain}` }), /outside this mailbox/);
    await assert.rejects(mb.wait({ count: 3, timeoutMs: 300 }), /1 of 3|2 of 3/);

    // both sides' rules on "blocked" exist now; each answers only its own domain
    await assert.rejects(t.sendMail({ from: 'app@example.test', to: mb.address('blocked'), subject: 'no', text: 'no' }),
      (e) => e.responseCode === 550 && e.response.includes(`blocked by ${me}`));
    assert.equal((await mb.messages()).length, 2);

    await meet(mb, t, tag, me, peer, 'done');
  } finally {
    t.close();
  }
  return { domain: mb.domain, rule: rule.id };
}

/** After the tests that used these mailboxes: their mail and their rules are gone, nothing else. */
async function checkCleared(client, sides) {
  const rules = await client.listRejectRules();
  for (const { domain, rule } of sides) {
    assert.deepEqual(await client.listMessages({ rcpt_to: `*@${domain}` }), [], `mail of ${domain} cleared`);
    assert.ok(!rules.some((r) => r.id === rule || r.match.endsWith(`@${domain}`)), `rules of ${domain} deleted`);
  }
}

function runTag() {
  return `r${require('node:crypto').randomBytes(5).toString('hex')}`;
}

module.exports = { isolatedSide, checkCleared, checkSink, transport, runTag };
