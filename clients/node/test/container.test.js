// End-to-end tests of the Node module against the smtpsink image
// (smtpsink:latest or $SMTPSINK_IMAGE), run by .ci/clients-node.sh.
// ONE container for the file; every test uses its own recipients.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const grpc = require('@grpc/grpc-js');
const nodemailer = require('nodemailer');

const { SmtpSinkContainer, SmtpSinkTimeoutError, SmtpSinkError } = require('..');

const ATTACHMENT = Buffer.alloc(1024, 0).map((_, i) => i % 256); // binary content

let sink;

function unique(local) {
  return `${local}-${crypto.randomBytes(6).toString('hex')}@example.test`;
}

function transport() {
  return nodemailer.createTransport({
    host: sink.getSmtpHost(),
    port: sink.getSmtpPort(),
    secure: false,
    ignoreTLS: true,
    name: 'node-test',
  });
}

// a two-party barrier for the parallel tests
function barrier(n) {
  let arrived = 0;
  let release;
  const all = new Promise((r) => { release = r; });
  return () => { if (++arrived === n) release(); return all; };
}

// dev.smtpsink.run=$SMTPSINK_CI_RUN when .ci/lib.sh runs the tests: the
// label by which that CI run removes its containers (and only its own)
function runLabels() {
  const run = process.env.SMTPSINK_CI_RUN;
  return run ? { 'dev.smtpsink.run': run } : {};
}

before(async () => {
  sink = await new SmtpSinkContainer().withLabels(runLabels()).start();
});

after(async () => {
  if (sink) await sink.stop();
});

test('send with nodemailer, wait through gRPC, inspect envelope, subject, body, attachment', async () => {
  const client = sink.client();
  const from = unique('app');
  const to = unique('alice');
  const bcc = unique('audit');
  const subject = `Your invoice ${crypto.randomBytes(3).toString('hex')}`;
  const t = transport();
  try {
    const info = await t.sendMail({
      from, to, bcc, subject,
      text: 'Hello Alice,\nyour invoice is attached.\n',
      attachments: [{ filename: 'blob.bin', content: ATTACHMENT, contentType: 'application/octet-stream' }],
    });
    assert.deepEqual(info.accepted.sort(), [to, bcc].sort());
  } finally {
    t.close();
  }

  const [m] = await client.waitForMessages({ rcpt_to: to }, { count: 1, timeoutMs: 10_000 });
  assert.equal(m.mail_from, from);
  assert.deepEqual([...m.rcpt_to].sort(), [to, bcc].sort()); // Bcc only in the envelope
  assert.equal(m.subject, subject);
  assert.equal(m.text_body.replace(/\r\n/g, '\n').trimEnd(), 'Hello Alice,\nyour invoice is attached.');
  assert.equal(m.attachments.length, 1);
  const att = m.attachments[0];
  assert.equal(att.filename, 'blob.bin');
  assert.equal(att.content_type, 'application/octet-stream');
  assert.equal(Number(att.size), ATTACHMENT.length);
  assert.equal(att.content.length, 0); // lists never carry contents
  assert.ok(!m.headers.some((h) => h.name.toLowerCase() === 'bcc'));

  const full = await client.getMessage(m.id, { includeRaw: true, includeAttachments: true });
  assert.ok(Buffer.from(full.attachments[0].content).equals(ATTACHMENT));
  assert.equal(Number(full.size), full.raw.length);
  assert.ok(full.raw.toString('latin1').includes(`Subject: ${subject}`));

  const byBcc = await client.listMessages({ rcpt_to: bcc });
  assert.deepEqual(byBcc.map((x) => x.id), [m.id]);
});

test('getWebUrl: the HTTP API and web UI through the mapped port 8025', async () => {
  const url = sink.getWebUrl();
  assert.equal(url, `http://${sink.getHost()}:${sink.getWebPort()}/`);
  const health = await fetch(new URL('healthz', url));
  assert.equal(health.status, 200);
  assert.equal((await health.text()).trim(), 'ok');
  // the Mailpit-compatible /api/v1/info: the server's version is this package's
  const info = await (await fetch(new URL('api/v1/info', url))).json();
  assert.equal(info.Version, require('../package.json').version);
  assert.equal(typeof info.Messages, 'number');
  // the gRPC methods as JSON (POST /smtpsink.v1.Sink/<Method>)
  const res = await fetch(new URL('smtpsink.v1.Sink/GetServerInfo', url), {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).version, info.Version);
  // the web UI's page
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
});

test('waitForMessages times out saying how many matched', async () => {
  const from = unique('app');
  const rcpt = unique('bob');
  const t = transport();
  try {
    await t.sendMail({ from, to: rcpt, subject: 'only one', text: '1' });
  } finally {
    t.close();
  }
  await assert.rejects(
    sink.client().waitForMessages({ rcpt_to: rcpt }, { count: 2, timeoutMs: 500 }),
    (e) => e instanceof SmtpSinkTimeoutError && e.details.includes('1 of 2'),
  );
});

test('watchMessages replays stored mail, then follows new mail', async () => {
  const client = sink.client();
  const from = unique('app');
  const rcpt = unique('watcher');
  const t = transport();
  let stream;
  try {
    await t.sendMail({ from, to: rcpt, subject: 'first', text: '1' });
    const [first] = await client.waitForMessages({ rcpt_to: rcpt });
    stream = client.watchMessages({ rcpt_to: rcpt }, { timeoutMs: 20_000 });
    const seen = [];
    let wake = () => {};
    let failure = null;
    stream.on('data', (m) => { seen.push(m); wake(); });
    stream.on('error', (e) => { failure = e; wake(); });
    const next = (n) => new Promise((resolve, reject) => {
      wake = () => {
        if (seen.length >= n) resolve();
        else if (failure) reject(failure);
      };
      wake();
    });
    await next(1); // replayed
    assert.equal(seen[0].id, first.id);
    await t.sendMail({ from, to: rcpt, subject: 'second', text: '2' });
    await next(2); // live
    assert.deepEqual(seen.map((m) => m.subject), ['first', 'second']);
    assert.ok(BigInt(seen[1].id) > BigInt(seen[0].id));
  } finally {
    if (stream) stream.cancel();
    t.close();
  }
});

