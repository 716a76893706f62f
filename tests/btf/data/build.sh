#!/bin/sh
# Rebuild the committed BPF objects (clang 14+ and libbpf's headers: apt-get install
# clang libbpf-dev) and the bpftool listings the dump tests compare with.
set -eu
cd "$(dirname "$0")"
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
for src in kinds core; do
	clang -O2 -g -target bpf -I"$ARCH_INC" -c "$src.c" -o "$src.o"
	if command -v bpftool >/dev/null; then
		bpftool btf dump file "$src.o" > "$src.btf.txt"
	fi
done
