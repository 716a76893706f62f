#!/usr/bin/env bash
# Rebuild the networking-helper test programs (clang with the BPF target; headers as
# scripts/build-examples finds them).
set -euo pipefail
cd "$(dirname "$0")"
multiarch="$(clang -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"
for src in fib sk tunnel redirect; do
	clang -O2 -g -target bpf -mcpu=v3 -fdebug-compilation-dir=. \
		-I"/usr/include/$multiarch" -c "$src.c" -o "$src.o"
done
