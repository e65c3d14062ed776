#!/usr/bin/env bash
# clients-java.sh - CI stage for clients/java: installs what is missing (JDK 17
# and Maven from Debian), builds the Maven project (protoc and
# protoc-gen-grpc-java come from Maven Central through protobuf-maven-plugin
# and generate the stubs from proto/ at build time) and runs its JUnit 5 tests
# against the image $SMTPSINK_IMAGE (default smtpsink:latest, built by
# .ci/docker-image.sh). Idempotent; ~/.m2 is reused between runs. Containers
# are labelled dev.smtpsink.test=clients-java and removed at the end. Exits
# non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/.ci/lib.sh"
IMAGE=${SMTPSINK_IMAGE:-smtpsink:latest}
LABEL=dev.smtpsink.test=clients-java

log() { echo "clients-java: $*"; }

ci_own_label "$LABEL"

need_apt=()
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
	log "installing ${need_apt[*]}"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
	log "image $IMAGE not found; build it first (.ci/docker-image.sh)"
	exit 1
fi

export TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true}
export TESTCONTAINERS_HOST_OVERRIDE=${TESTCONTAINERS_HOST_OVERRIDE:-localhost}
cd "$ROOT/clients/java"
mvn -q -B -Dsmtpsink.image="$IMAGE" verify
log "passed"
