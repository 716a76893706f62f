#!/usr/bin/env bash
# Rebuild the committed .o of the kernel tests' BPF programs (the attach tests'
# *.bpf.c and the iterator tests' iters.c) with clang's BPF target. The USDT target
# program (usdt_target.c) is a host program the tests compile themselves.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
multiarch="$(clang -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"
CFLAGS=(-O2 -g -target bpf -mcpu=v3 -Wall -Werror -fdebug-compilation-dir=. -I. -I"/usr/include/$multiarch")
for src in *.c; do
	[ "$src" = usdt_target.c ] && continue
	echo "  CLANG-BPF ${src%.c}.o"
	clang "${CFLAGS[@]}" -D__TARGET_ARCH_x86 -c "$src" -o "${src%.c}.o"
done
