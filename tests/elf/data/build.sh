#!/usr/bin/env bash
# Rebuild the ELF loader's fixtures (clang with the BPF target).
set -euo pipefail
cd "$(dirname "$0")"
multiarch="$(clang -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"
CFLAGS=(-O2 -g -target bpf -Wall -Werror -fdebug-compilation-dir=. -I"/usr/include/$multiarch")
clang -O2 -g -target bpf -fdebug-compilation-dir=. -c linking.c -o linking.o
for src in unknown_sec text_only iproute2_maps samples_maps btf_map_in_map maps_sections; do
	clang "${CFLAGS[@]}" -c "$src.c" -o "$src.o"
done
# no -g: an object without BTF, whose legacy map layout only its size tells
clang -O2 -target bpf -Wall -Werror -c iproute2_old.c -o iproute2_old.o
