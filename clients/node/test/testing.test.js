// The runner-independent half of the test-runner integration
// (smtpsink-testcontainers/testing) and the with-smtpsink command, without
// a container: the sink's addresses from the environment, mailbox domains,
// the filters and rules a Mailbox sends (to a recording stand-in client),
// and the global setups' "already running sink" path. The runners' own
// tests against a sink are in test/runners/ (.ci/clients-node.sh).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');

const {
  Mailbox, mailboxDomain, sinkFromEnv, splitHostPort, startSharedSink, stopSharedSink,
  SMTP_ADDR_ENV, GRPC_ADDR_ENV, HTTP_ADDR_ENV,
} = require('smtpsink-testcontainers/testing');
const { parseArgs } = require('../dist/bin/with-smtpsink');

const BIN = path.join(__dirname, '..', 'dist', 'bin', 'with-smtpsink.js');
const RUNNING = { [SMTP_ADDR_ENV]: '127.0.0.1:2525', [GRPC_ADDR_ENV]: '127.0.0.1:50099', [HTTP_ADDR_ENV]: '127.0.0.1:8099' };

// runs fn with these variables set (undefined: unset), restoring them after
async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (vs) => { for (const [k, v] of Object.entries(vs)) if (v === undefined) delete process.env[k]; else process.env[k] = v; };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

// a SinkClient stand-in recording each call
function recordingClient() {
  const calls = [];
  let next = 0;
  const rec = (name, result) => async (...args) => { calls.push([name, ...args]); return result(...args); };
  return {
    calls,
    waitForMessages: rec('waitForMessages', () => []),
    listMessages: rec('listMessages', () => []),
    clear: rec('clear', () => 0),
    rejectRule: rec('rejectRule', (r) => ({ ...r, id: `rule-${++next}` })),
    deleteRejectRule: rec('deleteRejectRule', () => 1),
  };
}

const SINK = { smtpHost: '127.0.0.1', smtpPort: 2525, grpcAddress: '127.0.0.1:50099' };

test('sinkFromEnv: both addresses or neither', () => {
  assert.equal(sinkFromEnv({}), undefined);
  assert.deepEqual(sinkFromEnv(RUNNING),
    { smtpHost: '127.0.0.1', smtpPort: 2525, grpcAddress: '127.0.0.1:50099', webUrl: 'http://127.0.0.1:8099/' });
  assert.equal(sinkFromEnv({ ...RUNNING, [HTTP_ADDR_ENV]: '' }).webUrl, undefined);
  assert.equal(sinkFromEnv({ ...RUNNING, [HTTP_ADDR_ENV]: '[::1]:8025' }).webUrl, 'http://[::1]:8025/');
  assert.throws(() => sinkFromEnv({ [SMTP_ADDR_ENV]: '127.0.0.1:2525' }), /set both SMTPSINK_SMTP_ADDR and SMTPSINK_GRPC_ADDR/);
  assert.throws(() => sinkFromEnv({ ...RUNNING, [GRPC_ADDR_ENV]: 'nohost' }), /SMTPSINK_GRPC_ADDR="nohost": expected HOST:PORT/);
  assert.throws(() => sinkFromEnv({ ...RUNNING, [HTTP_ADDR_ENV]: 'http://127.0.0.1:8099/' }), /SMTPSINK_HTTP_ADDR=.*expected HOST:PORT/);
  // the web UI's address alone names no sink
  assert.throws(() => sinkFromEnv({ [HTTP_ADDR_ENV]: '127.0.0.1:8025' }), /SMTPSINK_HTTP_ADDR names the HTTP API of a running smtpsink/);
  assert.deepEqual(splitHostPort('[::1]:25', 'X'), { host: '::1', port: 25 });
  assert.throws(() => splitHostPort('h:0', 'X'), /expected HOST:PORT/);
  assert.throws(() => splitHostPort('h:65536', 'X'), /expected HOST:PORT/);
});

