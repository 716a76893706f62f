#!/usr/bin/env bash
# Rebuild the skb-info helper test programs (clang with the BPF target).
set -euo pipefail
cd "$(dirname "$0")"
multiarch="$(clang -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"
clang -O2 -g -target bpf -mcpu=v3 -fdebug-compilation-dir=. \
	-I"/usr/include/$multiarch" -c skbinfo.c -o skbinfo.o
