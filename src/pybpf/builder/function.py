"""One BPF function built instruction by instruction, as with cilium/ebpf's `asm`
package: one method per instruction form, labels, and references by name (labels,
maps, sub-programs, helpers) that the object resolves when it links.

    f.mov64(R6, R1)                 # r6 = r1        (a register: the X form)
    f.add64(R2, -4)                 # r2 += -4       (an int: the K form)
    f.ldxw(R0, R6, 4)               # r0 = *(u32 *)(r6 +4)
    f.jgt(R3, R2, "out")            # if r3 > r2 goto out
    f.ld_map_fd(R1, "counts")       # r1 = the map `counts`, resolved at link time
    f.call("map_lookup_elem")       # a helper by name (or id)
    f.call_func("parse")            # a BPF-to-BPF call of a sub-program
    f.label("out")
    f.exit()

Registers are the `Reg` constants R0..R10 (FP = R10); an int where a register may
stand is an immediate. Every method returns the builder, so calls chain."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from types import FrameType
from typing import TypeGuard, Union, cast

from .. import isa
from ..errors import InvalidInstruction
from ..helper_ids import HELPER_IDS, HELPER_NAMES
from ..isa import (BPF_ABS, BPF_ALU, BPF_ALU64, BPF_ATOMIC, BPF_B, BPF_DW, BPF_END, BPF_FETCH,
                   BPF_H, BPF_IND, BPF_JMP, BPF_JMP32, BPF_K, BPF_LD, BPF_LDX, BPF_MEM,
                   BPF_MEMSX, BPF_ST, BPF_STX, BPF_TO_BE, BPF_TO_LE, BPF_W, BPF_X, Instruction)
from .errors import DuplicateLabelError, OperandError, UnknownHelperError

__all__ = ["Reg", "R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "FP",
           "Ref", "Emitted", "FunctionBuilder", "Target"]


@dataclass(frozen=True, slots=True)
class Reg:
    """A BPF register r0-r10. Not an int, so `mov64(R0, 1)` (immediate) and
    `mov64(R0, R1)` (register) differ by the operand's type."""

    n: int

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or not 0 <= self.n < isa.MAX_BPF_REG:
            raise OperandError(f"no register r{self.n} (registers are r0-r10)")

    def __repr__(self) -> str:
        return f"R{self.n}"


R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = (Reg(i) for i in range(11))
FP = R10

Target = Union[str, int]  # a label name, or a raw relative offset in slots


@dataclass(frozen=True, slots=True)
class Ref:
    """A field of an instruction the linker fills: kind "jump" (off), "jump32" (imm of
    gotol), "call" (a sub-program by name), "func" (lddw of a function's address),
    "map_fd" / "map_value" (lddw of a map), "global" (lddw of a global variable's
    address), "kfunc" (a kernel function by name)."""

    kind: str
    name: str
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Emitted:
    """An instruction as emitted: fixed fields, what the linker fills, and the Python
    source line that made it ((file, line number) or None)."""

    insn: Instruction
    ref: Ref | None = None
    source: tuple[str, int] | None = None


_SIZES = {"b": BPF_B, "h": BPF_H, "w": BPF_W, "dw": BPF_DW, 1: BPF_B, 2: BPF_H, 4: BPF_W,
          8: BPF_DW, "u8": BPF_B, "u16": BPF_H, "u32": BPF_W, "u64": BPF_DW}
_S16 = (-(1 << 15), (1 << 15) - 1)
_HERE = __name__.rpartition(".")[0]  # "pybpf.builder": frames to skip for source lines


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def helper_id(helper: "str | int") -> int:
    """A helper's id from its name ("map_lookup_elem" or "bpf_map_lookup_elem") or id."""
    if _is_int(helper):
        if not 0 <= helper <= isa.M32 >> 1:
            raise UnknownHelperError(f"helper id {helper} out of range")
        return int(helper)
    if isinstance(helper, str):
        name = helper.removeprefix("bpf_")
        if name in HELPER_IDS and name != "unspec":
            return HELPER_IDS[name]
        close = difflib.get_close_matches(name, list(HELPER_IDS), n=3)
        hint = f"; did you mean {', '.join('bpf_' + c for c in close)}?" if close else ""
        raise UnknownHelperError(f"unknown helper {helper!r}{hint}")
    raise UnknownHelperError(f"a helper is a name or an id, not {type(helper).__name__}")


