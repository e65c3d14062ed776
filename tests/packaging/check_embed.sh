#!/usr/bin/env bash
# check_embed.sh SRC BUILD - the README's embedding example, as printed,
# built and run three ways against the library: installed (pkg-config and
# find_package) from BUILD, and vendored through add_subdirectory(SRC).
# Each build uses -Wall -Wextra -Werror; each run sends one mail with curl.
set -euo pipefail
src=$1
build=$2
example=$src/examples/embed/embed.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The README's C block under "## Embedding the C library" is embed.c, byte for byte.
awk '/^## Embedding the C library/ { sec = 1; next }
     /^## / { sec = 0 }
     sec && /^```c$/ { inblock = 1; next }
     inblock && /^```$/ { exit }
     inblock { print }' "$src/README.md" > "$tmp/readme.c"
if ! diff -u "$example" "$tmp/readme.c"; then
	echo "check_embed: README's example differs from examples/embed/embed.c" >&2
	exit 1
fi

# 2. Installed tree + pkg-config
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name smtpsink.pc -print -quit)
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
read -r -a flags <<< "$(pkg-config --cflags --libs smtpsink)"
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/embed-pc" "$tmp/readme.c" "${flags[@]}"
"$tmp/embed-pc"

# 3. Installed tree + find_package(smtpsink)
cmake -S "$src/examples/embed" -B "$tmp/fp" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/fp" >/dev/null
"$tmp/fp/embed"

# 4. Vendored: add_subdirectory(smtpsink) adds no tests to the parent project
cmake -S "$src/examples/embed" -B "$tmp/sub" -G Ninja -DSMTPSINK_SOURCE_DIR="$src" >/dev/null
cmake --build "$tmp/sub" -j "$(nproc)" --target embed >/dev/null
"$tmp/sub/embed"
if [ -n "$(cd "$tmp/sub" && ctest -N 2>/dev/null | grep -E '^ +Test +#')" ]; then
	echo "check_embed: add_subdirectory registered tests in the parent project" >&2
	exit 1
fi
echo "check_embed: README example ok with pkg-config, find_package and add_subdirectory"
