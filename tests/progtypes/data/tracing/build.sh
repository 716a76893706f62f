#!/bin/sh
# Rebuild the committed BPF objects of the tracing-helper tests (clang 14+ with the BPF
# target and libbpf's headers: apt-get install clang libbpf-dev).
set -eu
cd "$(dirname "$0")"
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
for src in helpers; do
	clang -O2 -g -target bpf -mcpu=v3 -Wall -fdebug-compilation-dir=. \
		-I"$ARCH_INC" -c "$src.c" -o "$src.o"
done
