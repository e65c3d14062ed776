// dev.smtpsink.run=$SMTPSINK_CI_RUN when .ci/lib.sh runs the tests: the
// label by which that CI run removes its containers (and only its own)
'use strict';
module.exports = function ciLabels() {
  const run = process.env.SMTPSINK_CI_RUN;
  return run ? { 'dev.smtpsink.run': run } : {};
};
