"""The verifier log in the kernel's format (kernel/bpf/log.c): register states
("R1=ctx() R2=pkt(r=14)", "scalar(smin=0,smax=255,...)"), stack slots ("fp-8=mmmmmmmm"),
instruction lines ("0: (b7) r0 = 0") and the alignment of " ; " after them."""

from __future__ import annotations

from typing import Any

from ..isa import Instruction
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
    from ..isa import OPCODE_LDDW
    try:
        text = disassemble_insn(insn, "kernel")
    except Exception:  # noqa: BLE001 - a malformed insn is reported by the checks
        text = f"unknown opcode {insn.opcode:02x}"
    if insn.opcode == OPCODE_LDDW:
        v = insn.imm64
        if insn.src == 0:
            text = f"r{insn.dst} = {v:#x}" if v > 0xFFFF else f"r{insn.dst} = {v}"
        elif insn.src in (1, 5):
            text = f"r{insn.dst} = map[id:{insn.imm}]"
        elif insn.src in (2, 6):
            text = f"r{insn.dst} = map[id:{insn.imm}][0]+{insn.next_imm}"
    return f"({insn.opcode:02x}) {text}"
