#!/usr/bin/env bash
# mailpit.sh - builds the Mailpit the side-by-side test
# (tests/integration/test_http_mailpit.py) compares our /api/v1/ with:
# `go install github.com/axllent/mailpit@$MAILPIT_VERSION` into a cached
# directory (binary, module and build caches kept between runs, so only the
# first run compiles). Prints the binary's path on the last line.
# Env: SMTPSINK_CI_CACHE (default ~/.cache/smtpsink-ci), GO (a go binary).
set -euo pipefail
MAILPIT_VERSION=v1.33.1
CACHE=${SMTPSINK_CI_CACHE:-$HOME/.cache/smtpsink-ci}
DEST=$CACHE/mailpit-$MAILPIT_VERSION
if [ -x "$DEST/bin/mailpit" ]; then
	echo "$DEST/bin/mailpit"
	exit 0
fi
GO=${GO:-}
for cand in "$(command -v go || true)" /usr/local/go/bin/go "$CACHE"/go*/go/bin/go; do
	if [ -z "$GO" ] && [ -n "$cand" ] && [ -x "$cand" ]; then GO=$cand; fi
done
if [ -z "$GO" ]; then
	echo "mailpit.sh: no Go toolchain (install one, or run .ci/clients-go.sh first)" >&2
	exit 1
fi
mkdir -p "$DEST/bin"
GOBIN=$DEST/bin GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gobuild GOFLAGS=-mod=mod GOTOOLCHAIN=auto \
	"$GO" install "github.com/axllent/mailpit@$MAILPIT_VERSION" >&2
echo "$DEST/bin/mailpit"
