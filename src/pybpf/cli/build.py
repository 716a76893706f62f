"""`pybpf compile` (restricted Python to a BPF object, in-process with llvmlite) and
`pybpf cc` (C to a BPF object with clang from PATH or the ziglang package's clang): the
front ends' own logic (pybpf.frontend.cli), registered here."""

from __future__ import annotations

import argparse

from ..frontend import cli as frontend_cli


def cmd_compile(args: argparse.Namespace) -> int:
    """`pybpf compile FILE.py -o OUT.o`."""
    return frontend_cli.run_compile(args)


def cmd_cc(args: argparse.Namespace) -> int:
    """`pybpf cc FILE.c -o OUT.o`."""
    return frontend_cli.run_cc(args)


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compile", help="compile restricted Python to a BPF object",
                       description="Compile the decorated programs of a Python file into a "
                                   "BPF ELF object (with BTF) that libbpf, bpftool and pybpf "
                                   "load; no clang, no llc.")
    frontend_cli.add_compile_arguments(c)
    c.set_defaults(fn=cmd_compile)
    cc = sub.add_parser("cc", help="compile C to a BPF object (clang or the ziglang package)",
                        description="Compile a C file for the BPF target with pybpf's own "
                                    "headers (bpf_helpers.h, vmlinux.h from the kernel's BTF).")
    frontend_cli.add_cc_arguments(cc)
    cc.set_defaults(fn=cmd_cc)
