#!/usr/bin/env bash
# Rebuild the committed .o of the object-convention test programs (clang, BPF target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
multiarch="$(clang -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"
CFLAGS=(-O2 -g -target bpf -mcpu=v3 -Wall -Werror -fdebug-compilation-dir=. -I"/usr/include/$multiarch")
for src in *.c; do
	echo "  CLANG-BPF ${src%.c}.o"
	clang "${CFLAGS[@]}" -c "$src" -o "${src%.c}.o"
done