test('mailboxDomain: unique, DNS-safe, the test name for reading logs', () => {
  const a = mailboxDomain('Signup sends a Welcome mail!');
  assert.match(a, /^t-[0-9a-f]{12}\.signup-sends-a-welcome-mail\.smtpsink\.test$/);
  assert.notEqual(mailboxDomain('Signup sends a Welcome mail!'), a);
  assert.match(mailboxDomain('***'), /^t-[0-9a-f]{12}\.test\.smtpsink\.test$/);
  const long = mailboxDomain(`${'x'.repeat(39)} tail`);
  assert.equal(long.split('.')[1], 'x'.repeat(39)); // cut at 40, the dangling '-' trimmed
});

test('Mailbox: addresses, and every filter bound to its domain', async () => {
  const c = recordingClient();
  const mb = new Mailbox('t-1.d.smtpsink.test', { ...SINK, webUrl: 'http://127.0.0.1:8099/' }, c);
  assert.equal(mb.address('alice'), 'alice@t-1.d.smtpsink.test');
  assert.equal(mb.address(), 'user@t-1.d.smtpsink.test');
  for (const bad of ['', 'a@b', 'a*', 'a?', 'a[b]', 'a\\']) assert.throws(() => mb.address(bad), /local part/);
  assert.deepEqual(mb.filter, { rcpt_to: '*@t-1.d.smtpsink.test' });
  assert.equal(mb.webUrl, 'http://127.0.0.1:8099/');
  assert.equal(`${mb.smtpHost}:${mb.smtpPort}`, '127.0.0.1:2525');

  await mb.wait();
  await mb.wait({ count: 3, timeoutMs: 500, includeRaw: true, subject: '*hi*', rcpt_to: 'bob' });
  await mb.messages({ rcpt_to: 'BOB@T-1.D.SMTPSINK.TEST', body: '*x*' });
  await mb.clear({ mail_from: 'app@*' });
  assert.deepEqual(c.calls, [
    ['waitForMessages', { rcpt_to: '*@t-1.d.smtpsink.test' }, { count: 1, timeoutMs: 10_000, includeRaw: false }],
    ['waitForMessages', { subject: '*hi*', rcpt_to: 'bob@t-1.d.smtpsink.test' }, { count: 3, timeoutMs: 500, includeRaw: true }],
    ['listMessages', { rcpt_to: 'BOB@T-1.D.SMTPSINK.TEST', body: '*x*' }, { includeRaw: false }],
    ['clear', { mail_from: 'app@*', rcpt_to: '*@t-1.d.smtpsink.test' }],
  ]);
  // a recipient outside the mailbox is refused before any call
  for (const outside of ['bob@other.test', '*@*', 'bob@t-1.d.smtpsink.test.evil']) {
    await assert.rejects(mb.wait({ rcpt_to: outside }), /outside this mailbox/);
    await assert.rejects(mb.messages({ rcpt_to: outside }), /outside this mailbox/);
    await assert.rejects(mb.clear({ rcpt_to: outside }), /outside this mailbox/);
  }
  assert.equal(c.calls.length, 4);
});

test('Mailbox.reject binds the rule to its domain; close() deletes its rules, then clears its mail', async () => {
  const c = recordingClient();
  const mb = new Mailbox('t-2.d.smtpsink.test', SINK, c);
  const r1 = await mb.reject();
  const r2 = await mb.reject({ stage: 'mail_from', local: 'spam*', code: 451, message: 'later', enhanced_code: '4.7.1', times: 2 });
  assert.equal(r1.id, 'rule-1');
  assert.deepEqual(c.calls.splice(0), [
    ['rejectRule', { stage: 'RCPT_TO', match: '*@t-2.d.smtpsink.test', code: 550, message: '' }],
    ['rejectRule', { stage: 'MAIL_FROM', match: 'spam*@t-2.d.smtpsink.test', code: 451, message: 'later',
      enhanced_code: '4.7.1', times: 2 }],
  ]);
  assert.equal(r2.match, 'spam*@t-2.d.smtpsink.test');
  for (const stage of ['CONNECT', 'HELO', 'AUTH']) await assert.rejects(mb.reject({ stage }), /scopes only MAIL_FROM, RCPT_TO, DATA/);
  for (const local of ['', 'a@b', 'a\\']) await assert.rejects(mb.reject({ local }), /local part glob/);
  assert.deepEqual(c.calls, []);

  await mb.close();
  assert.deepEqual(c.calls.splice(0), [
    ['deleteRejectRule', 'rule-1'], ['deleteRejectRule', 'rule-2'], ['clear', { rcpt_to: '*@t-2.d.smtpsink.test' }],
  ]);
  await mb.close(); // rules are deleted once
  assert.deepEqual(c.calls, [['clear', { rcpt_to: '*@t-2.d.smtpsink.test' }]]);
});

