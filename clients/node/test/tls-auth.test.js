// TLS and SMTP AUTH through the module: ONE container for this file with
// STARTTLS, an implicit-TLS port and two users, reached with nodemailer
// trusting only the certificate the control API hands out (tlsOptions()).
// The last tests need no container: the flags the builder methods stand for,
// and `{ ca: pem }` trusting exactly that certificate.
'use strict';
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { execFileSync } = require('node:child_process');
const nodemailer = require('nodemailer');

const { SmtpSinkContainer, SMTPS_PORT, serverArgs, httpAllowedHost, webUrl } = require('..');

const USERS = { alice: 's3cret', bob: 'hunter2' };

function unique(local) {
  return `${local}-${crypto.randomBytes(6).toString('hex')}@example.test`;
}

function runLabels() {
  const run = process.env.SMTPSINK_CI_RUN;
  return run ? { 'dev.smtpsink.run': run } : {};
}

describe('TLS and AUTH against a container', () => {
  let sink;
  let tlsOptions;

  before(async () => {
    sink = await new SmtpSinkContainer().withLabels(runLabels())
      .withStartTls().withImplicitTls().withAuth(USERS).start();
    tlsOptions = await sink.tlsOptions();
  });

  after(async () => {
    if (sink) await sink.stop();
  });

  // STARTTLS required, AUTH PLAIN; or implicit TLS with secure: true
  function transport(user, pass, { implicit = false } = {}) {
    return nodemailer.createTransport({
      host: sink.getSmtpHost(),
      port: implicit ? sink.getSmtpsPort() : sink.getSmtpPort(),
      secure: implicit,
      requireTLS: !implicit,
      auth: { user, pass },
      authMethod: 'PLAIN',
      tls: tlsOptions,
      name: 'node-test',
    });
  }

  async function send(t, rcpt, subject) {
    try {
      return await t.sendMail({ from: unique('app'), to: rcpt, subject, text: 'hi' });
    } finally {
      t.close();
    }
  }

  test('ServerInfo shows the TLS and AUTH settings', async () => {
    const info = await sink.client().serverInfo();
    assert.equal(info.starttls, true);
    assert.deepEqual(info.smtps_addresses, [`0.0.0.0:${SMTPS_PORT}`]);
    assert.equal(info.tls_self_signed, true);
    assert.equal(info.tls_certificate_pem, tlsOptions.ca);
    assert.match(info.tls_certificate_pem, /^-----BEGIN CERTIFICATE-----/);
    assert.equal(info.auth_users, 2);
    assert.ok(info.auth_mechanisms.includes('PLAIN'), info.auth_mechanisms.join(' '));
    assert.equal(info.auth_allow_insecure, false);
  });

  test('STARTTLS + AUTH PLAIN: the message records TLS and the user', async () => {
    const rcpt = unique('tls');
    await send(transport('alice', 's3cret'), rcpt, 'over STARTTLS');
    const client = sink.client();
    const [m] = await client.waitForMessages({ rcpt_to: rcpt, auth_user: 'ali*' });
    assert.equal(m.tls, true);
    assert.match(m.tls_version, /^TLSv1\./);
    assert.ok(m.tls_cipher);
    assert.equal(m.auth_user, 'alice');
    assert.equal(m.auth_mechanism, 'PLAIN');
    assert.deepEqual(await client.listMessages({ rcpt_to: rcpt, auth_user: 'bob' }), []);
  });

  test('implicit TLS (secure: true)', async () => {
    const rcpt = unique('smtps');
    await send(transport('bob', 'hunter2', { implicit: true }), rcpt, 'over implicit TLS');
    const [m] = await sink.client().waitForMessages({ rcpt_to: rcpt });
    assert.equal(m.tls, true);
    assert.ok(m.tls_version);
    assert.equal(m.auth_user, 'bob');
  });

  test('a wrong password is EAUTH 535', async () => {
    await assert.rejects(send(transport('alice', 'wrong'), unique('nope'), 'x'), (e) => {
      assert.equal(e.code, 'EAUTH');
      assert.equal(e.responseCode, 535);
      return true;
    });
  });

  test('an AUTH reject rule replies instead of 235', async () => {
    const client = sink.client();
    const rule = await client.rejectRule({ stage: 'AUTH', match: 'bob', code: 454, message: 'try later' });
    try {
      await assert.rejects(send(transport('bob', 'hunter2'), unique('nope'), 'x'), (e) => {
        assert.equal(e.code, 'EAUTH');
        assert.equal(e.responseCode, 454);
        assert.match(e.response, /try later/);
        return true;
      });
    } finally {
      assert.equal(await client.deleteRejectRule(rule.id), 1);
    }
  });
});

// -- no container -------------------------------------------------------------

test('serverArgs: the flags the settings stand for', () => {
  assert.deepEqual(serverArgs({ auth: true }, 'localhost'), ['--auth', '--auth-allow-insecure']);
  assert.deepEqual(serverArgs({ implicitTls: true, auth: true, requireAuth: true }, 'docker.example.test'),
    ['--smtps-listen', '0.0.0.0:1465', '--tls-san', 'docker.example.test', '--auth', '--require-auth']);
  assert.deepEqual(serverArgs({ startTls: true, requireTls: true }, '127.0.0.1'), ['--starttls', '--require-tls']);
  assert.throws(() => new SmtpSinkContainer().withAuth({ 'a,b': 'x' }), /auth user/);
});

test('httpAllowedHost, webUrl: a Docker host reached by name must be allowed in the Host header', () => {
  for (const h of ['localhost', '127.0.0.1', '::1', '[::1]', '10.0.0.5', 'web.localhost', '']) {
    assert.equal(httpAllowedHost(h), undefined, h);
  }
  assert.equal(httpAllowedHost('docker'), 'docker');
  assert.equal(httpAllowedHost('dind.example.test'), 'dind.example.test');
  // getWebUrl()'s form
  assert.equal(webUrl('localhost', 32768), 'http://localhost:32768/');
  assert.equal(webUrl('::1', 8025), 'http://[::1]:8025/');
  assert.equal(webUrl('[fe80::1]', 8025), 'http://[fe80::1]:8025/');
});

function haveOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// a CA:TRUE ECDSA P-256 certificate for localhost, like smtpsink's own
function selfSigned(dir, name) {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };
}

test('{ ca: pem } trusts exactly that certificate', { skip: !haveOpenssl() && 'needs the openssl command' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpsink-tls-'));
  const served = selfSigned(dir, 'served');
  const other = selfSigned(dir, 'other');
  fs.rmSync(dir, { recursive: true, force: true });
  const server = tls.createServer({ key: served.key, cert: served.cert }, (s) => s.end());
  server.on('tlsClientError', () => {});
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const handshake = (ca, servername) => new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: server.address().port, ca, servername }, () => {
      s.end();
      resolve();
    });
    s.on('error', reject);
  });
  try {
    await handshake(served.cert, 'localhost');
    await assert.rejects(handshake(other.cert, 'localhost'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    await assert.rejects(handshake(served.cert, 'mail.example.test'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  } finally {
    server.close();
  }
});
