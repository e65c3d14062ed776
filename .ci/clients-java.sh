#!/usr/bin/env bash
# clients-java.sh - CI stage for clients/java: installs what is missing (JDK 17
# and Maven from Debian), builds the Maven project (protoc and
# protoc-gen-grpc-java come from Maven Central through protobuf-maven-plugin
# and generate the stubs from proto/ at build time), builds the smtpsink image
# (layer-cached), runs the JUnit 5 tests against it and installs the jar
# with its sources and javadoc jars into ~/.m2. Idempotent; ~/.m2 is
# reused between runs. Removes the containers this run labelled (lib.sh).
# Exits non-zero on failure.
# Env: SMTPSINK_IMAGE (default smtpsink:latest), SMTPSINK_SKIP_IMAGE_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib.sh
. "$ROOT/.ci/lib.sh"

ci_begin

need_apt=()
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
[ ${#need_apt[@]} -eq 0 ] || ci_apt_install "${need_apt[@]}"

ci_image

ci_testcontainers_env
cd "$ROOT/clients/java"
# install: the tests, then the jar with its sources and javadoc jars into ~/.m2
mvn -q -B -Dsmtpsink.image="$SMTPSINK_IMAGE" install
version=$(sed -n 's|^  <version>\(.*\)</version>$|\1|p' pom.xml | head -1)
repo=$HOME/.m2/repository   # Maven's default local repository
for kind in "" -sources -javadoc; do
	jar=$repo/dev/smtpsink/smtpsink-testcontainers/$version/smtpsink-testcontainers-$version$kind.jar
	[ -s "$jar" ] || { ci_log "mvn install left no $jar" >&2; exit 1; }
done
ci_log "installed dev.smtpsink:smtpsink-testcontainers:$version with its sources and javadoc jars"
ci_log "passed"
