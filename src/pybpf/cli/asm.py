"""`pybpf asm` and `pybpf disasm`: assembly to bytecode and back, also the programs of
an ELF object with their C source lines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (SYNTAXES, CLIError, detect_syntax, is_elf, json_option, load_object,
                     read_program, read_text)


def cmd_asm(args: argparse.Namespace) -> int:
    from ..asm import assemble
    text = read_text(args.file)
    code = assemble(text, syntax=args.syntax or detect_syntax(text))
    if args.output:
        try:
            Path(args.output).write_bytes(code)
        except OSError as e:
            raise CLIError(f"cannot write {args.output}: {e.strerror}") from None
    elif args.json:
        print(json.dumps({"file": args.file, "bytes": len(code),
                          "insns": [code[i:i + 8].hex() for i in range(0, len(code), 8)]}))
    else:
        for i in range(0, len(code), 8):
            print(code[i:i + 8].hex(" "))
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    """Raw bytecode (binary, hex or assembly) as today; an ELF object program by
    program, with the C source lines from its BTF line info."""
    from ..asm import disassemble
    if is_elf(args.file):
        from ..tools.objdump import dump_object, format_program
        progs = dump_object(load_object(args.file), args.program, args.syntax)
        if args.json:
            print(json.dumps({"file": args.file, "programs": progs}, indent=2))
        else:
            sys.stdout.write("\n".join(format_program(p) for p in progs))
        return 0
    if args.program:
        raise CLIError(f"--program needs an ELF object; {args.file} is not an ELF object")
    code = read_program(args.file)
    if args.json:
        from .. import isa
        from ..asm import disassemble_insn
        insns, pc = [], 0
        for insn in isa.decode(code):
            insns.append({"pc": pc, "bytes": isa.encode([insn]).hex(),
                          "text": disassemble_insn(insn, args.syntax)})
            pc += insn.slots
        print(json.dumps({"file": args.file, "insns": insns}, indent=2))
        return 0
    sys.stdout.write(disassemble(code, syntax=args.syntax))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """The asm and disasm commands."""
    a = sub.add_parser("asm", help="assemble a file to bytecode")
    a.add_argument("file", help="assembly file, or - for stdin")
    a.add_argument("-o", "--output", help="write raw bytecode here (default: hex on stdout)")
    a.add_argument("--syntax", choices=SYNTAXES, help="default: detected from the text")
    json_option(a, "the instructions as JSON (one hex string of 8 bytes each)")
    a.set_defaults(fn=cmd_asm)

    d = sub.add_parser("disasm", help="disassemble bytecode (raw binary or hex text) or the "
                                      "programs of an ELF object, with their C source lines")
    d.add_argument("file", help="an ELF object, or raw binary or hex bytecode")
    d.add_argument("--program", help="objects: only this program (default: all)")
    d.add_argument("--syntax", choices=SYNTAXES, default="kernel",
                   help="instruction syntax (default kernel: r0 = 1)")
    json_option(d)
    d.set_defaults(fn=cmd_disasm)
