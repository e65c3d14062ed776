// The shipped globalSetup ('smtpsink-testcontainers/jest/global-setup'),
// plus the CI run's label on the container.
'use strict';
const { startSharedSink } = require('smtpsink-testcontainers/testing');
const ciLabels = require('../ci-labels');

module.exports = async function globalSetup() {
  await startSharedSink({ labels: ciLabels() });
};
