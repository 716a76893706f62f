"""The verifier log in the kernel's format (kernel/bpf/log.c): register states
("R1=ctx() R2=pkt(r=14)", "scalar(smin=0,smax=255,...)"), stack slots ("fp-8=mmmmmmmm"),
instruction lines ("0: (b7) r0 = 0") and the alignment of " ; " after them."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..isa import Instruction, slot_offsets
from .reg import S32_MAX, S32_MIN, S64_MAX, S64_MIN, U32_MAX, U64_MAX, Reg, RegType, s64
from .state import SLOT_CHAR, Frame, Slot

LOG_ALIGNMENT = 40
LOG_MIN_ALIGNMENT = 8


def unum(v: int) -> str:
    return str(v) if v <= 0xFFFF else f"{v:#x}"


def snum(v: int) -> str:
    v = s64(v)
    return str(v) if -0x8000 <= v <= 0x7FFF else f"{v & ((1 << 64) - 1):#x}"


def tnum_str(r: Reg) -> str:
    return f"({r.var_off.value:#x}; {r.var_off.mask:#x})".replace("0x0;", "0x0;")


def _ranges(r: Reg) -> list[str]:
    items: list[list[Any]] = [
             ["smin", r.smin, r.smin == S64_MIN], ["smax", r.smax, r.smax == S64_MAX],
             ["umin", r.umin, r.umin == 0], ["umax", r.umax, r.umax == U64_MAX],
             ["smin32", r.s32_min, r.s32_min == S32_MIN],
             ["smax32", r.s32_max, r.s32_max == S32_MAX],
             ["umin32", r.u32_min, r.u32_min == 0], ["umax32", r.u32_max, r.u32_max == U32_MAX]]
    out = []
    for i, m1 in enumerate(items):
        if m1[2]:
            continue
        name = m1[0] + "="
        neg1 = m1[0][0] == "s" and m1[1] < 0
        v1 = m1[1] & ((1 << 64) - 1)
        for m2 in items[i + 2::2]:
            if m2[2]:
                continue
            neg2 = m2[0][0] == "s" and m2[1] < 0
            if neg1 == neg2 and v1 == m2[1] & ((1 << 64) - 1):
                name += m2[0] + "="
                m2[2] = True
        out.append(name + (snum(m1[1]) if m1[0][0] == "s" else unum(m1[1])))
    return out


def reg_str(r: Reg, frameno: int = 0) -> str:
    """print_reg_state."""
    t = r.type
    if t is RegType.SCALAR and r.var_off.is_const():
        return ("P" if r.precise else "") + snum(r.var_off.value)
    s = ("P" if r.precise and t is RegType.SCALAR else "") + r.type_str()
    if t is RegType.STACK:
        if r.frameno != frameno:
            s += f"[{r.frameno}]"
        if r.var_off.is_const():
            return s + snum(r.var_off.value + r.off)
    parts = []
    if r.id:
        flags = (1 << 31) | (1 << 30)
        parts.append(f"id={r.id & ~flags}" + (f"{r.off:+d}" if r.id & flags else ""))
    if r.ref_obj_id:
        parts.append(f"ref_obj_id={r.ref_obj_id}")
    if t in (RegType.CONST_PTR_TO_MAP, RegType.MAP_VALUE, RegType.MAP_KEY) and r.map is not None:
        if r.map.name:
            parts.append(f"map={r.map.name[:15]}")
        parts.append(f"ks={r.map.key_size},vs={r.map.value_size}")
    if t is not RegType.SCALAR and r.off:  # a scalar's off is its link delta
        parts.append("off=" + snum(r.off))
    if r.is_pkt:
        parts.append("r=" + unum(r.range))
    if t is RegType.MEM:
        parts.append("sz=" + unum(r.mem_size))
    if r.var_off.is_const():
        if r.var_off.value:
            parts.append("imm=" + snum(r.var_off.value))
    else:
        parts += _ranges(r)
        if not r.var_off.is_unknown():
            parts.append(f"var_off=({r.var_off.value:#x}; {r.var_off.mask:#x})")
    return s + "(" + ",".join(parts) + ")"


def frame_str(f: Frame, regs: set[int] | None, slots: set[int] | None) -> str:
    """print_verifier_state for one frame: the registers (all, or those in `regs`)
    and the stack slots (all, or those in `slots`)."""
    out = []
    if f.frameno:
        out.append(f" frame{f.frameno}:")
    for i, r in enumerate(f.regs):
        if r.type is RegType.NOT_INIT or (regs is not None and i not in regs):
            continue
        out.append(f" R{i}={reg_str(r, f.frameno)}")
    for spi in range(f.allocated // 8):
        if slots is not None and spi not in slots:
            continue
        kinds = [Slot(f.stack[spi * 8 + j]) for j in range(8)]
        if all(k == Slot.INVALID for k in kinds):
            continue
        buf = "".join(SLOT_CHAR[k] for k in kinds)
        if kinds[7] == Slot.SPILL:
            j = next(j for j in range(8) if kinds[j] == Slot.SPILL)
            out.append(f" fp{-(spi + 1) * 8}={buf[:j]}{reg_str(f.spills[spi], f.frameno)}")
        else:
            out.append(f" fp{-(spi + 1) * 8}={buf}")
    return "".join(out)


def alignment(pos: int) -> int:
    """vlog_alignment: the width of the padding before ';' after an insn of `pos` chars."""
    return -(-max(pos, LOG_MIN_ALIGNMENT) // LOG_ALIGNMENT) * LOG_ALIGNMENT - pos - 1


def insn_text(insn: Instruction, pc: int, slots: list) -> str:
    """print_bpf_insn: "(b7) r0 = 0" (the kernel's syntax, via pybpf.asm)."""
    from ..asm import disassemble_insn
    from ..errors import PyBPFError
    from ..isa import OPCODE_LDDW
    try:
        text = disassemble_insn(insn, "kernel")
    except PyBPFError:  # a malformed insn: the checks report it
        text = f"unknown opcode {insn.opcode:02x}"
    if insn.opcode == OPCODE_LDDW:
        v = insn.imm64
        if insn.src == 0:
            text = f"r{insn.dst} = {v:#x}" if v > 0xFFFF else f"r{insn.dst} = {v}"
        elif insn.src in (1, 5):
            text = f"r{insn.dst} = map[id:{insn.imm}]"
        elif insn.src in (2, 6):
            text = f"r{insn.dst} = map[id:{insn.imm}][0]+{insn.next_imm}"
    # the kernel prints jump offsets relative to pc: "goto pc+9", "may_goto pc+3"
    text = _JUMP_OFF.sub(r"\1 pc\2", text)
    return f"({insn.opcode:02x}) {text}"


_JUMP_OFF = re.compile(r"\b(goto|gotol|may_goto) ([+-]\d+)$")


# --- source lines (BTF line info) and the failing path --------------------------------

@dataclass(frozen=True)
class SourceLine:
    """The C (or Python) source line of an instruction, from the program's BTF line
    info: `file` as the compiler recorded it, `line` its number, `text` the line."""

    pc: int
    file: str
    line: int
    text: str
    column: int = 0

    @property
    def basename(self) -> str:
        return self.file.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return f"{self.basename}:{self.line}: {self.text.strip()}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "text": self.text.strip(),
                "column": self.column, "pc": self.pc}


