"""Patching an instruction with a CO-RE relocation result, as a loader must (libbpf's
bpf_core_patch_insn): the immediate, the offset and access size, or the lddw value; a
poisoned result becomes a call to POISON_HELPER_ID. Opcodes are pybpf.isa's."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..isa import (
    BPF_ALU,
    BPF_ALU64,
    BPF_CALL,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_ST,
    BPF_STX,
    BPF_X,
    OPCODE_LDDW,
    SIZE_BYTES,
)
from .errors import PatchError

if TYPE_CHECKING:
    from .core import CoreResult

__all__ = ["POISON_HELPER_ID", "patch_insn"]

# The helper id a poisoned instruction calls (libbpf's 0xbad2310, "bad relo").
POISON_HELPER_ID = 0xBAD2310

_INSN = struct.Struct("<BBhi")
_BYTES_SIZE = {v: k for k, v in SIZE_BYTES.items()}


def _s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >> 63 else v


def _poison(code: bytearray, idx: int) -> None:
    _INSN.pack_into(code, idx * 8, BPF_JMP | BPF_CALL, 0, 0, POISON_HELPER_ID)


def patch_insn(code: bytearray, insn_idx: int, res: CoreResult) -> None:
    """Patch instruction `insn_idx` of `code` (raw little-endian bytecode) with a
    relocation result, as a loader must: the immediate of an ALU/ALU64 K instruction, the
    offset (and access size when the field size changed) of LDX/ST/STX, the 64-bit
    immediate of lddw. A poisoned result (or a load/store whose size cannot be adjusted)
    turns the instruction into a call to helper POISON_HELPER_ID. PatchError when the
    instruction does not carry `orig_val` (validated results), has an unexpected form, or
    cannot hold the new value."""
    n = len(code) // 8
    if not 0 <= insn_idx < n:
        raise PatchError(insn_idx, f"out of the program ({n} instructions)")
    opcode, regs, off, imm = _INSN.unpack_from(code, insn_idx * 8)
    cls = opcode & 7
    is_lddw = opcode == OPCODE_LDDW
    if is_lddw and insn_idx + 1 >= n:
        raise PatchError(insn_idx, "lddw without its second half")
    if res.poison:
        if is_lddw:
            _poison(code, insn_idx + 1)
        _poison(code, insn_idx)
        return
    orig, new = res.orig_val, res.new_val
    if cls in (BPF_ALU, BPF_ALU64):
        if opcode & BPF_X != BPF_K:
            raise PatchError(insn_idx, f"ALU instruction {opcode:#04x} has no immediate "
                             f"to relocate")
        if res.validate and _s64(imm) != _s64(orig):
            raise PatchError(insn_idx, f"immediate is {imm}, the relocation expected "
                             f"{_s64(orig)} ({res.local_spec})")
        v = _s64(new)
        if not -(1 << 31) <= v < (1 << 31):
            raise PatchError(insn_idx, f"relocated value {new} does not fit a 32-bit "
                             f"immediate ({res.kind.name})")
        _INSN.pack_into(code, insn_idx * 8, opcode, regs, off, v)
        return
    if cls in (BPF_LDX, BPF_ST, BPF_STX):
        if res.validate and off != _s64(orig):
            raise PatchError(insn_idx, f"offset is {off}, the relocation expected "
                             f"{_s64(orig)} ({res.local_spec})")
        if not 0 <= new <= 0x7FFF:
            raise PatchError(insn_idx, f"relocated offset {new} does not fit the 16-bit "
                             f"signed offset field")
        if res.fail_memsz_adjust:
            # reading the field with another size would change its value: poison
            _poison(code, insn_idx)
            return
        if res.new_size != res.orig_size:
            size = SIZE_BYTES[opcode & 0x18]
            if size != res.orig_size:
                raise PatchError(insn_idx, f"accesses {size} bytes, the relocated field was "
                                 f"{res.orig_size} bytes")
            new_bits = _BYTES_SIZE.get(res.new_size)
            if new_bits is None:
                raise PatchError(insn_idx, f"no load/store of {res.new_size} bytes for the "
                                 f"relocated field")
            opcode = (opcode & ~0x18) | new_bits
        _INSN.pack_into(code, insn_idx * 8, opcode, regs, new, imm)
        return
    if cls == BPF_LD:
        if not is_lddw:
            raise PatchError(insn_idx, f"LD instruction {opcode:#04x} is not lddw")
        op2, regs2, off2, imm2 = _INSN.unpack_from(code, insn_idx * 8 + 8)
        if regs & 0xF0 or off or op2 or regs2 or off2:
            raise PatchError(insn_idx, "lddw has an unexpected form (pseudo source or "
                             "non-zero reserved fields)")
        cur = (imm & 0xFFFFFFFF) | (imm2 & 0xFFFFFFFF) << 32
        if res.validate and cur != orig & 0xFFFFFFFFFFFFFFFF:
            raise PatchError(insn_idx, f"lddw immediate is {cur}, the relocation expected "
                             f"{orig} ({res.local_spec})")
        v = new & 0xFFFFFFFFFFFFFFFF
        lo, hi = v & 0xFFFFFFFF, v >> 32
        _INSN.pack_into(code, insn_idx * 8, opcode, regs, off, lo - (1 << 32) if lo >> 31 else lo)
        _INSN.pack_into(code, insn_idx * 8 + 8, 0, 0, 0, hi - (1 << 32) if hi >> 31 else hi)
        return
    raise PatchError(insn_idx, f"instruction class {cls} ({opcode:#04x}) cannot carry a "
                     f"CO-RE relocation")
