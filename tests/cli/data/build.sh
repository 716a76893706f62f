#!/bin/sh
# Rebuilds the CLI tests' objects (checked in, so the tests need no clang).
set -e
cd "$(dirname "$0")"
multiarch="$(clang -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")"
for src in *.c; do
    clang -O2 -g -target bpf -mcpu=v3 -Wall -fdebug-compilation-dir=. \
        -I"/usr/include/$multiarch" -c "$src" -o "${src%.c}.o"
done
