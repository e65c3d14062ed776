// The tests of one Jest test file (left.test.js, right.test.js): the two
// files run at the same time in two workers against one sink and meet
// through it (../scenario.js).
'use strict';
const assert = require('node:assert/strict');

const { mailbox } = require('smtpsink-testcontainers/jest');
const { sharedSink } = require('smtpsink-testcontainers/testing');
const { isolatedSide, checkCleared } = require('../scenario');

module.exports = function side(me, peer) {
  let mine;

  test(`${me}: a mailbox of its own while ${peer}.test.js runs`, async () => {
    assert.ok(process.env.JEST_WORKER_ID);
    mine = await isolatedSide(await mailbox(), { tag: RUN_TAG, me, peer });
  });

  test(`${me}: afterEach cleared the mailbox: mail and rules`, async () => {
    assert.ok(mine);
    await checkCleared((await sharedSink()).client, [mine]);
  });
};
