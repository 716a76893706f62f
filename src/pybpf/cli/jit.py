"""`pybpf jit dump`: a program's native code from pybpf's LLVM JIT (and its LLVM IR),
as `bpftool prog dump jited` shows the kernel's."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import CLIError, command_group, is_elf, json_option, load_object, read_program


def _programs(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(name, JitVM) of each program to dump: an object's (or --program), or one raw
    program (assembly, hex or bytecode)."""
    from ..jit import JitVM
    if not is_elf(args.file):
        if args.program is not None:
            raise CLIError(f"--program needs an ELF object; {args.file} is not one")
        return [(args.file, JitVM(read_program(args.file, None), check_helpers=False))]
    spec = load_object(args.file)
    if args.program is not None and args.program not in spec.programs:
        raise CLIError(f"{args.file} has no program {args.program!r} (it has "
                       f"{', '.join(sorted(spec.programs)) or 'none'})")
    names = [args.program] if args.program else sorted(spec.programs)
    obj = spec.instantiate("vm", programs=names, engine="jit", tail_calls=False)
    args.cleanup = obj
    return [(name, obj.programs[name].handle) for name in names]


def cmd_jit_dump(args: argparse.Namespace) -> int:
    from ..jit.machine import JIT_MAX_INSNS
    args.cleanup = None
    try:
        out = []
        for name, vm in _programs(args):
            native = vm.native  # a JitVM's (None: too big, it runs on the interpreter)
            item = {"program": name, "insns": vm.cfg.total,
                    "compile_ms": round(native.compile_ms, 2) if native else None,
                    "asm": native.assembly() if native else None}
            if args.ir and native is not None:
                item["ir"] = native.optimized_ir()
            out.append(item)
    finally:
        if args.cleanup is not None:
            args.cleanup.close()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for item in out:
        if item["asm"] is None:
            print(f"; program {item['program']}: {item['insns']} BPF instructions, past the "
                  f"JIT's limit of {JIT_MAX_INSNS}: it runs on the interpreter")
            continue
        print(f"; program {item['program']}: {item['insns']} BPF instructions, compiled in "
              f"{item['compile_ms']} ms of CPU")
        sys.stdout.write(str(item["asm"]))
        if args.ir:
            print(f"; LLVM IR of {item['program']} (optimised)")
            sys.stdout.write(str(item["ir"]))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """The jit group."""
    jsub = command_group(sub, "jit", "pybpf's LLVM JIT for the VM")
    d = jsub.add_parser("dump", help="a program's native code (as bpftool prog dump jited)")
    d.add_argument("file", help="an ELF object, or assembly, hex or raw bytecode")
    d.add_argument("--program", help="objects: only this program (default: every one)")
    d.add_argument("--ir", action="store_true", help="also print the LLVM IR")
    json_option(d)
    d.set_defaults(fn=cmd_jit_dump)
