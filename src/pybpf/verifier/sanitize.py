"""sanitize_ptr_alu for loads without CAP_PERFMON (no bypass_spec_v1): pointer + or -
a register is masked at run time against Spectre v1, so every path that reaches the
instruction must need the same mask. The kernel keeps, per instruction, the ALU state
(direction, immediate or not, which side is the pointer) and the limit (how far the
pointer moved within its object); a path that needs another refuses the program ("R3
tried to add from different maps, paths or scalars, ..."), and a pointer already past
its object's end refuses it too ("... beyond pointer bounds, ...")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .reg import RegType

BPF_ALU_SANITIZE_SRC, BPF_ALU_SANITIZE_DST = 1, 2
BPF_ALU_NEG_VALUE, BPF_ALU_IMMEDIATE = 1 << 2, 1 << 3
PROHIBITED = "pointer arithmetic with it prohibited for !root"
_U32 = 0xFFFF_FFFF


@dataclass
class SanitizeInfo:
    """What the first call (before the ALU) hands the commit (after it)."""

    mask_to_left: bool
    alu_state: int
    alu_limit: int


def _ptr_limit(ptr: Any, mask_to_left: bool) -> tuple[int, int] | None:
    """retrieve_ptr_limit: (limit, max) as u32, or None for other pointer types."""
    if ptr.type is RegType.STACK:
        return (-(ptr.var_off.value + ptr.off)) & _U32, 512 + mask_to_left
    if ptr.type is RegType.MAP_VALUE:
        return ((ptr.smin if mask_to_left else ptr.umax) + ptr.off) & _U32, ptr.map.value_size
    return None


def _op(opcode: int) -> str:
    return "add" if opcode == 0x00 else "sub"


def begin(v: Any, op: int, dst: int, ptr: Any, off_reg: Any, ptr_is_dst: bool
          ) -> SanitizeInfo | None:
    """The first sanitize_ptr_alu (after its bounds and type checks, done by the
    caller): the masking direction, the limit before the move, the ALU state."""
    off_is_neg = off_reg.smin < 0
    off_is_imm = off_reg.var_off.is_const()
    mask_to_left = (op == 0x00 and off_is_neg) or (op == 0x10 and not off_is_neg)
    got = _ptr_limit(ptr, mask_to_left)
    if got is None:
        return None
    limit, top = got
    if limit >= top:
        v.fail(f"R{dst} tried to {_op(op)} beyond pointer bounds, {PROHIBITED}")
    state = (BPF_ALU_NEG_VALUE if off_is_neg else 0) | \
        (BPF_ALU_IMMEDIATE if off_is_imm else 0) | \
        (BPF_ALU_SANITIZE_SRC if ptr_is_dst else BPF_ALU_SANITIZE_DST)
    if not off_is_imm:
        v.explore_alu_limits = True  # pruning compares scalars exactly from now on
    return SanitizeInfo(mask_to_left, state, limit)


def commit(v: Any, idx: int, op: int, dst: int, res: Any, info: SanitizeInfo) -> None:
    """The second sanitize_ptr_alu (on the result): the limit is how far the pointer
    moved; it and the state must equal what earlier paths needed at this insn."""
    got = _ptr_limit(res, info.mask_to_left)
    if got is None:
        return
    limit, top = got
    if limit >= top:
        v.fail(f"R{dst} tried to {_op(op)} beyond pointer bounds, {PROHIBITED}")
    moved = (info.alu_limit - limit) & _U32
    moved = abs(moved - (1 << 32) if moved >> 31 else moved)
    seen = v.alu_aux.get(idx)
    if seen is not None and seen != (info.alu_state, moved):
        v.fail(f"R{dst} tried to {_op(op)} from different maps, paths or scalars, "
               f"{PROHIBITED}")
    v.alu_aux[idx] = (info.alu_state, moved)