test('a RCPT_TO reject rule is seen by nodemailer', async () => {
  const client = sink.client();
  const from = unique('app');
  const good = unique('ok');
  const bad = unique('blocked');
  const rule = await client.rejectRule({
    stage: 'RCPT_TO', match: bad, code: 550, enhanced_code: '5.1.1', message: 'no such user here',
  });
  assert.ok(rule.id);
  const t = transport();
  try {
    // the only recipient refused: sendMail rejects with the SMTP reply
    await assert.rejects(t.sendMail({ from, to: bad, subject: 'to the void', text: 'x' }), (e) => {
      assert.equal(e.responseCode, 550);
      assert.match(e.response, /no such user here/);
      assert.deepEqual(e.rejected, [bad]);
      return true;
    });
    // mixed: the good recipient gets it, the bad one is reported
    const info = await t.sendMail({ from, to: [good, bad], subject: 'mixed', text: 'y' });
    assert.deepEqual(info.accepted, [good]);
    assert.deepEqual(info.rejected, [bad]);
    const [m] = await client.waitForMessages({ mail_from: from }, { count: 1 });
    assert.deepEqual(m.rcpt_to, [good]);
    const r = (await client.listRejectRules()).find((x) => x.id === rule.id);
    assert.equal(Number(r.hits), 2);
  } finally {
    t.close();
    assert.equal(await client.deleteRejectRule(rule.id), 1);
  }
  assert.deepEqual(await client.listMessages({ rcpt_to: bad }), []);
});

// The container releases a stored message to itself (smtp://127.0.0.1:1025 is
// the container's own SMTP port): the copy arrives with the overridden
// envelope and the same bytes, and the original records RELAYED. The request
// the client builds is checked against a stand-in server in release.test.js.
test('release through the real server: to its own SMTP port with a new envelope', async () => {
  const client = sink.client();
  const from = unique('app');
  const rcpt = unique('rel');
  const other = unique('copy');
  const bounce = unique('bounce');
  // nodemailer dot-stuffs the line starting with "." on the wire
  const body = Buffer.from(`Subject: release ${rcpt}\r\n\r\n.leading dot\r\nbody\r\n`);
  const t = transport();
  try {
    await t.sendMail({ envelope: { from, to: [rcpt] }, raw: body });
  } finally {
    t.close();
  }
  const [m] = await client.waitForMessages({ rcpt_to: rcpt }, { count: 1, timeoutMs: 10_000 });
  const st = await client.release(m.id, {
    rcptTo: [other], mailFrom: bounce, relayUrl: 'smtp://127.0.0.1:1025', timeoutMs: 30_000,
  });
  assert.equal(st.state, 'RELAY_STATE_RELAYED', JSON.stringify(st));
  assert.equal(st.attempts, 1);
  assert.deepEqual(st.rcpt_to, [other]);
  assert.match(st.last_reply, /^250/);
  const [copy] = await client.waitForMessages({ rcpt_to: other }, { count: 1, timeoutMs: 10_000 });
  assert.equal(copy.mail_from, bounce);
  const orig = await client.getMessage(m.id, { includeRaw: true });
  assert.ok(orig.raw.equals(body), `stored ${JSON.stringify(orig.raw.toString('latin1'))}`);
  const copied = await client.getMessage(copy.id, { includeRaw: true });
  assert.ok(copied.raw.equals(orig.raw), `copy ${JSON.stringify(copied.raw.toString('latin1'))}`);
  assert.equal(orig.relay.state, 'RELAY_STATE_RELAYED');
  await assert.rejects(client.release((BigInt(m.id) + 10n ** 9n).toString(), { relayUrl: 'smtp://127.0.0.1:1025' }),
    (e) => e instanceof SmtpSinkError && e.code === grpc.status.NOT_FOUND);
});

describe('parallel tests against one container are isolated', { concurrency: 2 }, () => {
  const N = 5;
  const sentAll = barrier(2);
  const clearedAll = barrier(2);

  for (const name of ['left', 'right']) {
    test(name, async () => {
      const client = sink.client();
      const from = unique(`${name}-app`);
      const rcpt = unique(name);
      const t = transport();
      try {
        await Promise.all(Array.from({ length: N }, (_, i) =>
          t.sendMail({ from, to: rcpt, subject: `${name} #${i}`, text: `body ${name} ${i}` })));
      } finally {
        t.close();
      }
      const got = await client.waitForMessages({ rcpt_to: rcpt }, { count: N, timeoutMs: 15_000 });
      assert.equal(got.length, N);
      for (const m of got) assert.deepEqual(m.rcpt_to, [rcpt]);
      assert.deepEqual(got.map((m) => m.subject).sort(), Array.from({ length: N }, (_, i) => `${name} #${i}`));
      await sentAll(); // both have their mail: now both clear their own at once
      assert.equal(await client.clear({ rcpt_to: rcpt }), N);
      await clearedAll();
      assert.deepEqual(await client.listMessages({ rcpt_to: rcpt }), []);
    });
  }
});
