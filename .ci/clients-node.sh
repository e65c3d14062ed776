#!/usr/bin/env bash
# clients-node.sh - build the smtpsink image (layer-cached), build the npm
# package clients/node (types generated from proto/ by proto-loader-gen-types,
# TypeScript compiled with declarations), check that its `npm pack` tarball
# installs into a fresh project with its types (tsc on test/consumer), and
# run its Testcontainers tests (node:test + nodemailer) against the image;
# then the test-runner integrations (test/runners: node:test under
# with-smtpsink, Vitest, Jest), first each with the one container its global
# setup starts, then all against one `docker run` sink named by
# SMTPSINK_SMTP_ADDR / SMTPSINK_GRPC_ADDR (the "already running sink" path);
# last the example app examples/node, installed from that tarball and
# `npm ci`, whose `npm test` runs against the same sink.
# Installs Node.js 20 from Debian (nodejs + npm) when npm is missing, and
# Node 20 from the npm registry when the node on PATH is older than 20.18.
# Idempotent; removes the containers this run labelled (lib.sh); exits
# non-zero on failure.
# Env: SMTPSINK_IMAGE (default smtpsink:latest), SMTPSINK_SKIP_IMAGE_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib.sh
. "$ROOT/.ci/lib.sh"

ci_begin

node_ok() {  # node >= 20.18 on PATH
  node -e 'const [a, b] = process.versions.node.split(".").map(Number);
           process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)' >/dev/null 2>&1
}
# testcontainers 11 (undici 7) needs Node >= 20.18; Debian 12 ships 18. Then
# take Node 20 from the npm registry (node-linux-<arch>, the binary package
# behind npm's "node" package) into clients/node/.node (ignored by git).
command -v npm >/dev/null 2>&1 || ci_apt_install nodejs npm
if ! node_ok; then
  case "$(uname -m)" in x86_64) narch=x64 ;; aarch64) narch=arm64 ;; *) narch=$(uname -m) ;; esac
  NODE_DIR=$ROOT/clients/node/.node
  if ! [ -x "$NODE_DIR/node_modules/node-linux-$narch/bin/node" ]; then
    npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "node-linux-$narch@20.20.2"
  fi
  export PATH=$NODE_DIR/node_modules/node-linux-$narch/bin:$PATH
fi
ci_log "node $(node --version), npm $(npm --version)"

ci_image

cd "$ROOT/clients/node"
# npm ci from the lock file; ~/.npm caches the tarballs between runs
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.smtpsink-lock-sum 2>/dev/null)" != "$lock_sum" ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >node_modules/.smtpsink-lock-sum
fi

# The package as users get it: `npm pack` (its prepare hook builds dist/,
# which the tests below use too),
# installed into a fresh project with testcontainers, whose TypeScript file
# (test/consumer/consumer.ts) must type-check against the shipped .d.ts under
# both the classic ("node") and the node16 module resolution.
t0=$SECONDS
CONSUMER=$ROOT/clients/node/build-consumer
rm -rf "$CONSUMER" && mkdir -p "$CONSUMER"
tgz=$(npm pack --silent --pack-destination "$CONSUMER" | tail -1)
printf '{"name":"consumer","version":"1.0.0","private":true}\n' >"$CONSUMER/package.json"
cp test/consumer/consumer.ts "$CONSUMER/"
dep_version() { node -p "require('./node_modules/$1/package.json').version"; }
tc_version=$(dep_version testcontainers)
types_version=$(dep_version @types/node)
(cd "$CONSUMER" && npm install --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error \
  "./$tgz" "testcontainers@$tc_version" "@types/node@$types_version")
cp test/consumer/consumer-vitest.mts "$CONSUMER/"
tsc_strict=("$ROOT/clients/node/node_modules/.bin/tsc" --noEmit --strict --esModuleInterop --target ES2022 --types node)
# (smtpsink-testcontainers/vitest is ESM only, as Vitest test files are:
# consumer-vitest.mts under node16 only)
(cd "$CONSUMER" && "${tsc_strict[@]}" --moduleResolution node --module commonjs consumer.ts)
(cd "$CONSUMER" && "${tsc_strict[@]}" --moduleResolution node16 --module node16 consumer.ts consumer-vitest.mts)
(cd "$CONSUMER" && node -e "for (const p of ['', '/client', '/testing', '/node-test', '/vitest/global-setup',
  '/jest/global-setup', '/jest/global-teardown']) require('smtpsink-testcontainers' + p)" &&
  [ -x node_modules/.bin/with-smtpsink ])
ci_log "$tgz installs into a fresh project with its types ($((SECONDS - t0)) s)"

ci_testcontainers_env
node --test --test-concurrency=1 --test-reporter=spec test/*.test.js

# The runner integrations (test/runners/): node:test under with-smtpsink,
# Vitest and Jest, two tests at the same time on one sink each. First each
# with the container its global setup starts (labelled for this run), then
# all against one sink started here and named by the environment, which
# their global setups must take instead of starting one.
run_label=dev.smtpsink.run=$SMTPSINK_CI_RUN
runners() {
  local t0=$SECONDS
  node dist/bin/with-smtpsink.js --label "$run_label" -- \
    node --test --test-reporter=spec test/runners/node-test/*.test.js
  node_modules/.bin/vitest run --config test/runners/vitest/vitest.config.mjs
  node_modules/.bin/jest --config test/runners/jest/jest.config.js
  ci_log "node:test, Vitest and Jest runner tests passed ($1, $((SECONDS - t0)) s)"
}
runners "a container per run"

ci_running_sink
export SMTPSINK_SMTP_ADDR=$CI_SINK_SMTP SMTPSINK_GRPC_ADDR=$CI_SINK_GRPC SMTPSINK_HTTP_ADDR=$CI_SINK_HTTP
SMTPSINK_EXPECT_GRPC_ADDR=$SMTPSINK_GRPC_ADDR runners "the running sink at $SMTPSINK_GRPC_ADDR"

# The example app, as its users install it: the client from the tarball
# checked above (no integrity in its package-lock.json: the tarball is new
# every run, and npm would take its cached copy by that integrity instead),
# everything else by `npm ci` from the lock file; its `npm test` (with-smtpsink
# node --test) against the same running sink.
t0=$SECONDS
cd "$ROOT/examples/node"
cp "$CONSUMER/$tgz" smtpsink-testcontainers.tgz
if node -e "process.exit(require('./package-lock.json').packages['node_modules/smtpsink-testcontainers'].integrity ? 0 : 1)"; then
  ci_log "examples/node/package-lock.json pins an integrity for smtpsink-testcontainers.tgz: delete that line" >&2
  exit 1
fi
lock_sum=$(cat package-lock.json smtpsink-testcontainers.tgz | sha256sum | cut -d' ' -f1)
if [ "$(cat node_modules/.smtpsink-lock-sum 2>/dev/null)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund --prefer-offline --loglevel=error
  echo "$lock_sum" >node_modules/.smtpsink-lock-sum
fi
npm test
ci_log "examples/node: npm ci + npm test against the running sink ($((SECONDS - t0)) s)"
