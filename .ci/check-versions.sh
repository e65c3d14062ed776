#!/usr/bin/env bash
# check-versions.sh - every client module carries the project's one version:
# project(smtpsink VERSION x.y.z) in CMakeLists.txt. Checks the Python
# distribution (pyproject.toml and smtpsink.__version__), the npm package
# (package.json and package-lock.json), the Maven artifact (pom.xml) and the
# version examples/java depends on, the Go module (smtpsink.Version) and the
# newest entry of CHANGELOG.md. Prints each
# disagreement; exits 1 if there is one. Needs only sed and grep (bootstrap's
# lint step runs it).
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(sed -n 's/^project(smtpsink VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$want" ] || { echo "check-versions: no project(smtpsink VERSION ...) in CMakeLists.txt" >&2; exit 1; }
status=0
check() {  # check WHERE FOUND
	if [ "$2" != "$want" ]; then
		echo "check-versions: $1 says '${2:-<none>}', CMakeLists.txt says $want" >&2
		status=1
	fi
}
check clients/python/pyproject.toml "$(sed -n 's/^version = "\(.*\)"$/\1/p' clients/python/pyproject.toml)"
check clients/python/src/smtpsink/__init__.py \
	"$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' clients/python/src/smtpsink/__init__.py)"
# the package's own version: the first "version" key (before any dependency)
check clients/node/package.json "$(sed -n 's/^  "version": "\(.*\)",$/\1/p' clients/node/package.json)"
check clients/node/package-lock.json "$(sed -n '1,12s/^  "version": "\(.*\)",$/\1/p' clients/node/package-lock.json)"
check 'clients/node/package-lock.json (packages."")' \
	"$(sed -n '/^    "": {/,/^    }/s/^      "version": "\(.*\)",$/\1/p' clients/node/package-lock.json)"
# the project's <version>: the first one at two spaces of indentation
check clients/java/pom.xml "$(sed -n 's|^  <version>\(.*\)</version>$|\1|p' clients/java/pom.xml | head -1)"
# the version the Java example depends on
check examples/java/pom.xml "$(sed -n 's|^    <smtpsink.version>\(.*\)</smtpsink.version>$|\1|p' examples/java/pom.xml)"
check clients/go/smtpsink/version.go \
	"$(sed -n 's/^const Version = "\(.*\)"$/\1/p' clients/go/smtpsink/version.go)"
check CHANGELOG.md "$(sed -n 's/^## \([0-9][0-9.]*\).*/\1/p' CHANGELOG.md | head -1)"

[ $status -eq 0 ] && echo "check-versions: every module is at $want"
exit $status
