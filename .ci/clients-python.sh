#!/usr/bin/env bash
# clients-python.sh - build the smtpsink image (layer-cached), build the Python
# package clients/python (stubs generated from proto/ by grpcio-tools) into a
# venv with pip from PyPI, check that its sdist and wheel (python -m build)
# install into a fresh venv with the pytest plugin registered, run its
# Testcontainers and pytest-plugin tests against the image, then the tests of
# examples/python (a Flask app) in a venv of their own with that wheel and
# Flask, under pytest-xdist (-n 2) against one `docker run` sink.
# Idempotent; removes the containers this run labelled (lib.sh); exits
# non-zero on failure.
# Env: SMTPSINK_IMAGE (default smtpsink:latest), SMTPSINK_SKIP_IMAGE_BUILD=1,
#      SMTPSINK_PY_VENV (default clients/python/.venv),
#      SMTPSINK_EXAMPLE_VENV (default examples/python/.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib.sh
. "$ROOT/.ci/lib.sh"
VENV=${SMTPSINK_PY_VENV:-$ROOT/clients/python/.venv}
EXAMPLE_VENV=${SMTPSINK_EXAMPLE_VENV:-$ROOT/examples/python/.venv}

ci_begin

# Debian's python3 with venv + ensurepip (python3-venv)
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  ci_apt_install python3 python3-venv
fi

ci_image

# venv DIR: DIR holds a working venv (made anew when broken)
venv() {
  if ! [ -x "$1/bin/python" ] || ! "$1/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$1"
    "$PY" -m venv "$1"
  fi
}
venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
export PIP_CONSTRAINT=$ROOT/clients/python/constraints-ci.txt
# dependencies (cached by pip), then the package itself, always rebuilt so the
# stubs are regenerated from the current proto
"${PIP[@]}" install "$ROOT/clients/python[test]"
"${PIP[@]}" install --force-reinstall --no-deps "$ROOT/clients/python"

# The package as users get it: an sdist (carrying the .proto) and a wheel
# built from that sdist in an unpacked copy outside the repository
# (python -m build), the wheel installed into a fresh venv: it imports, the
# generated stubs are in it, and pytest finds the plugin's entry point.
t0=$SECONDS
DIST=$ROOT/clients/python/build/dist-check
rm -rf "$DIST" && mkdir -p "$DIST"
"${PIP[@]}" install build
"$VENV/bin/python" -m build --outdir "$DIST/out" "$ROOT/clients/python" >"$DIST/build.log" 2>&1 ||
  { tail -30 "$DIST/build.log"; ci_log "python -m build FAILED" >&2; exit 1; }
sdist=$(echo "$DIST"/out/*.tar.gz)
wheel=$(echo "$DIST"/out/*.whl)
members=$(tar -tzf "$sdist")
grep -q '/proto/smtpsink/v1/smtpsink.proto$' <<<"$members" ||
  { ci_log "$sdist carries no proto/smtpsink/v1/smtpsink.proto" >&2; exit 1; }
"$PY" -m venv "$DIST/venv"
"$DIST/venv/bin/python" -m pip --disable-pip-version-check -q install "$wheel" pytest
(cd "$DIST" && "$DIST/venv/bin/python" - <<'PYEOF'
from importlib.metadata import entry_points, version
import smtpsink
from smtpsink.v1 import smtpsink_pb2, smtpsink_pb2_grpc  # generated into the wheel
assert version("smtpsink-testcontainers") == smtpsink.__version__, smtpsink.__version__
[ep] = [e for e in entry_points(group="pytest11") if e.name == "smtpsink"]
assert ep.value == "smtpsink.pytest_plugin", ep.value
ep.load()
assert hasattr(smtpsink_pb2, "ReleaseMessageRequest") and hasattr(smtpsink_pb2_grpc, "SinkStub")
PYEOF
)
# (captured first: grep -q closing a pipe early would fail it under pipefail)
fixtures=$(cd "$DIST" && "$DIST/venv/bin/python" -m pytest --fixtures -p no:cacheprovider 2>&1)
grep -q '^mailbox ' <<<"$fixtures" ||
  { echo "$fixtures" | tail -20; ci_log "pytest in a fresh venv does not list the mailbox fixture" >&2; exit 1; }
ci_log "$(basename "$sdist") and $(basename "$wheel") install into a fresh venv, plugin registered ($((SECONDS - t0)) s)"

ci_testcontainers_env
cd "$ROOT/clients/python"
"$VENV/bin/python" -m pytest -p no:cacheprovider -v tests

# examples/python: the app's own venv, with the wheel built above (as users
# install the package) and Flask from PyPI; -n 2 against one running sink
# (two pytest-xdist workers, one sink: only the mailboxes keep them apart)
venv "$EXAMPLE_VENV"
"$EXAMPLE_VENV/bin/python" -m pip --disable-pip-version-check -q install \
  "${wheel}[pytest]" -r "$ROOT/examples/python/requirements.txt"
"$EXAMPLE_VENV/bin/python" -m pip --disable-pip-version-check -q install --force-reinstall --no-deps "$wheel"
ci_running_sink
cd "$ROOT/examples/python"
SMTPSINK_SMTP_ADDR=$CI_SINK_SMTP SMTPSINK_GRPC_ADDR=$CI_SINK_GRPC SMTPSINK_HTTP_ADDR=$CI_SINK_HTTP \
  "$EXAMPLE_VENV/bin/python" -m pytest -p no:cacheprovider -n 2 -v
docker rm -f "$CI_SINK_ID" >/dev/null
