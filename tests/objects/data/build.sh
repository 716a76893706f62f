#!/usr/bin/env bash
# Rebuild the committed .o of the objects tests (clang with the BPF target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
multiarch="$(clang -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"
for src in *.c; do
	echo "  CLANG-BPF ${src%.c}.o"
	clang -O2 -g -target bpf -mcpu=v3 -Wall -Werror -fdebug-compilation-dir=. \
		-I"/usr/include/$multiarch" -c "$src" -o "${src%.c}.o"
done
