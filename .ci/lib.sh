# shellcheck shell=bash
# lib.sh - sourced by the .ci stage scripts (not run on its own): one way to
# label what a stage run starts on the Docker engine, one way to clean it up,
# one way to get the image under test.
#
# API (call ci_begin first; the scripts run under set -euo pipefail):
#   ci_begin            checks that a Docker engine answers, gives this stage
#                       run its id, removes leftovers of dead runs and arranges
#                       for this run's own things to be removed on exit
#   ci_image [TAG...]   builds the image from this tree (or takes an existing
#                       one) and pins it for this run; exports SMTPSINK_IMAGE
#   ci_testcontainers_env   the Testcontainers settings every client stage uses
#   ci_running_sink     starts the image under test with `docker run` for the
#                       clients' "running sink" path (CI_SINK_* below)
#   ci_apt_install PKG...   installs Debian packages (sudo when not root)
#   ci_log MSG...       "<stage>: MSG" on stdout
#
# Run id: <pid>-<start>-<host>: the stage script's pid, its start time (clock
# ticks since boot, /proc/<pid>/stat field 22, so a reused pid is told apart)
# and the host name, [A-Za-z0-9.-] only (the id is also an image tag). It is
# exported as SMTPSINK_CI_RUN; the tests label every container they start
# dev.smtpsink.run=$SMTPSINK_CI_RUN (tests/docker, clients/*/ tests), the
# compose smoke test its network too, and its compose project name is
# derived from the id. The image under test is tagged smtpsink:ci-<id>.
#
# Invariants: a run removes only what carries its own id, plus what carries
# the id of a dead run of this host (pid gone, or alive with another start
# time). Ids of other hosts sharing the engine are never touched: their
# processes cannot be seen from here. (Two hosts with one name, or scripts
# in separate pid namespaces under one host name, would defeat the liveness
# test; CI containers get distinct host names by default.)

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
CI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CI_STAGE=$(basename "$0" .sh)
CI_RUN_LABEL=dev.smtpsink.run
CI_RUN=
CI_HOST=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
CI_HOST=$(printf '%s' "$CI_HOST" | tr -c 'A-Za-z0-9.-' '-' | cut -c1-64)

ci_log() {
	echo "$CI_STAGE: $*"
}

ci_apt_install() {
	ci_log "installing $*"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@"
}

# ci_start_time PID: the start time of PID (field 22 of /proc/PID/stat, read
# after the command name, which may hold blanks); fails when PID is gone.
ci_start_time() {
	local stat fields
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -r -a fields <<<"${stat##*) }"
	echo "${fields[19]}"
}

