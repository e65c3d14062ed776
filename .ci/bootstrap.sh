#!/usr/bin/env bash
# bootstrap.sh - the README's quick start. On a fresh Debian 12 / Ubuntu 22.04+
# machine it installs whatever is missing, builds, and then:
#   run   starts smtpsink with its defaults (SMTP 127.0.0.1:1025, gRPC 127.0.0.1:50051)
#   test  runs the whole test suite: shellcheck and clang-format, unit +
#         integration (gcc, -Werror), the same under ASan+UBSan, valgrind
#         memcheck, the libFuzzer targets for FUZZ_SECONDS each (default 60,
#         side by side with the next stages), the Docker image and the four
#         client modules (the last two only when a Docker engine answers, or
#         CI=true).
# Extra arguments after `run` go to smtpsink.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in run|test|deps) ;; *) echo "usage: $0 run|test|deps [smtpsink options]" >&2; exit 2 ;; esac

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
PKGS=(build-essential cmake ninja-build pkg-config git
      libevent-dev libssl-dev libgmime-3.0-dev libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
      protobuf-compiler protobuf-compiler-grpc libprotobuf-dev grpc-proto libcmocka-dev libjansson-dev)
if [ "$mode" != run ]; then
  PKGS+=(python3 python3-pytest python3-grpcio python3-protobuf python3-h2 python3-cryptography
         swaks libdigest-hmac-perl libnet-ssleay-perl libio-socket-ssl-perl curl openssl valgrind
         shellcheck clang-format clang chromium chromium-driver python3-selenium)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ "$mode" = deps ] && exit 0

JOBS=$(nproc 2>/dev/null || echo 2)
build() {  # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

if [ "$mode" = run ]; then
  build "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF
  exec "$ROOT/build/smtpsink" "$@"
fi

# --- test ----------------------------------------------------------------------
export CTEST_OUTPUT_ON_FAILURE=1
status=0
step() { echo; echo "=== $*"; }

step "lint: shellcheck (settings in .shellcheckrc)"
# every shell script: *.sh and .ci/run (git's list, untracked ones included;
# find outside a git checkout)
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t scripts < <(git -C "$ROOT" ls-files --cached --others --exclude-standard -- '*.sh' .ci/run)
else
  mapfile -t scripts < <(find . \( -name '*.sh' -o -path ./.ci/run \) -not -path '*/node_modules/*' \
                           -not -path '*/.venv/*' -not -path './build*' | sort)
fi
if shellcheck "${scripts[@]}"; then echo "shellcheck: ${#scripts[@]} scripts clean"; else status=1; fi

step "lint: clang-format (settings in .clang-format, clang-format 14)"
bash "$ROOT/.ci/format-check.sh" || status=1

step "lint: one version everywhere (CMakeLists.txt, the four client modules, CHANGELOG.md)"
bash "$ROOT/.ci/check-versions.sh" || status=1

step "mailpit $(sed -n 's/^MAILPIT_VERSION=//p' "$ROOT/.ci/mailpit.sh") for the side-by-side test of the Mailpit-compatible API"
if mp=$(bash "$ROOT/.ci/mailpit.sh" | tail -n 1); then export SMTPSINK_MAILPIT="$mp"; else status=1; fi

step "gcc build (-Werror): unit + integration tests"
build "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPICKY_DEVELOPER=ON
ctest --test-dir "$ROOT/build" -j "$JOBS" --timeout 300 || status=1

step "ASan + UBSan build: unit + integration tests"
build "$ROOT/build-asan" -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON -DPICKY_DEVELOPER=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS=suppressions="$ROOT/tests/lsan.supp" \
  ctest --test-dir "$ROOT/build-asan" -j "$JOBS" --timeout 600 || status=1

step "valgrind memcheck: unit tests and the daemon under the integration tests"
bash "$ROOT/.ci/valgrind.sh" || status=1

# The fuzzers run for a fixed time on one core each, in turn; the image and
# client stages mostly wait on docker, the JVM and the network, so the two
# share the machine well. The fuzz log is printed when both are done.
step "fuzz: libFuzzer targets, ${FUZZ_SECONDS:-60} s each (in the background; log at the end)"
mkdir -p "$ROOT/build-fuzz"
FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash "$ROOT/.ci/fuzz.sh" >"$ROOT/build-fuzz/fuzz.log" 2>&1 &
fuzz_pid=$!

if [ "${CI:-}" = true ] || docker info >/dev/null 2>&1; then
  for s in docker-image clients-python clients-node clients-go clients-java; do
    if [ -f "$ROOT/.ci/$s.sh" ]; then
      step "$s"
      bash "$ROOT/.ci/$s.sh" || { echo "bootstrap: $s FAILED"; status=1; }
    fi
  done
else
  echo "bootstrap: no Docker engine answers: image and client-module tests skipped"
fi

step "fuzz: results"
if wait "$fuzz_pid"; then
  grep -E '^fuzz_[a-z_]+: ' "$ROOT/build-fuzz/fuzz.log" || true
else
  cat "$ROOT/build-fuzz/fuzz.log"; echo "bootstrap: fuzz FAILED"; status=1
fi

echo
if [ $status -eq 0 ]; then echo "bootstrap: all test stages passed"; else echo "bootstrap: SOME TEST STAGES FAILED"; fi
exit $status
