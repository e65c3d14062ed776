#!/usr/bin/env bash
# docker-image.sh - build the smtpsink image from this tree (classic builder,
# layer-cached: the apt layer is reused, only changed sources rebuild), then
# run tests/docker (image checks, Kubernetes/compose manifest checks, compose
# smoke test) with Debian's python3 + pytest, and print the image measurements
# (size, start-to-ready, stop time) for the README.
# Idempotent; removes the containers and compose project it started; exits
# non-zero on failure.
# Env: SMTPSINK_IMAGE (default smtpsink:latest; also tagged smtpsink:<version>),
#      SMTPSINK_MEASURE_RUNS (default 5; 0 skips the measurements).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/.ci/lib.sh"
IMAGE=${SMTPSINK_IMAGE:-smtpsink:latest}

ci_own_label dev.smtpsink.test=docker "command -v docker-compose >/dev/null 2>&1 && docker-compose -p smtpsink-smoke -f '$ROOT/deploy/docker-compose.yml' down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true"

docker info >/dev/null 2>&1 || { echo "docker-image: no Docker engine answers" >&2; exit 1; }

missing=()
for p in python3 python3-pytest python3-yaml docker-compose; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

version=$(sed -n 's/^project(smtpsink VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
echo "docker-image: docker build -t $IMAGE -t smtpsink:${version:-dev}"
t0=$(date +%s)
DOCKER_BUILDKIT=0 docker build -t "$IMAGE" -t "smtpsink:${version:-dev}" "$ROOT" >/tmp/smtpsink-docker-build.log 2>&1 || {
  tail -40 /tmp/smtpsink-docker-build.log >&2
  echo "docker-image: build FAILED (full log /tmp/smtpsink-docker-build.log)" >&2
  # later stages must not test a stale image from an earlier run
  docker image rm "$IMAGE" >/dev/null 2>&1 || true
  exit 1
}
echo "docker-image: built in $(( $(date +%s) - t0 )) s"
docker image ls "$IMAGE"

export SMTPSINK_IMAGE=$IMAGE
/usr/bin/python3 -m pytest -p no:cacheprovider -v -s "$ROOT/tests/docker"

runs=${SMTPSINK_MEASURE_RUNS:-5}
if [ "$runs" -gt 0 ]; then
  echo "docker-image: measurements"
  /usr/bin/python3 "$ROOT/tests/docker/measure.py" "$IMAGE" "$runs" || echo "docker-image: measuring failed (not a test)"
fi