class FunctionBuilder:
    """The instructions of one function (a program's entry or a sub-program), with its
    labels. Made by ObjectBuilder.program() / .function(); linked by ObjectBuilder.build()."""

    def __init__(self, name: str, *, source_lines: bool = True) -> None:
        if not isinstance(name, str) or not name:
            raise OperandError(f"a function needs a name, got {name!r}")
        self.name = name
        self.items: list[Emitted] = []
        self.labels: dict[str, int] = {}  # label -> index in items
        self._source_lines = source_lines

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"<FunctionBuilder {self.name}: {len(self.items)} instructions>"

    # --- plumbing ------------------------------------------------------------------------
    def _where(self) -> tuple[str, int] | None:
        if not self._source_lines:
            return None
        frame: FrameType | None = sys._getframe(2)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(_HERE):
            frame = frame.f_back
        return (frame.f_code.co_filename, frame.f_lineno) if frame is not None else None

    def _emit(self, insn: Instruction, ref: Ref | None = None) -> "FunctionBuilder":
        try:
            isa.validate(insn)
        except InvalidInstruction as e:
            raise OperandError(f"function {self.name}: {e.reason}") from None
        self.items.append(Emitted(insn, ref, self._where()))
        return self

    def _reg(self, r: object, what: str = "register") -> int:
        if not isinstance(r, Reg):
            raise OperandError(f"function {self.name}: the {what} must be a register "
                               f"(pybpf.builder.R0..R10), got {r!r}")
        return r.n

    def _imm(self, v: object, what: str = "immediate") -> int:
        if not _is_int(v):
            raise OperandError(f"function {self.name}: the {what} must be an int, got {v!r}")
        if not -(1 << 31) <= v <= isa.M32:
            raise OperandError(f"function {self.name}: {what} {v} does not fit 32 bits "
                               "(-2**31..2**32-1; use lddw for 64-bit values)")
        return isa.s32(v)

    def _off(self, v: object) -> int:
        if not _is_int(v) or not _S16[0] <= v <= _S16[1]:
            raise OperandError(f"function {self.name}: offset {v!r} is not a 16-bit signed "
                               "int (-32768..32767)")
        return int(v)

    def _size(self, size: object) -> int:
        try:
            return _SIZES[size.lower() if isinstance(size, str) else size]
        except (KeyError, TypeError):
            raise OperandError(f"function {self.name}: size {size!r} is none of "
                               "'b', 'h', 'w', 'dw' (or 1, 2, 4, 8 bytes)") from None

    def label(self, name: str) -> "FunctionBuilder":
        """Name the next instruction, as a jump target."""
        if not isinstance(name, str) or not name:
            raise OperandError(f"function {self.name}: a label is a non-empty string, "
                               f"got {name!r}")
        if name in self.labels:
            raise DuplicateLabelError(f"function {self.name}: label {name!r} is defined twice")
        self.labels[name] = len(self.items)
        return self

    # --- ALU -------------------------------------------------------------------------------
    def _alu(self, cls: int, op: int, dst: Reg, src: "Reg | int", off: int = 0
             ) -> "FunctionBuilder":
        d = self._reg(dst, "destination")
        if isinstance(src, Reg):
            return self._emit(Instruction(cls | op | BPF_X, d, src.n, off, 0))
        return self._emit(Instruction(cls | op | BPF_K, d, 0, off,
                                      self._imm(src, "source (register or immediate)")))

    def mov64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        """dst = src (imm sign-extended to 64 bits)."""
        return self._alu(BPF_ALU64, isa.BPF_MOV, dst, src)

    def mov32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        """w(dst) = w(src); the upper 32 bits are zeroed."""
        return self._alu(BPF_ALU, isa.BPF_MOV, dst, src)

    def movsx64(self, dst: Reg, src: Reg, bits: int) -> "FunctionBuilder":
        """dst = (s8/s16/s32) src: sign-extending move (cpu v4)."""
        if bits not in (8, 16, 32):
            raise OperandError(f"function {self.name}: movsx64 extends 8, 16 or 32 bits, "
                               f"not {bits!r}")
        return self._alu(BPF_ALU64, isa.BPF_MOV, dst, self._regarg(src), bits)

    def movsx32(self, dst: Reg, src: Reg, bits: int) -> "FunctionBuilder":
        """w(dst) = (s8/s16) w(src) (cpu v4)."""
        if bits not in (8, 16):
            raise OperandError(f"function {self.name}: movsx32 extends 8 or 16 bits, "
                               f"not {bits!r}")
        return self._alu(BPF_ALU, isa.BPF_MOV, dst, self._regarg(src), bits)

    def _regarg(self, r: object) -> Reg:
        self._reg(r, "source")  # OperandError unless a Reg
        return cast(Reg, r)

    def add64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU64, isa.BPF_ADD, dst, src)

    def add32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_ADD, dst, src)

    def sub64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU64, isa.BPF_SUB, dst, src)

    def sub32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_SUB, dst, src)

    def mul64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU64, isa.BPF_MUL, dst, src)

    def mul32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_MUL, dst, src)

    def div64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        """Unsigned division (x / 0 = 0)."""
        return self._alu(BPF_ALU64, isa.BPF_DIV, dst, src)

    def div32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_DIV, dst, src)

    def sdiv64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        """Signed division (cpu v4)."""
        return self._alu(BPF_ALU64, isa.BPF_DIV, dst, src, 1)

    def sdiv32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_DIV, dst, src, 1)

    def mod64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        """Unsigned modulo (x % 0 = x)."""
        return self._alu(BPF_ALU64, isa.BPF_MOD, dst, src)

    def mod32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_MOD, dst, src)

    def smod64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        """Signed modulo (cpu v4)."""
        return self._alu(BPF_ALU64, isa.BPF_MOD, dst, src, 1)

    def smod32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_MOD, dst, src, 1)

    def or64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU64, isa.BPF_OR, dst, src)

    def or32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_OR, dst, src)

    def and64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU64, isa.BPF_AND, dst, src)

    def and32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_AND, dst, src)

    def xor64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU64, isa.BPF_XOR, dst, src)

    def xor32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_XOR, dst, src)

    def lsh64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU64, isa.BPF_LSH, dst, src)

    def lsh32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_LSH, dst, src)

    def rsh64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        """Logical shift right."""
        return self._alu(BPF_ALU64, isa.BPF_RSH, dst, src)

    def rsh32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_RSH, dst, src)

    def arsh64(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        """Arithmetic (sign-preserving) shift right."""
        return self._alu(BPF_ALU64, isa.BPF_ARSH, dst, src)

    def arsh32(self, dst: Reg, src: "Reg | int") -> "FunctionBuilder":
        return self._alu(BPF_ALU, isa.BPF_ARSH, dst, src)

    def neg64(self, dst: Reg) -> "FunctionBuilder":
        """dst = -dst."""
        return self._emit(Instruction(BPF_ALU64 | isa.BPF_NEG, self._reg(dst, "destination")))

    def neg32(self, dst: Reg) -> "FunctionBuilder":
        return self._emit(Instruction(BPF_ALU | isa.BPF_NEG, self._reg(dst, "destination")))

    # --- byte order ------------------------------------------------------------------------
    def _end(self, code: int, dst: Reg, bits: int) -> "FunctionBuilder":
        return self._emit(Instruction(code | BPF_END, self._reg(dst, "destination"), 0, 0, bits))

    def be16(self, dst: Reg) -> "FunctionBuilder":
        """dst = htobe16(dst) (to big endian: a swap on this little-endian ISA)."""
        return self._end(BPF_ALU | BPF_TO_BE, dst, 16)

    def be32(self, dst: Reg) -> "FunctionBuilder":
        return self._end(BPF_ALU | BPF_TO_BE, dst, 32)

    def be64(self, dst: Reg) -> "FunctionBuilder":
        return self._end(BPF_ALU | BPF_TO_BE, dst, 64)

    def le16(self, dst: Reg) -> "FunctionBuilder":
        """dst = htole16(dst) (truncation on a little-endian ISA)."""
        return self._end(BPF_ALU | BPF_TO_LE, dst, 16)

    def le32(self, dst: Reg) -> "FunctionBuilder":
        return self._end(BPF_ALU | BPF_TO_LE, dst, 32)

    def le64(self, dst: Reg) -> "FunctionBuilder":
        return self._end(BPF_ALU | BPF_TO_LE, dst, 64)

    def bswap16(self, dst: Reg) -> "FunctionBuilder":
        """Unconditional byte swap (cpu v4)."""
        return self._end(BPF_ALU64, dst, 16)

    def bswap32(self, dst: Reg) -> "FunctionBuilder":
        return self._end(BPF_ALU64, dst, 32)

    def bswap64(self, dst: Reg) -> "FunctionBuilder":
        return self._end(BPF_ALU64, dst, 64)

    # --- loads and stores ------------------------------------------------------------------
    def ldx(self, size: "str | int", dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        """dst = *(size *)(src + off), zero-extended."""
        return self._emit(Instruction(BPF_LDX | BPF_MEM | self._size(size),
                                      self._reg(dst, "destination"), self._reg(src, "source"),
                                      self._off(off)))

    def ldxs(self, size: "str | int", dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        """dst = *(s8/s16/s32 *)(src + off), sign-extended (cpu v4)."""
        sz = self._size(size)
        if sz == BPF_DW:
            raise OperandError(f"function {self.name}: sign-extending loads are b, h or w")
        return self._emit(Instruction(BPF_LDX | BPF_MEMSX | sz, self._reg(dst, "destination"),
                                      self._reg(src, "source"), self._off(off)))

    def ldxb(self, dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        return self.ldx("b", dst, src, off)

    def ldxh(self, dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        return self.ldx("h", dst, src, off)

    def ldxw(self, dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        return self.ldx("w", dst, src, off)

    def ldxdw(self, dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        return self.ldx("dw", dst, src, off)

    def ldxsb(self, dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        return self.ldxs("b", dst, src, off)

    def ldxsh(self, dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        return self.ldxs("h", dst, src, off)

    def ldxsw(self, dst: Reg, src: Reg, off: int = 0) -> "FunctionBuilder":
        return self.ldxs("w", dst, src, off)

    def stx(self, size: "str | int", dst: Reg, off: int, src: Reg) -> "FunctionBuilder":
        """*(size *)(dst + off) = src."""
        return self._emit(Instruction(BPF_STX | BPF_MEM | self._size(size),
                                      self._reg(dst, "destination"), self._reg(src, "source"),
                                      self._off(off)))

    def stxb(self, dst: Reg, off: int, src: Reg) -> "FunctionBuilder":
        return self.stx("b", dst, off, src)

    def stxh(self, dst: Reg, off: int, src: Reg) -> "FunctionBuilder":
        return self.stx("h", dst, off, src)

    def stxw(self, dst: Reg, off: int, src: Reg) -> "FunctionBuilder":
        return self.stx("w", dst, off, src)

    def stxdw(self, dst: Reg, off: int, src: Reg) -> "FunctionBuilder":
        return self.stx("dw", dst, off, src)

    def st(self, size: "str | int", dst: Reg, off: int, imm: int) -> "FunctionBuilder":
        """*(size *)(dst + off) = imm."""
        return self._emit(Instruction(BPF_ST | BPF_MEM | self._size(size),
                                      self._reg(dst, "destination"), 0, self._off(off),
                                      self._imm(imm)))

    def stb(self, dst: Reg, off: int, imm: int) -> "FunctionBuilder":
        return self.st("b", dst, off, imm)

    def sth(self, dst: Reg, off: int, imm: int) -> "FunctionBuilder":
        return self.st("h", dst, off, imm)

    def stw(self, dst: Reg, off: int, imm: int) -> "FunctionBuilder":
        return self.st("w", dst, off, imm)

    def stdw(self, dst: Reg, off: int, imm: int) -> "FunctionBuilder":
        return self.st("dw", dst, off, imm)

    # --- atomics ---------------------------------------------------------------------------
    def _atomic(self, size: "str | int", dst: Reg, off: int, src: Reg, op: int,
                rmw: bool = True) -> "FunctionBuilder":
        sz = self._size(size)
        if rmw and sz not in (BPF_W, BPF_DW):
            raise OperandError(f"function {self.name}: atomic read-modify-write operations "
                               "are 'w' or 'dw'")
        return self._emit(Instruction(BPF_STX | BPF_ATOMIC | sz, self._reg(dst, "destination"),
                                      self._reg(src, "source"), self._off(off), op))

    def atomic_add(self, size: "str | int", dst: Reg, off: int, src: Reg, *,
                   fetch: bool = False) -> "FunctionBuilder":
        """lock *(size *)(dst + off) += src; with `fetch`, src gets the old value."""
        return self._atomic(size, dst, off, src, isa.BPF_ADD | (BPF_FETCH if fetch else 0))

    def atomic_or(self, size: "str | int", dst: Reg, off: int, src: Reg, *,
                  fetch: bool = False) -> "FunctionBuilder":
        return self._atomic(size, dst, off, src, isa.BPF_OR | (BPF_FETCH if fetch else 0))

    def atomic_and(self, size: "str | int", dst: Reg, off: int, src: Reg, *,
                   fetch: bool = False) -> "FunctionBuilder":
        return self._atomic(size, dst, off, src, isa.BPF_AND | (BPF_FETCH if fetch else 0))

    def atomic_xor(self, size: "str | int", dst: Reg, off: int, src: Reg, *,
                   fetch: bool = False) -> "FunctionBuilder":
        return self._atomic(size, dst, off, src, isa.BPF_XOR | (BPF_FETCH if fetch else 0))

    def atomic_xchg(self, size: "str | int", dst: Reg, off: int, src: Reg) -> "FunctionBuilder":
        """src = xchg(*(size *)(dst + off), src)."""
        return self._atomic(size, dst, off, src, isa.BPF_XCHG)

    def atomic_cmpxchg(self, size: "str | int", dst: Reg, off: int,
                       src: Reg) -> "FunctionBuilder":
        """r0 = cmpxchg(*(size *)(dst + off), r0, src)."""
        return self._atomic(size, dst, off, src, isa.BPF_CMPXCHG)

    def load_acquire(self, size: "str | int", dst: Reg, src: Reg,
                     off: int = 0) -> "FunctionBuilder":
        """dst = load_acquire(*(size *)(src + off))."""
        sz = self._size(size)
        return self._emit(Instruction(BPF_STX | BPF_ATOMIC | sz, self._reg(dst, "destination"),
                                      self._reg(src, "source"), self._off(off),
                                      isa.BPF_LOAD_ACQ))

    def store_release(self, size: "str | int", dst: Reg, off: int,
                      src: Reg) -> "FunctionBuilder":
        """store_release(*(size *)(dst + off), src)."""
        return self._atomic(size, dst, off, src, isa.BPF_STORE_REL, rmw=False)

    # --- 64-bit immediates and legacy packet loads -----------------------------------------
    def lddw(self, dst: Reg, imm64: int) -> "FunctionBuilder":
        """dst = imm64 (two slots)."""
        if not _is_int(imm64) or not -(1 << 63) <= imm64 <= isa.M64:
            raise OperandError(f"function {self.name}: lddw takes a 64-bit int, got {imm64!r}")
        return self._emit(Instruction.lddw(self._reg(dst, "destination"), imm64))

    ld_imm64 = lddw

    def ld_map_fd(self, dst: Reg, map_name: str) -> "FunctionBuilder":
        """dst = the map `map_name` (BPF_PSEUDO_MAP_FD, resolved at link time)."""
        return self._emit(Instruction.lddw(self._reg(dst, "destination"), 0),
                          Ref("map_fd", self._name(map_name, "map")))

    def ld_map_value(self, dst: Reg, map_name: str, offset: int = 0) -> "FunctionBuilder":
        """dst = the address of byte `offset` of the value of single-slot array
        `map_name` (BPF_PSEUDO_MAP_VALUE: globals)."""
        if not _is_int(offset) or not 0 <= offset <= isa.M32 >> 1:
            raise OperandError(f"function {self.name}: map value offset {offset!r} is not a "
                               "non-negative int")
        return self._emit(Instruction.lddw(self._reg(dst, "destination"), 0),
                          Ref("map_value", self._name(map_name, "map"), offset))

    def ld_global(self, dst: Reg, name: str, offset: int = 0) -> "FunctionBuilder":
        """dst = the address of global variable `name` (+ offset): a map-value lddw into
        its section's map (ObjectBuilder.global_var)."""
        if not _is_int(offset) or not 0 <= offset <= isa.M32 >> 1:
            raise OperandError(f"function {self.name}: global offset {offset!r} is not a "
                               "non-negative int")
        return self._emit(Instruction.lddw(self._reg(dst, "destination"), 0),
                          Ref("global", self._name(name, "global variable"), offset))

    def ld_func(self, dst: Reg, func: str) -> "FunctionBuilder":
        """dst = the address of sub-program `func` (BPF_PSEUDO_FUNC: bpf_loop callbacks)."""
        return self._emit(Instruction(isa.OPCODE_LDDW, self._reg(dst, "destination"),
                                      isa.BPF_PSEUDO_FUNC),
                          Ref("func", self._name(func, "function")))

    def ld_abs(self, size: "str | int", imm: int) -> "FunctionBuilder":
        """r0 = the packet's bytes at imm (legacy, socket filters; r6 = skb)."""
        sz = self._size(size)
        if sz == BPF_DW:
            raise OperandError(f"function {self.name}: ld_abs loads b, h or w")
        return self._emit(Instruction(BPF_LD | BPF_ABS | sz, 0, 0, 0, self._imm(imm)))

    def ld_ind(self, size: "str | int", src: Reg, imm: int) -> "FunctionBuilder":
        """r0 = the packet's bytes at src + imm (legacy; r6 = skb)."""
        sz = self._size(size)
        if sz == BPF_DW:
            raise OperandError(f"function {self.name}: ld_ind loads b, h or w")
        return self._emit(Instruction(BPF_LD | BPF_IND | sz, 0, self._reg(src, "source"), 0,
                                      self._imm(imm)))

    # --- jumps -----------------------------------------------------------------------------
    def _name(self, name: object, what: str) -> str:
        if not isinstance(name, str) or not name:
            raise OperandError(f"function {self.name}: a {what} is named by a non-empty "
                               f"string, got {name!r}")
        return name

    def _jump_ref(self, target: Target, wide: bool = False) -> tuple[int, Ref | None]:
        if isinstance(target, str) and target:
            return 0, Ref("jump32" if wide else "jump", target)
        if _is_int(target):
            if wide:
                return self._imm(target, "jump offset"), None
            return self._off(target), None
        raise OperandError(f"function {self.name}: a jump target is a label name or an int "
                           f"offset, got {target!r}")

    def _jcond(self, cls: int, op: int, dst: Reg, src: "Reg | int",
               target: Target) -> "FunctionBuilder":
        d = self._reg(dst, "destination")
        off, ref = self._jump_ref(target)
        if isinstance(src, Reg):
            return self._emit(Instruction(cls | op | BPF_X, d, src.n, off, 0), ref)
        return self._emit(Instruction(cls | op | BPF_K, d, 0, off,
                                      self._imm(src, "comparand (register or immediate)")), ref)

    def ja(self, target: Target) -> "FunctionBuilder":
        """goto target (16-bit offset)."""
        off, ref = self._jump_ref(target)
        return self._emit(Instruction(isa.OPCODE_JA, 0, 0, off, 0), ref)

    def ja32(self, target: Target) -> "FunctionBuilder":
        """gotol target (32-bit offset, cpu v4)."""
        imm, ref = self._jump_ref(target, wide=True)
        return self._emit(Instruction(isa.OPCODE_JA32, 0, 0, 0, imm), ref)

    def may_goto(self, target: Target) -> "FunctionBuilder":
        """may_goto target: a bounded-loop escape the verifier counts."""
        off, ref = self._jump_ref(target)
        return self._emit(Instruction(BPF_JMP | isa.BPF_JCOND, 0, isa.BPF_MAY_GOTO, off, 0), ref)

    def jeq(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP, isa.BPF_JEQ, dst, src, target)

    def jeq32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JEQ, dst, src, target)

    def jne(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP, isa.BPF_JNE, dst, src, target)

    def jne32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JNE, dst, src, target)

    def jgt(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        """Unsigned >."""
        return self._jcond(BPF_JMP, isa.BPF_JGT, dst, src, target)

    def jgt32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JGT, dst, src, target)

    def jge(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP, isa.BPF_JGE, dst, src, target)

    def jge32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JGE, dst, src, target)

    def jlt(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP, isa.BPF_JLT, dst, src, target)

    def jlt32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JLT, dst, src, target)

    def jle(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP, isa.BPF_JLE, dst, src, target)

    def jle32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JLE, dst, src, target)

    def jsgt(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        """Signed >."""
        return self._jcond(BPF_JMP, isa.BPF_JSGT, dst, src, target)

    def jsgt32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JSGT, dst, src, target)

    def jsge(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP, isa.BPF_JSGE, dst, src, target)

    def jsge32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JSGE, dst, src, target)

    def jslt(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP, isa.BPF_JSLT, dst, src, target)

    def jslt32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JSLT, dst, src, target)

    def jsle(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP, isa.BPF_JSLE, dst, src, target)

    def jsle32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JSLE, dst, src, target)

    def jset(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        """if dst & src goto target."""
        return self._jcond(BPF_JMP, isa.BPF_JSET, dst, src, target)

    def jset32(self, dst: Reg, src: "Reg | int", target: Target) -> "FunctionBuilder":
        return self._jcond(BPF_JMP32, isa.BPF_JSET, dst, src, target)

    # --- calls -----------------------------------------------------------------------------
    def call(self, helper: "str | int") -> "FunctionBuilder":
        """Call a helper by name ("map_lookup_elem", "bpf_map_lookup_elem") or id."""
        return self._emit(Instruction(isa.OPCODE_CALL, 0, 0, 0, helper_id(helper)))

    def call_func(self, func: str) -> "FunctionBuilder":
        """A BPF-to-BPF call of sub-program `func` (linked in after the caller)."""
        return self._emit(Instruction(isa.OPCODE_CALL, 0, isa.BPF_PSEUDO_CALL, 0, 0),
                          Ref("call", self._name(func, "function")))

    def call_kfunc(self, name: str) -> "FunctionBuilder":
        """Call kernel function `name` (resolved in the kernel's BTF at load)."""
        return self._emit(Instruction(isa.OPCODE_CALL, 0, isa.BPF_PSEUDO_KFUNC_CALL, 0, 0),
                          Ref("kfunc", self._name(name, "kernel function")))

    def callx(self, reg: Reg) -> "FunctionBuilder":
        """Call the function whose address is in `reg`."""
        return self._emit(Instruction(isa.OPCODE_CALLX, self._reg(reg)))

    def exit(self) -> "FunctionBuilder":
        """Return r0."""
        return self._emit(Instruction(isa.OPCODE_EXIT))

    def ret(self, value: "Reg | int") -> "FunctionBuilder":
        """r0 = value; exit."""
        if not (isinstance(value, Reg) and value.n == 0):
            self.mov64(R0, value)
        return self.exit()


def helper_name(hid: int) -> str:
    return "bpf_" + HELPER_NAMES.get(hid, str(hid))
