#!/usr/bin/env bash
# Rebuild the ELF loader's fixtures (clang with the BPF target).
set -euo pipefail
cd "$(dirname "$0")"
clang -O2 -g -target bpf -fdebug-compilation-dir=. -c linking.c -o linking.o
