"""The eBPF instruction set (RFC 9669 plus the kernel's extensions): constants,
the `Instruction` type, and exact decoding/encoding of bytecode.

Every number here is the kernel's (include/uapi/linux/bpf.h, bpf_common.h), so
bytecode produced by clang or read from the kernel round-trips unchanged.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Iterable, Sequence

from .errors import InvalidInstruction
# the pseudo sources of lddw and call are the kernel's (linux/bpf.h): one definition, in uapi;
# they are part of the instruction set's names, so isa re-exports them
from .uapi import (BPF_PSEUDO_BTF_ID, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,  # noqa: F401
                   BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX,
                   BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE)

# --- instruction classes (low 3 bits of the opcode) -------------------------
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_ALU64 = 0x07

# --- source operand bit (ALU/JMP) -------------------------------------------
BPF_K = 0x00
BPF_X = 0x08
# byte-order direction for BPF_END shares the source bit
BPF_TO_LE = 0x00
BPF_TO_BE = 0x08

# --- sizes and modes (LD/LDX/ST/STX) ----------------------------------------
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_DW = 0x18
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_MEMSX = 0x80
BPF_ATOMIC = 0xC0

SIZE_BYTES = {BPF_W: 4, BPF_H: 2, BPF_B: 1, BPF_DW: 8}
BYTES_SIZE = {v: k for k, v in SIZE_BYTES.items()}

# --- ALU operations -----------------------------------------------------------
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0
BPF_MOV = 0xB0
BPF_ARSH = 0xC0
BPF_END = 0xD0

# --- JMP operations -----------------------------------------------------------
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_JNE = 0x50
BPF_JSGT = 0x60
BPF_JSGE = 0x70
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_JLT = 0xA0
BPF_JLE = 0xB0
BPF_JSLT = 0xC0
BPF_JSLE = 0xD0
BPF_JCOND = 0xE0  # src = BPF_MAY_GOTO
BPF_MAY_GOTO = 0

COND_JUMPS = (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE,
              BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE)

# --- atomic operations (imm of STX|ATOMIC) -----------------------------------
BPF_FETCH = 0x01
BPF_XCHG = 0xE0 | BPF_FETCH
BPF_CMPXCHG = 0xF0 | BPF_FETCH
BPF_LOAD_ACQ = 0x100
BPF_STORE_REL = 0x110
ATOMIC_RMW_OPS = (BPF_ADD, BPF_OR, BPF_AND, BPF_XOR)
ATOMIC_OPS = frozenset(
    [op for op in ATOMIC_RMW_OPS] + [op | BPF_FETCH for op in ATOMIC_RMW_OPS]
    + [BPF_XCHG, BPF_CMPXCHG, BPF_LOAD_ACQ, BPF_STORE_REL])

# --- pseudo sources --------------------------------------------------------------

# --- registers and limits -----------------------------------------------------------
MAX_BPF_REG = 11
BPF_REG_FP = 10
MAX_BPF_STACK = 512
MAX_CALL_FRAMES = 8
BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000  # the kernel's maximum program length for root
BPF_MAXINSNS = 4096  # the kernel's maximum program length without CAP_BPF
INSN_SIZE = 8

OPCODE_LDDW = BPF_LD | BPF_IMM | BPF_DW  # 0x18
OPCODE_CALL = BPF_JMP | BPF_CALL  # 0x85
OPCODE_CALLX = BPF_JMP | BPF_CALL | BPF_X  # 0x8d
OPCODE_EXIT = BPF_JMP | BPF_EXIT  # 0x95
OPCODE_JA = BPF_JMP | BPF_JA  # 0x05
OPCODE_JA32 = BPF_JMP32 | BPF_JA  # 0x06 (gotol)

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF

_SLOT = struct.Struct("<BBhi")


class InsnKind(IntEnum):
    """The decoded variant of an instruction (what it does, independent of operands)."""

    ALU = 1
    ENDIAN = 2
    LDDW = 3
    LD_ABS = 4
    LD_IND = 5
    LDX = 6
    ST = 7
    STX = 8
    ATOMIC = 9
    JA = 10
    JCOND = 11  # conditional jumps
    MAY_GOTO = 12
    CALL = 13
    CALLX = 14
    EXIT = 15


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v & 0x8000_0000 else v


def s16(v: int) -> int:
    v &= 0xFFFF
    return v - (1 << 16) if v & 0x8000 else v


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


@dataclass(frozen=True, slots=True)
class Instruction:
    """One eBPF instruction. `lddw` occupies two 8-byte slots and carries `next_imm`
    (the second slot's imm); every other instruction is one slot.

    `off` and `imm` are stored signed (s16 / s32), as the kernel's struct bpf_insn.
    """

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    next_imm: int = 0
    # --- field views of the opcode, stored once (the verifier reads them per insn
    # processed, a property call each): class, ALU/JMP operation (high 4 bits), source,
    # size and mode
    cls: int = field(init=False, repr=False, compare=False)
    op: int = field(init=False, repr=False, compare=False)
    source: int = field(init=False, repr=False, compare=False)
    size: int = field(init=False, repr=False, compare=False)
    mode: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        code = self.opcode
        object.__setattr__(self, "cls", code & 0x07)
        object.__setattr__(self, "op", code & 0xF0)
        object.__setattr__(self, "source", code & 0x08)
        object.__setattr__(self, "size", code & 0x18)
        object.__setattr__(self, "mode", code & 0xE0)

    @property
    def is_lddw(self) -> bool:
        return self.opcode == OPCODE_LDDW

    @property
    def slots(self) -> int:
        return 2 if self.opcode == OPCODE_LDDW else 1

    @property
    def imm64(self) -> int:
        """The 64-bit immediate of lddw (unsigned)."""
        return ((self.next_imm & M32) << 32) | (self.imm & M32)

    @property
    def kind(self) -> InsnKind:
        return classify(self)

    # --- constructors -------------------------------------------------------------
    @classmethod
    def lddw(cls, dst: int, imm64: int, src: int = 0) -> "Instruction":
        imm64 &= M64
        return cls(OPCODE_LDDW, dst, src, 0, s32(imm64), s32(imm64 >> 32))

    # --- encoding -------------------------------------------------------------------
    def encode(self) -> bytes:
        first = _SLOT.pack(self.opcode, (self.src << 4) | self.dst, self.off, self.imm)
        if self.opcode == OPCODE_LDDW:
            return first + _SLOT.pack(0, 0, 0, self.next_imm)
        return first


def _classify(insn: Instruction) -> InsnKind:
    cls = insn.opcode & 0x07
    if cls in (BPF_ALU, BPF_ALU64):
        return InsnKind.ENDIAN if insn.op == BPF_END else InsnKind.ALU
    if cls in (BPF_JMP, BPF_JMP32):
        op = insn.op
        if op == BPF_JA:
            return InsnKind.JA
        if op == BPF_CALL:
            return InsnKind.CALLX if insn.source == BPF_X else InsnKind.CALL
        if op == BPF_EXIT:
            return InsnKind.EXIT
        if op == BPF_JCOND:
            return InsnKind.MAY_GOTO
        return InsnKind.JCOND
    if cls == BPF_LD:
        if insn.opcode == OPCODE_LDDW:
            return InsnKind.LDDW
        return InsnKind.LD_ABS if insn.mode == BPF_ABS else InsnKind.LD_IND
    if cls == BPF_LDX:
        return InsnKind.LDX
    if cls == BPF_ST:
        return InsnKind.ST
    return InsnKind.ATOMIC if insn.mode == BPF_ATOMIC else InsnKind.STX


_KIND_OF_OPCODE = tuple(_classify(Instruction(op)) for op in range(256))


def classify(insn: Instruction) -> InsnKind:
    """What an instruction does: a table lookup on its opcode (the kind depends on the
    opcode alone)."""
    op = insn.opcode
    return _KIND_OF_OPCODE[op] if 0 <= op < 256 else _classify(insn)


# --- validation -----------------------------------------------------------------------

def _fail(pc: int, reason: str) -> None:
    raise InvalidInstruction(pc, reason)


def _check_regs(pc: int, insn: Instruction) -> None:
    if insn.dst >= MAX_BPF_REG:
        _fail(pc, f"invalid destination register r{insn.dst}")
    if insn.src >= MAX_BPF_REG:
        _fail(pc, f"invalid source register r{insn.src}")


def _reserved(pc: int, insn: Instruction, *, dst: bool = False, src: bool = False,
              off: bool = False, imm: bool = False) -> None:
    """Fail if any of the named fields (reserved for this opcode) is non-zero."""
    for name, flag in (("dst", dst), ("src", src), ("off", off), ("imm", imm)):
        if flag and getattr(insn, name) != 0:
            _fail(pc, f"reserved field {name} is {getattr(insn, name)}, must be 0 "
                      f"for opcode {insn.opcode:#04x}")


def validate(insn: Instruction, pc: int = 0) -> None:
    """Check one instruction: a known opcode, registers r0-r10, and every reserved
    field zero, as the kernel's verifier requires. Raises InvalidInstruction."""
    op, cls, x = insn.op, insn.cls, insn.source == BPF_X
    code = insn.opcode
    if cls in (BPF_ALU, BPF_ALU64):
        _check_regs(pc, insn)
        is64 = cls == BPF_ALU64
        if op == BPF_END:
            if is64 and x:
                _fail(pc, f"unknown opcode {code:#04x}")
            _reserved(pc, insn, src=True, off=True)
            if insn.imm not in (16, 32, 64):
                _fail(pc, f"invalid endian immediate {insn.imm} (must be 16, 32 or 64)")
            return
        if op > BPF_END:
            _fail(pc, f"unknown opcode {code:#04x}")
        if op == BPF_NEG:
            if x:
                _fail(pc, f"unknown opcode {code:#04x} (neg takes no source register)")
            _reserved(pc, insn, src=True, off=True, imm=True)
            return
        if x:
            _reserved(pc, insn, imm=True)
        else:
            _reserved(pc, insn, src=True)
        if op in (BPF_DIV, BPF_MOD):
            if insn.off not in (0, 1):
                _fail(pc, f"invalid offset {insn.off} for div/mod (0 unsigned, 1 signed)")
        elif op == BPF_MOV and x:
            allowed = (0, 8, 16, 32) if is64 else (0, 8, 16)
            if insn.off not in allowed:
                _fail(pc, f"invalid sign-extension offset {insn.off} for mov")
        else:
            _reserved(pc, insn, off=True)
        return
    if cls in (BPF_JMP, BPF_JMP32):
        _check_regs(pc, insn)
        is32 = cls == BPF_JMP32
        if op == BPF_JA:
            if x:
                _fail(pc, f"unknown opcode {code:#04x}")
            if is32:
                _reserved(pc, insn, dst=True, src=True, off=True)
            else:
                _reserved(pc, insn, dst=True, src=True, imm=True)
            return
        if op == BPF_CALL:
            if is32:
                _fail(pc, f"unknown opcode {code:#04x}")
            if x:  # callx: target register in dst (LLVM convention)
                _reserved(pc, insn, src=True, off=True, imm=True)
                return
            _reserved(pc, insn, dst=True)
            if insn.src not in (0, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL):
                _fail(pc, f"invalid call source {insn.src} (0 helper, 1 local, 2 kfunc)")
            if insn.src != BPF_PSEUDO_KFUNC_CALL:
                _reserved(pc, insn, off=True)
            return
        if op == BPF_EXIT:
            if is32 or x:
                _fail(pc, f"unknown opcode {code:#04x}")
            _reserved(pc, insn, dst=True, src=True, off=True, imm=True)
            return
        if op == BPF_JCOND:
            if is32 or x:
                _fail(pc, f"unknown opcode {code:#04x}")
            _reserved(pc, insn, dst=True, imm=True)
            if insn.src != BPF_MAY_GOTO:
                _fail(pc, f"unknown jcond source {insn.src}")
            return
        if op == 0xF0:
            _fail(pc, f"unknown opcode {code:#04x}")
        if x:
            _reserved(pc, insn, imm=True)
        else:
            _reserved(pc, insn, src=True)
        return
    if cls == BPF_LD:
        mode, size = insn.mode, insn.size
        if mode == BPF_IMM and size == BPF_DW:
            _check_regs(pc, insn)
            _reserved(pc, insn, off=True)
            if insn.src > BPF_PSEUDO_MAP_IDX_VALUE:
                _fail(pc, f"invalid source register for lddw: pseudo src {insn.src}")
            if insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_BTF_ID, BPF_PSEUDO_FUNC,
                            BPF_PSEUDO_MAP_IDX) and insn.next_imm != 0:
                _fail(pc, f"lddw with pseudo src {insn.src} needs a zero second imm")
            return
        if mode in (BPF_ABS, BPF_IND) and size != BPF_DW:
            _check_regs(pc, insn)
            if mode == BPF_ABS:
                _reserved(pc, insn, dst=True, src=True, off=True)
            else:
                _reserved(pc, insn, dst=True, off=True)
            return
        _fail(pc, f"unknown opcode {code:#04x}")
    if cls == BPF_LDX:
        _check_regs(pc, insn)
        if insn.mode == BPF_MEM or (insn.mode == BPF_MEMSX and insn.size != BPF_DW):
            _reserved(pc, insn, imm=True)
            return
        _fail(pc, f"unknown opcode {code:#04x}")
    if cls == BPF_ST:
        _check_regs(pc, insn)
        if insn.mode == BPF_MEM:
            _reserved(pc, insn, src=True)
            return
        _fail(pc, f"unknown opcode {code:#04x}")
    # BPF_STX
    _check_regs(pc, insn)
    if insn.mode == BPF_MEM:
        _reserved(pc, insn, imm=True)
        return
    if insn.mode == BPF_ATOMIC:
        if insn.imm not in ATOMIC_OPS:
            _fail(pc, f"invalid atomic operation imm {insn.imm:#x}")
        if insn.imm in (BPF_LOAD_ACQ, BPF_STORE_REL):
            return
        if insn.size not in (BPF_W, BPF_DW):
            _fail(pc, "atomic read-modify-write needs size w or dw")
        return
    _fail(pc, f"unknown opcode {code:#04x}")


