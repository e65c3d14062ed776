#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets of tests/fuzz with clang
# (-DSMTPSINK_FUZZ=ON: libFuzzer, ASan, UBSan) in build-fuzz, replays their
# corpus and regressions (ctest -L fuzz), then runs each target for
# FUZZ_SECONDS (default 60) on a copy of its corpus and regressions.
# Exits non-zero when a target finds something, after printing where the
# reproducer is and how to replay it.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   which targets, space-separated (default: all)
#   FUZZ_RSS_MB    memory limit per target (default 2048)
#   FUZZ_BUILD     build directory (default build-fuzz)
# Needs clang (Debian: apt-get install clang).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
SECS=${FUZZ_SECONDS:-60}
RSS=${FUZZ_RSS_MB:-2048}
TARGETS=${FUZZ_TARGETS:-smtp_session esmtp_params data_scan mime glob control}

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not found (apt-get install clang)" >&2
  exit 2
fi

CC=clang cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSMTPSINK_FUZZ=ON -DPICKY_DEVELOPER=ON -DUNIT_TESTING=OFF -DINTEGRATION_TESTING=OFF >/dev/null
build_targets=(fuzzers)
for t in $TARGETS; do build_targets+=("fuzz_${t}_replay"); done
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target "${build_targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp
ctest --test-dir "$BUILD" -L fuzz --output-on-failure -R "^fuzz\\.($(echo "$TARGETS" | tr ' ' '|'))\$"

status=0
for t in $TARGETS; do
  bin=$BUILD/tests/fuzz/fuzz_$t
  work=$BUILD/fuzz-work/fuzz_$t
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$ROOT/tests/fuzz/corpus/fuzz_$t/"* "$work/corpus/"
  if [ -d "$ROOT/tests/fuzz/regressions/fuzz_$t" ]; then
    cp "$ROOT/tests/fuzz/regressions/fuzz_$t/"* "$work/corpus/"
  fi
  echo "=== fuzz_$t: ${SECS}s"
  if "$bin" -max_total_time="$SECS" -rss_limit_mb="$RSS" -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
    echo "fuzz_$t: ok, ${runs:-?} inputs, ${rate:-?}/s, corpus now $(find "$work/corpus" -type f | wc -l) files"
  else
    status=1
    tail -n 60 "$work/log"
    echo "fuzz_$t: FAILED; full log: $work/log"
    for f in "$work/artifacts/"*; do
      [ -e "$f" ] || continue
      echo "fuzz_$t: reproducer $f"
      echo "  replay: $bin $f"
      echo "  keep it: cp $f tests/fuzz/regressions/fuzz_$t/ (with the fix)"
    done
  fi
done
exit $status
