#!/usr/bin/env bash
# clients-node.sh - build the smtpsink image (layer-cached), build the npm
# package clients/node (types generated from proto/ by proto-loader-gen-types,
# TypeScript compiled with declarations), and run its Testcontainers tests
# (node:test + nodemailer) against the image. Installs Node.js 20 from Debian
# (nodejs + npm) when npm is missing, and Node 20 from the npm registry when
# the node on PATH is older than 20.18. Idempotent; removes the
# containers this run labelled (lib.sh); exits non-zero on failure.
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
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >node_modules/.smtpsink-lock-sum
fi
npm run build --silent

ci_testcontainers_env
node --test --test-concurrency=1 --test-reporter=spec test/
