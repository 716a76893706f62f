#!/usr/bin/env bash
# Rebuild the committed .o of the program-type test programs: every *.c in the
# directories below (clang with the BPF target), or only the directories named
# (`./build.sh net perf`). The clang suite builds with -Werror; the uprobe programs
# read x86-64 pt_regs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
multiarch="$(clang -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"
CFLAGS=(-O2 -g -target bpf -mcpu=v3 -Wall -fdebug-compilation-dir=. -I. -I"/usr/include/$multiarch")
declare -A EXTRA=([clang]="-Werror" [uprobe]="-D__TARGET_ARCH_x86")
if [ $# -gt 0 ]; then dirs=("$@"); else dirs=(*/); fi
for dir in "${dirs[@]}"; do
	dir="${dir%/}"
	[ -d "$dir" ] || { echo "build.sh: no such directory: $dir" >&2; exit 1; }
	(
		cd "$dir"
		for src in *.c; do
			echo "  CLANG-BPF $dir/${src%.c}.o"
			# shellcheck disable=SC2086
			clang "${CFLAGS[@]}" ${EXTRA[$dir]:-} -c "$src" -o "${src%.c}.o"
		done
	)
done
