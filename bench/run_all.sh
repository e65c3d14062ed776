#!/bin/sh
# Runs every benchmark the way bench/RESULTS.md was produced; ~50 minutes on
# a 2-core machine.  Usage (from anywhere): bench/run_all.sh [BUILD_DIR]
# Builds BUILD_DIR (default build-bench, RelWithDebInfo) first.  Logs and JSON
# go to bench/out/<timestamp>/.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-bench}
PY=/usr/bin/python3
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/out/$STAMP
mkdir -p "$OUT"

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
if ! cmake --build "$BUILD" -j2 >"$OUT/build.log" 2>&1; then
	[ -x "$BUILD/smtpsink" ] || { echo "build failed, see $OUT/build.log"; exit 1; }
	echo "build failed (another change in progress?); using the existing $BUILD/smtpsink"
fi
{ git -C "$ROOT" log -1 --format='commit %h %s'
  echo "uncommitted changes in src/ at build time:"; git -C "$ROOT" diff --stat HEAD -- src include; } >"$OUT/commit.txt"
echo "results in $OUT"
step() {	# step NAME COMMAND...: log to $OUT/NAME.log, keep going on failure
	name=$1; shift
	echo "$(date -u +%H:%M:%S) $name"
	"$@" >"$OUT/$name.log" 2>&1 || echo "$name FAILED (see $OUT/$name.log)"
}

# 1. SMTP throughput / CPU / RSS: C sinks in 6 repetitions, aiosmtpd in the first 2
step throughput $PY "$ROOT/bench/run_smtp.py" --smtpsink "$BUILD/smtpsink" --mode throughput --reps 6 --slow-reps 2 \
    --sinks smtp-sink,aiosmtpd,smtpsink,smtpsink+grpc --out "$OUT/throughput.json"
# 2. instructions per message (deterministic) and idle sessions
step callgrind $PY "$ROOT/bench/run_smtp.py" --smtpsink "$BUILD/smtpsink" --mode callgrind --sinks smtp-sink,smtpsink \
    --out "$OUT/callgrind.json"
step idle $PY "$ROOT/bench/run_smtp.py" --smtpsink "$BUILD/smtpsink" --mode idle \
    --sinks smtp-sink,aiosmtpd,mailpit,smtpsink,smtpsink+grpc --out "$OUT/idle.json"
# 3. control API latency, with Mailpit and MailDev where installed
step grpc $PY "$ROOT/bench/grpc_latency.py" --smtpsink "$BUILD/smtpsink" --pygen "$BUILD/gen/python" \
    --trials 1000 --stored 100000
# 4. Mailpit as an extra SMTP peer (one repetition; its 256 KiB run alone takes minutes)
step mailpit $PY "$ROOT/bench/run_smtp.py" --smtpsink "$BUILD/smtpsink" --mode throughput --reps 1 --slow-reps 1 \
    --sinks smtp-sink,mailpit,smtpsink --out "$OUT/mailpit.json"
# 5. TLS + AUTH (issue 9): new connection + STARTTLS / implicit TLS + AUTH, idle TLS sessions; beside Mailpit
#    with the same certificate (Mailpit from MAILPIT_BIN or build-bench/bin/mailpit; smtpsink alone without it)
MAILPIT=${MAILPIT_BIN:-$BUILD/bin/mailpit}
if [ -x "$MAILPIT" ]; then TLS_SERVERS=smtpsink,mailpit; else TLS_SERVERS=smtpsink; fi
step tls $PY "$ROOT/bench/tls_auth.py" --smtpsink "$BUILD/smtpsink" --mailpit "$MAILPIT" --tlsload "$BUILD/bin/tlsload" \
    --servers "$TLS_SERVERS" --reps 5 --messages 6000 --idle 1000 --out "$OUT/tls.json"
# 6. async relay (issue 10): smtpsink A relaying to a plain smtpsink B, beside Mailpit relaying to the same kind
#    of B (skipped without Mailpit), and A capture-only for the CPU ratio
if [ -x "$MAILPIT" ]; then RELAY_SERVERS=smtpsink,mailpit,capture; else RELAY_SERVERS=smtpsink,capture; fi
step relay $PY "$ROOT/bench/relay.py" --smtpsink "$BUILD/smtpsink" --mailpit "$MAILPIT" --servers "$RELAY_SERVERS" \
    --reps 3 --messages 20000 --out "$OUT/relay.json"
# 7. HTTP API (issue 11): first page, search, new-message events and idle connections over 100,000 stored,
#    beside Mailpit holding the same mail (smtpsink alone without it)
if [ -x "$MAILPIT" ]; then HTTP_SERVERS=smtpsink,mailpit; else HTTP_SERVERS=smtpsink; fi
step http $PY "$ROOT/bench/http_api.py" --smtpsink "$BUILD/smtpsink" --mailpit "$MAILPIT" --servers "$HTTP_SERVERS" \
    --rounds 3 --out "$OUT/http.json"
echo "done"
