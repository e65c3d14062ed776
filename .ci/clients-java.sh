#!/usr/bin/env bash
# clients-java.sh - CI stage for clients/java: installs what is missing (JDK 17
# and Maven from Debian), builds the Maven project (protoc and
# protoc-gen-grpc-java come from Maven Central through protobuf-maven-plugin
# and generate the stubs from proto/ at build time), builds the smtpsink image
# (layer-cached), runs the JUnit 5 tests against it (the JUnit extension's
# own tests share the one container it starts for the run) and installs the
# jar with its sources and javadoc jars into ~/.m2. Then examples/java, a
# separate Maven project, runs its tests against those installed coordinates
# through the extension's "already running sink" path: a `docker run`
# container named by SMTPSINK_SMTP_ADDR / SMTPSINK_GRPC_ADDR /
# SMTPSINK_HTTP_ADDR. Idempotent; ~/.m2 is reused between runs and the
# example needs nothing the module did not fetch. Removes the containers this
# run labelled (lib.sh). Exits non-zero on failure.
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
labels=dev.smtpsink.run=$SMTPSINK_CI_RUN

# surefire_count DIR: "N tests" from the surefire reports under DIR (mvn -q hides them)
surefire_count() {
	echo "$(cat "$1"/target/surefire-reports/TEST-*.xml | grep -c '<testcase ') tests"
}

cd "$ROOT/clients/java"
# install: the tests, then the jar with its sources and javadoc jars into ~/.m2
# (smtpsink.labels: the extension's container carries this run's label)
mvn -q -B -Dsmtpsink.image="$SMTPSINK_IMAGE" -Dsmtpsink.labels="dev.smtpsink.test=clients-java,$labels" install
ci_log "clients/java: $(surefire_count .) passed"
version=$(sed -n 's|^  <version>\(.*\)</version>$|\1|p' pom.xml | head -1)
repo=$HOME/.m2/repository   # Maven's default local repository
for kind in "" -sources -javadoc; do
	jar=$repo/dev/smtpsink/smtpsink-testcontainers/$version/smtpsink-testcontainers-$version$kind.jar
	[ -s "$jar" ] || { ci_log "mvn install left no $jar" >&2; exit 1; }
done
ci_log "installed dev.smtpsink:smtpsink-testcontainers:$version with its sources and javadoc jars"

# examples/java against the installed coordinates and a sink started here
cd "$ROOT/examples/java"
ci_running_sink
SMTPSINK_SMTP_ADDR=$CI_SINK_SMTP SMTPSINK_GRPC_ADDR=$CI_SINK_GRPC SMTPSINK_HTTP_ADDR=$CI_SINK_HTTP \
	mvn -q -B -Dsmtpsink.version="$version" test
# the example's mail went to that sink (its mailboxes cleared it; the counter stays)
received=$(docker exec "$CI_SINK_ID" smtpsinkctl info --json | sed -n 's/.*"messages_received": *\([0-9]*\).*/\1/p')
[ "${received:-0}" -ge 2 ] || { ci_log "the example sent no mail to the running sink (received=${received:-none})" >&2; exit 1; }
docker rm -f "$CI_SINK_ID" >/dev/null
ci_log "examples/java: $(surefire_count .) passed against dev.smtpsink:smtpsink-testcontainers:$version and a running sink ($received messages)"
ci_log "passed"
