#!/usr/bin/env bash
# clients-python.sh - build the smtpsink image (layer-cached), build the Python
# package clients/python (stubs generated from proto/ by grpcio-tools) into a
# venv with pip from PyPI, and run its Testcontainers tests against the image.
# Idempotent; removes the containers it labelled; exits non-zero on failure.
# Env: SMTPSINK_IMAGE (default smtpsink:latest), SMTPSINK_SKIP_IMAGE_BUILD=1,
#      SMTPSINK_PY_VENV (default clients/python/.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/.ci/lib.sh"
IMAGE=${SMTPSINK_IMAGE:-smtpsink:latest}
VENV=${SMTPSINK_PY_VENV:-$ROOT/clients/python/.venv}
LABEL=dev.smtpsink.module=python

ci_own_label "$LABEL"

docker info >/dev/null 2>&1 || { echo "clients-python: no Docker engine answers" >&2; exit 1; }

# Debian's python3 with venv + ensurepip (python3-venv)
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3 python3-venv
fi

if [ "${SMTPSINK_SKIP_IMAGE_BUILD:-0}" != 1 ]; then
  echo "clients-python: docker build -t $IMAGE (cached layers)"
  DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$ROOT" >/dev/null
fi

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

export SMTPSINK_IMAGE=$IMAGE
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=${TESTCONTAINERS_HOST_OVERRIDE:-localhost}
cd "$ROOT/clients/python"
"$VENV/bin/python" -m pytest -p no:cacheprovider -v tests