def _source_line(li: Any) -> SourceLine:
    """A SourceLine from either LineInfo (the ObjectSpec's or the .BTF.ext parser's)."""
    if hasattr(li, "insn_off"):
        return SourceLine(li.insn_off, li.file_name, li.line_num, li.line, li.line_col)
    return SourceLine(li.pc, li.file, li.line_num, li.line, getattr(li, "column", 0))


class SourceLines:
    """The line info of one program, sorted by instruction: the line of an instruction
    is the last record at or before it (the kernel's find_linfo), and `log_line` prints
    it into the log as the kernel's verbose_linfo does ("; <line> @ file:N"), once per
    change of file and line number."""

    def __init__(self, line_info: Iterable[Any]) -> None:
        recs = sorted((_source_line(li) for li in line_info), key=lambda s: s.pc)
        self.records = recs
        self._pcs = [s.pc for s in recs]
        self.prev: SourceLine | None = None

    def __bool__(self) -> bool:
        return bool(self.records)

    def at(self, pc: int | None) -> SourceLine | None:
        if pc is None:
            return None
        i = bisect.bisect_right(self._pcs, pc) - 1
        return self.records[i] if i >= 0 else None

    def log_line(self, pc: int) -> str:
        """The "; line @ file:N" log line for insn `pc`, or "" when the kernel prints none
        (no record, or the same record, file and line as the last one printed)."""
        cur = self.at(pc)
        prev = self.prev
        if cur is None or cur is prev:
            return ""
        if prev is not None and cur.file == prev.file and cur.line == prev.line:
            return ""
        self.prev = cur
        return f"; {cur.text.lstrip()} @ {cur.basename}:{cur.line}\n"


def _branch_text(insn: Instruction) -> str:
    """The condition of a jump, without its target: "if r3 > r1", "may_goto"."""
    text = insn_text(insn, 0, []).split(") ", 1)[-1]
    return re.sub(r"\s*\bgoto\s+\S+$|\s+pc[+-]\d+$", "", text)


def describe_path(insns: Sequence[Instruction], path: Iterable[tuple[int, bool]],
                  lines: SourceLines | None = None) -> list[dict[str, Any]]:
    """The branch decisions of a verifier path as records {"pc", "insn", "taken",
    "source"} (the source line where line info exists)."""
    by_pc = dict(zip(slot_offsets(insns), insns))
    out = []
    for pc, taken in path:
        insn = by_pc.get(pc)
        src = lines.at(pc) if lines else None
        out.append({"pc": pc, "insn": _branch_text(insn) if insn is not None else "?",
                    "taken": bool(taken), "source": None if src is None else str(src)})
    return out


def format_path(steps: Iterable[dict[str, Any]]) -> list[str]:
    """"pc 7: if r3 > r1 taken" lines (with the source line after " ; ")."""
    out = []
    for s in steps:
        text = f"pc {s['pc']}: {s['insn']} {'taken' if s['taken'] else 'not taken'}"
        if s.get("source"):
            text = f"{text:<36} ; {s['source']}"
        out.append(text)
    return out
