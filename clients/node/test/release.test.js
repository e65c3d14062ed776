// SinkClient.release (ReleaseMessage, issue 10): the exact request the client
// sends and the status it returns, checked against an in-process gRPC server
// standing in for smtpsink (no container needed). container.test.js releases
// a message through the real server in the container.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');

const { SinkClient, SmtpSinkError, releaseRequest, loadProtos } = require('../dist/client');

test('releaseRequest builds the ReleaseMessage request', () => {
  assert.deepEqual(releaseRequest(7), { id: 7, relay_url: '', rcpt_to: [] });
  assert.deepEqual(releaseRequest('8', { relayUrl: 'smtp://up:25', rcptTo: ['a@b.test'] }),
    { id: '8', relay_url: 'smtp://up:25', rcpt_to: ['a@b.test'] });
  // '' is the null sender, on purpose: it must override too
  assert.deepEqual(releaseRequest(9, { mailFrom: '' }),
    { id: 9, relay_url: '', rcpt_to: [], mail_from: '', override_mail_from: true });
});

test('release sends the request and resolves to the RelayStatus', async () => {
  const got = [];
  const server = new grpc.Server();
  server.addService(loadProtos().smtpsink.v1.Sink.service, {
    ReleaseMessage(call, cb) {
      got.push(call.request);
      if (call.request.id === '404') {
        cb({ code: grpc.status.NOT_FOUND, details: 'no message 404' });
        return;
      }
      cb(null, { state: 'RELAY_STATE_RELAYED', attempts: 1, upstream: call.request.relay_url,
        rcpt_to: call.request.rcpt_to });
    },
  });
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const client = new SinkClient(`127.0.0.1:${port}`);
  try {
    const st = await client.release(42, { relayUrl: 'smtp://up:2525', rcptTo: ['ops@a.test'], mailFrom: 'b@a.test' });
    assert.equal(got.length, 1);
    assert.equal(got[0].id, '42');
    assert.equal(got[0].relay_url, 'smtp://up:2525');
    assert.deepEqual(got[0].rcpt_to, ['ops@a.test']);
    assert.equal(got[0].mail_from, 'b@a.test');
    assert.equal(got[0].override_mail_from, true);
    assert.equal(st.state, 'RELAY_STATE_RELAYED');
    assert.equal(st.upstream, 'smtp://up:2525');
    await assert.rejects(client.release(404), (e) => e instanceof SmtpSinkError && e.code === grpc.status.NOT_FOUND);
  } finally {
    client.close();
    server.forceShutdown();
  }
});
