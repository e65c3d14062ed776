#!/usr/bin/env bash
# docker-image.sh - build the smtpsink image from this tree (classic builder,
# layer-cached: the apt layer is reused, only changed sources rebuild), then
# run tests/docker (image checks, Kubernetes/compose manifest checks, compose
# smoke test) with Debian's python3 + pytest, and print the image measurements
# (size, start-to-ready, stop time) for the README.
# Idempotent; removes the containers and compose network this run started
# (labelled with its run id, see lib.sh); exits non-zero on failure.
# Env: SMTPSINK_IMAGE (default smtpsink:latest; also tagged smtpsink:<version>),
#      SMTPSINK_SKIP_IMAGE_BUILD=1 (test the existing image),
#      SMTPSINK_MEASURE_RUNS (default 5; 0 skips the measurements).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib.sh
. "$ROOT/.ci/lib.sh"

ci_begin

missing=()
for p in python3 python3-pytest python3-yaml docker-compose; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || ci_apt_install "${missing[@]}"

version=$(sed -n 's/^project(smtpsink VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
ci_image "smtpsink:${version:-dev}"
docker image ls "$SMTPSINK_IMAGE"

/usr/bin/python3 -m pytest -p no:cacheprovider -v -s "$ROOT/tests/docker"

runs=${SMTPSINK_MEASURE_RUNS:-5}
if [ "$runs" -gt 0 ]; then
  ci_log "measurements"
  /usr/bin/python3 "$ROOT/tests/docker/measure.py" "$SMTPSINK_IMAGE" "$runs" || ci_log "measuring failed (not a test)"
fi
