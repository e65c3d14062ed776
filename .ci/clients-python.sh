#!/usr/bin/env bash
# clients-python.sh - build the smtpsink image (layer-cached), build the Python
# package clients/python (stubs generated from proto/ by grpcio-tools) into a
# venv with pip from PyPI, and run its Testcontainers tests against the image.
# Idempotent; removes the containers this run labelled (lib.sh); exits
# non-zero on failure.
# Env: SMTPSINK_IMAGE (default smtpsink:latest), SMTPSINK_SKIP_IMAGE_BUILD=1,
#      SMTPSINK_PY_VENV (default clients/python/.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib.sh
. "$ROOT/.ci/lib.sh"
VENV=${SMTPSINK_PY_VENV:-$ROOT/clients/python/.venv}

ci_begin

# Debian's python3 with venv + ensurepip (python3-venv)
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  ci_apt_install python3 python3-venv
fi

ci_image

if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
export PIP_CONSTRAINT=$ROOT/clients/python/constraints-ci.txt
# dependencies (cached by pip), then the package itself, always rebuilt so the
# stubs are regenerated from the current proto
"${PIP[@]}" install "$ROOT/clients/python[test]"
"${PIP[@]}" install --force-reinstall --no-deps "$ROOT/clients/python"

ci_testcontainers_env
cd "$ROOT/clients/python"
"$VENV/bin/python" -m pytest -p no:cacheprovider -v tests
