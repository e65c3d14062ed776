#!/usr/bin/env bash
# format-check.sh - checks the C sources against .clang-format with
# `clang-format --dry-run -Werror`: src/*.[ch], include/**/*.h,
# tests/unit/*.c, tests/support/*.[ch], examples/**/*.[ch] and
# tests/fuzz/*.[ch] (when present), or the FILEs given. Prints clang-format's
# findings (file:line: what would change) and the files that would change;
# exits 1 if any would, 0 if none.
# Installs Debian's clang-format (14 on Debian 12, what .clang-format is tuned
# for) when missing; $CLANG_FORMAT picks another binary. bootstrap.sh runs
# it in its lint step.
# Usage: .ci/format-check.sh [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. .ci/lib.sh

CF=${CLANG_FORMAT:-clang-format}
command -v "$CF" >/dev/null 2>&1 || ci_apt_install clang-format
version=$("$CF" --version | sed -n 's/.*clang-format version \([0-9]*\).*/\1/p')
[ "$version" = 14 ] || ci_log "warning: clang-format $version; .clang-format is tuned for 14, results may differ"

if [ $# -gt 0 ]; then
	files=("$@")
else
	shopt -s nullglob globstar
	files=(src/*.[ch] include/**/*.h tests/unit/*.c tests/support/*.[ch] tests/fuzz/*.[ch] examples/**/*.[ch])
fi
bad=()
for f in "${files[@]}"; do
	"$CF" --dry-run -Werror "$f" || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
	ci_log "${#bad[@]} of ${#files[@]} files differ from .clang-format: ${bad[*]}"
	ci_log "fix with: $CF -i FILE..."
	exit 1
fi
ci_log "${#files[@]} files match .clang-format"
