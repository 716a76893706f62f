"""The logic of `pybpf compile FILE.py -o OUT.o` and `pybpf cc FILE.c -o OUT.o`, as
functions the CLI wires in: `add_*_arguments(parser)` and `run_*(args) -> exit code`.
Every failure is one `error:` line on stderr and exit status 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ..errors import PyBPFError


def add_compile_arguments(parser: argparse.ArgumentParser) -> None:
    """`pybpf compile`: restricted Python to a BPF ELF object."""
    parser.add_argument("file", help="the Python file with the decorated programs")
    parser.add_argument("-o", "--output", help="the object to write (default: FILE.o)")
    parser.add_argument("--emit-llvm", metavar="FILE",
                        help="also write the optimised LLVM IR to FILE ('-': stdout)")
    parser.add_argument("--check", choices=("vm", "kernel"),
                        help="also load the object on this backend (the kernel's verifier "
                             "refusal names the Python line)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the programs and the compile time")
    parser.add_argument("-j", "--json", action="store_true",
                        help="print what was written as JSON (output, programs, bytes, ms)")


def run_compile(args: argparse.Namespace) -> int:
    from .python import compile_file
    start = time.perf_counter()
    try:
        obj = compile_file(args.file)
        out = args.output or str(Path(args.file).with_suffix(".o"))
        _write(out, obj.elf)
        if args.emit_llvm:
            if args.emit_llvm == "-":
                sys.stdout.write(obj.ir)
            else:
                _write(args.emit_llvm, obj.ir.encode())
        if args.check:
            with obj.instantiate(args.check):
                pass
    except PyBPFError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    ms = (time.perf_counter() - start) * 1000
    if args.json:
        print(json.dumps({"output": out, "programs": list(obj.programs),
                          "bytes": len(obj.elf), "ms": round(ms, 1)}))
    elif args.verbose:
        print(f"{out}: {', '.join(obj.programs)} ({len(obj.elf)} bytes, {ms:.0f} ms)")
    return 0


def add_cc_arguments(parser: argparse.ArgumentParser) -> None:
    """`pybpf cc`: C to a BPF ELF object with clang from PATH or the ziglang package."""
    parser.add_argument("file", help="the C source")
    parser.add_argument("-o", "--output", help="the object to write (default: FILE.o)")
    parser.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                        help="add an include directory")
    parser.add_argument("-D", dest="define", action="append", default=[], metavar="NAME[=V]",
                        help="define a macro")
    parser.add_argument("--cflag", action="append", default=[], metavar="FLAG",
                        help="pass FLAG to the compiler (repeat)")
    parser.add_argument("--compiler", choices=("auto", "clang", "zig"), default="auto",
                        help="clang from PATH, the ziglang package's clang, or the first "
                             "found (auto)")
    parser.add_argument("--no-vmlinux", action="store_true",
                        help="do not generate vmlinux.h from the running kernel's BTF")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the compiler command")
    parser.add_argument("-j", "--json", action="store_true",
                        help="print what was written as JSON (output, bytes, compiler command)")


def run_cc(args: argparse.Namespace) -> int:
    from .c import compile_c_object
    try:
        cflags = [*(f"-I{d}" for d in args.include), *(f"-D{d}" for d in args.define),
                  *args.cflag]
        result = compile_c_object(Path(args.file), cflags=cflags, compiler=args.compiler,
                                  vmlinux=not args.no_vmlinux)
        out = args.output or str(Path(args.file).with_suffix(".o"))
        _write(out, result.elf)
    except PyBPFError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"output": out, "bytes": len(result.elf),
                          "command": list(result.command)}))
    elif args.verbose:
        print(" ".join(result.command))
    return 0


def _write(path: str, data: bytes) -> None:
    from .python.errors import CompileError
    try:
        if os.path.exists(path) and not os.path.isfile(path):
            # /dev/null, a FIFO: written in place; a rename would replace the device node
            with open(path, "wb") as f:
                f.write(data)
            return
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise CompileError(f"cannot write {path}: {e.strerror}", path) from None