# --- decoding ----------------------------------------------------------------------------

def decode(code: bytes | bytearray | memoryview, *, check: bool = True) -> list[Instruction]:
    """Decode bytecode into instructions. With `check`, every instruction is validated
    (InvalidInstruction names the pc in 8-byte slots)."""
    code = bytes(code)
    if len(code) % INSN_SIZE:
        raise InvalidInstruction(len(code) // INSN_SIZE,
                                 f"code length {len(code)} is not a multiple of 8")
    out: list[Instruction] = []
    n = len(code) // INSN_SIZE
    pc = 0
    while pc < n:
        opcode, regs, off, imm = _SLOT.unpack_from(code, pc * INSN_SIZE)
        if opcode == OPCODE_LDDW:
            if pc + 1 >= n:
                raise InvalidInstruction(pc, "incomplete lddw (missing second slot)")
            op2, regs2, off2, imm2 = _SLOT.unpack_from(code, (pc + 1) * INSN_SIZE)
            if check and (op2 or regs2 or off2):
                raise InvalidInstruction(
                    pc + 1, "invalid lddw second half (opcode, registers and offset must be 0)")
            insn = Instruction(opcode, regs & 0x0F, regs >> 4, off, imm, imm2)
        else:
            insn = Instruction(opcode, regs & 0x0F, regs >> 4, off, imm)
        if check:
            validate(insn, pc)
        out.append(insn)
        pc += insn.slots
    return out


def encode(insns: Iterable[Instruction]) -> bytes:
    return b"".join(i.encode() for i in insns)


def slot_offsets(insns: Sequence[Instruction]) -> list[int]:
    """The pc (slot index) of each instruction."""
    pcs = list(itertools.accumulate((2 if i.opcode == OPCODE_LDDW else 1 for i in insns),
                                    initial=0))
    pcs.pop()
    return pcs


def jump_target(insn: Instruction, pc: int) -> int | None:
    """The slot a jump or local call at `pc` goes to, or None if it is not one."""
    kind = classify(insn)
    if kind == InsnKind.JA:
        return pc + 1 + (insn.imm if insn.cls == BPF_JMP32 else insn.off)
    if kind in (InsnKind.JCOND, InsnKind.MAY_GOTO):
        return pc + 1 + insn.off
    if kind == InsnKind.CALL and insn.src == BPF_PSEUDO_CALL:
        return pc + 1 + insn.imm
    if kind == InsnKind.LDDW and insn.src == BPF_PSEUDO_FUNC:
        return pc + 1 + insn.imm
    return None
