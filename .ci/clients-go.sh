#!/usr/bin/env bash
# clients-go.sh - CI stage for clients/go: installs what is missing (protoc,
# a Go toolchain >= 1.26 fetched from the Go module proxy as the module
# golang.org/toolchain when none is installed, protoc-gen-go and
# protoc-gen-go-grpc), builds the smtpsink image (layer-cached), checks
# that the committed stubs (smtpsinkv1/*.pb.go) are what the pinned plugins
# generate from the current proto, builds a fresh consumer module
# (testdata/consumer) from the committed tree, runs the testcontainers-go
# tests against the image, then the tests of examples/go. Idempotent; GOPATH
# and the Go build cache are reused between runs. Removes the containers this
# run labelled (lib.sh). Exits non-zero on failure.
# Env: SMTPSINK_IMAGE (default smtpsink:latest), SMTPSINK_SKIP_IMAGE_BUILD=1.
# Debian packages it may install: protobuf-compiler libprotobuf-dev curl
# ca-certificates unzip.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib.sh
. "$ROOT/.ci/lib.sh"
GO_TOOLCHAIN=go1.26.8                   # fallback toolchain when no Go >= 1.21 is installed
PROTOC_GEN_GO=v1.36.12                  # google.golang.org/protobuf
PROTOC_GEN_GO_GRPC=v1.6.2               # google.golang.org/grpc/cmd/protoc-gen-go-grpc

ci_begin

# --- tools ----------------------------------------------------------------------
need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
# google/protobuf/{duration,timestamp}.proto for protoc's include path
[ -f /usr/include/google/protobuf/duration.proto ] || need_apt+=(libprotobuf-dev)
command -v curl >/dev/null || need_apt+=(curl ca-certificates)
command -v unzip >/dev/null || need_apt+=(unzip)
[ ${#need_apt[@]} -eq 0 ] || ci_apt_install "${need_apt[@]}"

# Any Go >= 1.21 will do: with GOTOOLCHAIN=auto it switches to the version
# go.mod asks for (downloaded through the module proxy).
go_ok() {
	local v
	v=$("$1" env GOVERSION 2>/dev/null) || return 1   # e.g. go1.26.8
	v=${v#go}
	local major=${v%%.*} rest=${v#*.}
	local minor=${rest%%[.a-z]*}
	[ "$major" -gt 1 ] || [ "$minor" -ge 21 ]
}
GO=
for cand in "$(command -v go || true)" /usr/local/go/bin/go "$HOME/.cache/smtpsink-ci/$GO_TOOLCHAIN/go/bin/go"; do
	if [ -n "$cand" ] && [ -x "$cand" ] && go_ok "$cand"; then GO=$cand; break; fi
done
if [ -z "$GO" ]; then
	arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
	dest=$HOME/.cache/smtpsink-ci/$GO_TOOLCHAIN
	url=https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-$arch.zip
	ci_log "no Go >= 1.21 found; fetching $GO_TOOLCHAIN from the Go module proxy"
	rm -rf "$dest" && mkdir -p "$dest"
	curl -fsSL -o "$dest/toolchain.zip" "$url"
	unzip -q "$dest/toolchain.zip" -d "$dest/unpacked"
	mv "$dest/unpacked/golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$arch" "$dest/go"
	rm -rf "$dest/unpacked" "$dest/toolchain.zip"
	chmod +x "$dest/go/bin/"* "$dest/go/pkg/tool/"*/* 2>/dev/null || true
	GO=$dest/go/bin/go
fi
GOPATH_BIN=$("$GO" env GOPATH)/bin
PATH=$(dirname "$GO"):$GOPATH_BIN:$PATH
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOFLAGS=${GOFLAGS:--buildvcs=false}
ci_log "using $(go version)"

plugin_version() { "$1" --version 2>/dev/null | awk '{print $NF}'; }
if [ "$(plugin_version protoc-gen-go)" != "$PROTOC_GEN_GO" ]; then
	ci_log "installing protoc-gen-go $PROTOC_GEN_GO"
	go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"
fi
if [ "$(plugin_version protoc-gen-go-grpc)" != "${PROTOC_GEN_GO_GRPC#v}" ]; then
	ci_log "installing protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC"
	go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC"
fi

# --- build and test -------------------------------------------------------------
ci_image

cd "$ROOT/clients/go"
# The stubs are committed (smtpsinkv1/*.pb.go). They must be exactly what the
# pinned plugins make of the current proto; only the protoc version in their
# header comment may differ (Debian's protoc here, another one elsewhere).
gen=$(mktemp -d "${TMPDIR:-/tmp}/smtpsink-go-gen.XXXXXX")
protoc -I "$ROOT/proto" \
	--go_out="$gen" --go_opt=module=github.com/smtpsink/smtpsink/clients/go \
	--go-grpc_out="$gen" --go-grpc_opt=module=github.com/smtpsink/smtpsink/clients/go \
	smtpsink/v1/smtpsink.proto
stale=0
for f in "$gen"/smtpsinkv1/*.pb.go; do
	if ! diff -u -I '^//[[:space:]-]*protoc[[:space:]][[:space:]]*v' "smtpsinkv1/$(basename "$f")" "$f"; then stale=1; fi
done
for f in smtpsinkv1/*.pb.go; do
	[ -f "$gen/$f" ] || { echo "smtpsinkv1: $f is not generated any more"; stale=1; }
done
rm -rf "$gen"
if [ "$stale" -ne 0 ]; then
	ci_log "smtpsinkv1/*.pb.go are stale: run 'go generate ./...' in clients/go and commit them" >&2
	exit 1
fi
ci_log "committed smtpsinkv1/*.pb.go match the proto"

# A user's module: requires the client (replace => this checkout) and builds
# from the committed tree alone: no protoc, no go generate.
(cd testdata/consumer && go build -o /dev/null . && go vet .)
ci_log "testdata/consumer builds against the committed module"

# (go test runs the standard vet checks itself)
ci_testcontainers_env
go test -count=1 -timeout 5m -v ./...

# smtpsinktest's other path: a sink already running (docker run), named by
# SMTPSINK_SMTP_ADDR / SMTPSINK_GRPC_ADDR / SMTPSINK_HTTP_ADDR, instead of its
# own container
ci_running_sink
SMTPSINK_SMTP_ADDR=$CI_SINK_SMTP SMTPSINK_GRPC_ADDR=$CI_SINK_GRPC SMTPSINK_HTTP_ADDR=$CI_SINK_HTTP \
	go test -count=1 -timeout 2m -v -run 'TestParallelMailboxesNeverMeet|TestMailboxWebURL' ./smtpsinktest
docker rm -f "$CI_SINK_ID" >/dev/null

# examples/go: an application's own module requiring this one (replace =>
# this checkout), its tests on smtpsinktest, as a user runs them
(cd "$ROOT/examples/go" && go vet ./... && go test -count=1 -timeout 2m -v ./...)
ci_log "passed"
