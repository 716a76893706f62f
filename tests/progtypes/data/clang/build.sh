#!/usr/bin/env bash
# Rebuild the clang test programs of tests/progtypes/test_progtypes_clang.py:
# every *.c here to its *.o, with the flags of scripts/build-examples
# (clang -O2 -g -target bpf -mcpu=v3, reproducible debug info).
#
#   tests/progtypes/data/clang/build.sh            # all
#   tests/progtypes/data/clang/build.sh xdp_prog   # only the named ones
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
multiarch="$(clang -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)"
[ -n "$multiarch" ] || multiarch="$(uname -m)-linux-gnu"
CFLAGS=(-O2 -g -target bpf -mcpu=v3 -Wall -Werror -fdebug-compilation-dir=.
        -I. -I"/usr/include/$multiarch")
cd "$here"
if [ $# -gt 0 ]; then
    sources=()
    for name in "$@"; do name="$(basename "$name")"; sources+=("${name%.c}.c"); done
else
    sources=(*.c)
fi
for src in "${sources[@]}"; do
    [ -f "$src" ] || { echo "build.sh: no such program: $src" >&2; exit 1; }
    echo "  CLANG-BPF ${src%.c}.o"
    clang "${CFLAGS[@]}" -c "$src" -o "${src%.c}.o"
done