test('the global setups take the running sink the environment names and start nothing', async () => {
  await withEnv(RUNNING, async () => {
    const sink = await startSharedSink({ image: 'no-such-image:never' });
    assert.equal(sink.container, undefined);
    assert.deepEqual(sink.env, RUNNING);
    assert.equal(await startSharedSink(), sink); // once per run
    await stopSharedSink();
    assert.deepEqual(sinkFromEnv(), sinkFromEnv(RUNNING)); // nothing unset

    const jestSetup = require('smtpsink-testcontainers/jest/global-setup');
    const jestTeardown = require('smtpsink-testcontainers/jest/global-teardown');
    const vitestSetup = require('smtpsink-testcontainers/vitest/global-setup');
    const nodeTest = require('smtpsink-testcontainers/node-test');
    for (const [setup, teardown] of [[jestSetup, jestTeardown], [vitestSetup.setup, vitestSetup.teardown],
      [nodeTest.globalSetup, nodeTest.globalTeardown]]) {
      await setup();
      await teardown();
      assert.deepEqual(sinkFromEnv(), sinkFromEnv(RUNNING));
    }
  });
  await withEnv({ [SMTP_ADDR_ENV]: '127.0.0.1:2525', [GRPC_ADDR_ENV]: undefined }, async () => {
    await assert.rejects(startSharedSink(), /set both/);
  });
});

test('the runner modules say how to get a sink when there is none', async () => {
  const { mailbox } = require('smtpsink-testcontainers/node-test');
  await withEnv({ [SMTP_ADDR_ENV]: undefined, [GRPC_ADDR_ENV]: undefined, [HTTP_ADDR_ENV]: undefined }, async () => {
    await assert.rejects(mailbox({ name: 'x', after() { throw new Error('not reached'); } }),
      /no sink for this test run: add the global setup/);
  });
});

test('with-smtpsink: options, then the command', () => {
  assert.deepEqual(parseArgs(['node', '--test']), { options: {}, command: ['node', '--test'] });
  assert.deepEqual(parseArgs(['--image', 'img:1', '--label', 'a=b', '--label=c=d=e', '--', '--odd-command', '-x']), {
    options: { image: 'img:1', labels: { a: 'b', c: 'd=e' } }, command: ['--odd-command', '-x'],
  });
  assert.throws(() => parseArgs([]), /no command/);
  assert.throws(() => parseArgs(['--label', 'novalue', 'cmd']), /expected KEY=VALUE/);
  assert.throws(() => parseArgs(['--image']), /needs a value/);
  assert.throws(() => parseArgs(['--bogus', 'cmd']), /unknown option --bogus/);
});

test('with-smtpsink runs the command with the sink in its environment and exits with its status', async () => {
  const run = promisify(execFile);
  const env = { ...process.env, ...RUNNING };
  const script = 'console.log(process.env.SMTPSINK_SMTP_ADDR, process.env.SMTPSINK_GRPC_ADDR, process.env.SMTPSINK_HTTP_ADDR); process.exit(3)';
  await assert.rejects(run(process.execPath, [BIN, process.execPath, '-e', script], { env }), (e) => {
    assert.equal(e.code, 3);
    assert.equal(e.stdout.trim(), '127.0.0.1:2525 127.0.0.1:50099 127.0.0.1:8099');
    return true;
  });
  await assert.rejects(run(process.execPath, [BIN, 'no-such-command-smtpsink'], { env }), (e) => e.code === 127);
  await assert.rejects(run(process.execPath, [BIN], { env }), (e) => e.code === 2 && /usage:/.test(e.stderr));
});
