#!/bin/sh
# Rebuild the committed BPF object of the uprobe tests (x86-64; clang 14+ with the BPF
# target and libbpf's headers: apt-get install clang libbpf-dev).
set -eu
cd "$(dirname "$0")"
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
for src in uprobe; do
	clang -O2 -g -target bpf -mcpu=v3 -Wall -fdebug-compilation-dir=. \
		-D__TARGET_ARCH_x86 -I"$ARCH_INC" -c "$src.c" -o "$src.o"
done
