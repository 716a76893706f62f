"""Disassembly of an object's programs, as `bpftool prog dump xlated linum` shows a
loaded one: each function headed by its name, each run of instructions by the C
source line it came from (BTF line info: file, line, column), map references and
calls named. Works on the ObjectSpec alone: no backend, no kernel."""

from __future__ import annotations

from typing import Any

from .. import isa
from ..asm import disassemble_insn
from ..errors import PyBPFError
from ..spec import ObjectSpec, ProgramSpec


def prog_type_name(prog_type: int) -> str:
    """"xdp", "sched_cls", ...; "unspec" for a program of unknown type."""
    from ..uapi import ProgType
    try:
        return ProgType(prog_type).name.lower()
    except ValueError:
        return str(prog_type)


def _insn_text(insn: isa.Instruction, syntax: str) -> str:
    try:
        return disassemble_insn(insn, syntax)
    except PyBPFError as e:  # keep going: one bad instruction should not hide the rest
        return f"<invalid: {e}>"


def dump_program(pspec: ProgramSpec, syntax: str = "kernel") -> dict[str, Any]:
    """The program as data: name, section, type and one record per instruction
    (pc, raw bytes, text, and where known its function, source line, map or callee)."""
    lines = {li.pc: li for li in pspec.line_info}
    funcs = {pc: name for name, pc in pspec.functions}
    maps = {r.pc: r for r in pspec.map_refs}
    externs = {r.pc: r for r in pspec.extern_refs}
    insns = []
    pc = 0
    for insn in pspec.instructions:
        rec: dict[str, Any] = {"pc": pc, "bytes": isa.encode([insn]).hex(),
                               "text": _insn_text(insn, syntax)}
        if pc in funcs:
            rec["function"] = funcs[pc]
        if pc in lines:
            li = lines[pc]
            rec["source"] = {"file": li.file, "line": li.line, "line_num": li.line_num,
                             "column": li.column}
        if pc in maps:
            ref = maps[pc]
            rec["map"] = ref.map if ref.kind == "fd" else f"{ref.map}+{ref.offset}"
        elif pc in externs:
            rec["extern"] = externs[pc].name
        elif insn.opcode == isa.OPCODE_CALL and insn.src == isa.BPF_PSEUDO_CALL:
            rec["callee"] = funcs.get(pc + insn.imm + 1, f"pc {pc + insn.imm + 1}")
        insns.append(rec)
        pc += insn.slots
    return {"name": pspec.name, "section": pspec.section, "type": prog_type_name(pspec.type),
            "insn_count": pspec.insn_count, "insns": insns}


def dump_object(spec: ObjectSpec, program: str | None = None,
                syntax: str = "kernel") -> list[dict[str, Any]]:
    """dump_program for every program of the object, or only `program` (chosen as
    instantiate(programs=...) chooses: an unknown name is an ObjectError listing the
    object's programs; tail-call targets are programs of their own, not included)."""
    if program is None:
        return [dump_program(p, syntax) for p in spec.programs.values()]
    from ..objects.instance import select_programs
    return [dump_program(spec.programs[n], syntax)
            for n in select_programs(spec, [program], tail_calls=False)]


def format_program(prog: dict[str, Any]) -> str:
    """The text form: a header, then `pc: instruction` lines, with `; source` lines
    where the source line changes and the function names as labels."""
    out = [f"{prog['name']}: {prog['type']}, section {prog['section']}, "
           f"{prog['insn_count']} instructions"]
    last_source: tuple[str, int] | None = None
    width = len(str(max((r["pc"] for r in prog["insns"]), default=0)))
    for rec in prog["insns"]:
        if "function" in rec and (rec["pc"] or rec["function"] != prog["name"]):
            out.append(f"{rec['function']}:")
            last_source = None
        src = rec.get("source")
        if src and src["line_num"] and (src["file"], src["line_num"]) != last_source:
            code = src["line"].strip()
            where = f"{src['file']}:{src['line_num']}:{src['column']}"
            out.append(f"; {code}  [{where}]" if code else f"; [{where}]")
            last_source = (src["file"], src["line_num"])
        note = ""
        if "map" in rec:
            note = f"  ; map {rec['map']}"
        elif "extern" in rec:
            note = f"  ; {rec['extern']}"
        elif "callee" in rec:
            note = f"  ; {rec['callee']}"
        out.append(f"  {rec['pc']:>{width}}: {rec['text']}{note}")
    return "\n".join(out) + "\n"