# ci_run_dead ID: true when ID names a run of this host that is gone.
ci_run_dead() {
	local pid rest start host
	pid=${1%%-*}
	rest=${1#*-}
	start=${rest%%-*}
	host=${rest#*-}
	case "$pid$start" in '' | *[!0-9]*) return 1 ;; esac	# not an id of ours
	[ "$host" = "$CI_HOST" ] || return 1
	[ "$(ci_start_time "$pid" || true)" != "$start" ]
}

# ci_cleanup_run ID: removes the containers (with their anonymous volumes) and
# networks labelled with ID and the image tag smtpsink:ci-ID. Never fails.
ci_cleanup_run() {
	local ids
	ids=$(docker ps -aq --filter "label=$CI_RUN_LABEL=$1" 2>/dev/null || true)
	if [ -n "$ids" ]; then
		ci_log "removing containers of run $1: ${ids//$'\n'/ }"
		# shellcheck disable=SC2086 # one id per word
		docker rm -fv $ids >/dev/null 2>&1 || true
	fi
	ids=$(docker network ls -q --filter "label=$CI_RUN_LABEL=$1" 2>/dev/null || true)
	if [ -n "$ids" ]; then
		ci_log "removing networks of run $1: ${ids//$'\n'/ }"
		# shellcheck disable=SC2086 # one id per word
		docker network rm $ids >/dev/null 2>&1 || true
	fi
	docker image rm "smtpsink:ci-$1" >/dev/null 2>&1 || true
}

# ci_reap_dead_runs: ci_cleanup_run for every dead run (see ci_run_dead) that
# left containers, networks or an image tag behind.
ci_reap_dead_runs() {
	local id
	{
		docker ps -a --filter "label=$CI_RUN_LABEL" --format "{{.Label \"$CI_RUN_LABEL\"}}" || true
		docker network ls --filter "label=$CI_RUN_LABEL" --format "{{.Label \"$CI_RUN_LABEL\"}}" || true
		docker image ls smtpsink --format '{{.Tag}}' | sed -n 's/^ci-//p' || true
	} 2>/dev/null | sort -u | while read -r id; do
		if [ -n "$id" ] && [ "$id" != "$CI_RUN" ] && ci_run_dead "$id"; then
			ci_log "run $id is gone; removing what it left"
			ci_cleanup_run "$id"
		fi
	done
}

ci_begin() {
	local start
	docker info >/dev/null 2>&1 || { ci_log "no Docker engine answers" >&2; exit 1; }
	start=$(ci_start_time $$)
	CI_RUN=$$-$start-$CI_HOST
	export SMTPSINK_CI_RUN=$CI_RUN
	trap 'ci_cleanup_run "$CI_RUN"' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ci_reap_dead_runs
}

# ci_image [TAG...]: the image under test. Builds it from this tree (classic
# builder, layer-cached) as ${SMTPSINK_IMAGE:-smtpsink:latest} plus TAGs or,
# with SMTPSINK_SKIP_IMAGE_BUILD=1, takes that image as it is. Either way it
# is pinned as smtpsink:ci-<run id> and SMTPSINK_IMAGE is set to the pin, so
# a concurrent run retagging smtpsink:latest cannot swap the image under
# test. Returns non-zero when the build fails or the image is missing; a
# failed build untags the image so no later stage tests a stale one.
# shellcheck disable=SC2120 # the TAGs are optional
ci_image() {
	local want=${SMTPSINK_IMAGE:-smtpsink:latest} pin=smtpsink:ci-$CI_RUN log t0 tag
	local args=(-t "$pin" -t "$want")

	[ -n "$CI_RUN" ] || { ci_log "ci_image before ci_begin" >&2; return 1; }
	if [ "${SMTPSINK_SKIP_IMAGE_BUILD:-0}" = 1 ]; then
		if ! docker tag "$want" "$pin" 2>/dev/null; then
			ci_log "image $want not found; build it first (.ci/docker-image.sh)" >&2
			return 1
		fi
		ci_log "testing $want (not rebuilt: SMTPSINK_SKIP_IMAGE_BUILD=1)"
	else
		for tag in "$@"; do args+=(-t "$tag"); done
		ci_log "docker build -t $want${*:+ -t }$* (cached layers)"
		log=$(mktemp "${TMPDIR:-/tmp}/smtpsink-docker-build.XXXXXX")
		t0=$SECONDS
		if ! DOCKER_BUILDKIT=0 docker build "${args[@]}" "$CI_ROOT" >"$log" 2>&1; then
			tail -40 "$log" >&2
			ci_log "docker build FAILED (full log $log)" >&2
			docker image rm "$want" >/dev/null 2>&1 || true
			return 1
		fi
		rm -f "$log"
		ci_log "built in $((SECONDS - t0)) s"
	fi
	export SMTPSINK_IMAGE=$pin
}

# Ryuk (the reaper container) stays off: cleanup is by label, above.
ci_testcontainers_env() {
	export TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true}
	export TESTCONTAINERS_HOST_OVERRIDE=${TESTCONTAINERS_HOST_OVERRIDE:-localhost}
}

# ci_running_sink: starts $SMTPSINK_IMAGE with `docker run` (labelled with
# this run's id, so the exit trap removes it; loopback ports chosen by
# Docker) and waits for its ready line. Sets CI_SINK_ID (the container) and
# CI_SINK_SMTP, CI_SINK_GRPC, CI_SINK_HTTP (host:port each), the values for
# the clients' SMTPSINK_SMTP_ADDR / SMTPSINK_GRPC_ADDR / SMTPSINK_HTTP_ADDR.
# Fails when the sink is not ready within 30 s.
# shellcheck disable=SC2034 # CI_SINK_* are read by the stage scripts
ci_running_sink() {
	local i
	CI_SINK_ID=$(docker run -d --rm --label "$CI_RUN_LABEL=$CI_RUN" \
		-p 127.0.0.1::1025 -p 127.0.0.1::50051 -p 127.0.0.1::8025 "$SMTPSINK_IMAGE")
	for i in $(seq 300); do
		docker logs "$CI_SINK_ID" 2>/dev/null | grep -q '^smtpsink ready' && break
		[ "$i" -lt 300 ] || { ci_log "docker run $SMTPSINK_IMAGE: not ready in 30 s" >&2; return 1; }
		sleep 0.1
	done
	CI_SINK_SMTP=127.0.0.1:$(docker port "$CI_SINK_ID" 1025/tcp | head -1 | sed 's/.*://')
	CI_SINK_GRPC=127.0.0.1:$(docker port "$CI_SINK_ID" 50051/tcp | head -1 | sed 's/.*://')
	CI_SINK_HTTP=127.0.0.1:$(docker port "$CI_SINK_ID" 8025/tcp | head -1 | sed 's/.*://')
}
