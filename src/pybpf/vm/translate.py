"""Translation of bytecode into Python: each basic block becomes straight-line Python
over locals r0-r10, blocks are reached through a binary dispatch tree on the pc, and a
long program becomes a function per chunk, each compiled when pc first enters it.
The machine that runs the result is pybpf.vm.machine; the blocks come from pybpf.cfg."""

from __future__ import annotations

import bisect
import itertools
import re
import struct
from array import array
from typing import TYPE_CHECKING, Callable, cast

from .. import isa
from ..cfg import ControlFlowGraph
from ..errors import (BytecodeError, HelperError, InstructionLimitExceeded, InvalidProgram,
                      PyBPFError, VMRuntimeError)
from ..helpers.registry import CallContext, HelperFn, ProgramExit, helper_name
from ..isa import (BPF_ABS, BPF_ADD, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_CMPXCHG, BPF_DIV,
                   BPF_FETCH, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP32, BPF_JNE,
                   BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_LOAD_ACQ, BPF_LSH,
                   BPF_MEMSX, BPF_MOD, BPF_MOV, BPF_MUL, BPF_NEG, BPF_OR, BPF_PSEUDO_CALL,
                   BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_RSH, BPF_STORE_REL, BPF_SUB,
                   BPF_TO_BE, BPF_X, BPF_XCHG, BPF_XOR, M32, M64, MAX_CALL_FRAMES, SIZE_BYTES,
                   MAX_BPF_STACK, InsnKind, Instruction)
from ..uapi import BPF_MAX_LOOPS
from .memory import _SIZE_MASK, CODE_SEGMENT, Memory

if TYPE_CHECKING:
    from .machine import VM

SIGN64 = 1 << 63
SIGN32 = 1 << 31
CORE_POISON_HELPER = 0xBAD2310  # the call a failed CO-RE relocation leaves (as libbpf)


def _sdiv(a: int, b: int, bits: int) -> int:
    """Signed division truncating toward zero (b != 0), wrapped to `bits`."""
    sign = 1 << (bits - 1)
    a = (a ^ sign) - sign
    b = (b ^ sign) - sign
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    return q & ((1 << bits) - 1)


def _smod(a: int, b: int, bits: int) -> int:
    """Signed remainder with the sign of the dividend (b != 0), wrapped to `bits`."""
    sign = 1 << (bits - 1)
    a = (a ^ sign) - sign
    b = (b ^ sign) - sign
    r = abs(a) % abs(b)
    if a < 0:
        r = -r
    return r & ((1 << bits) - 1)


def _bswap(v: int, nbytes: int) -> int:
    return int.from_bytes((v & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big")



_ALU_SYM = {BPF_ADD: "+", BPF_SUB: "-", BPF_MUL: "*", BPF_OR: "|", BPF_AND: "&", BPF_XOR: "^"}
_JMP_SYM = {BPF_JEQ: "==", BPF_JNE: "!=", BPF_JGT: ">", BPF_JGE: ">=", BPF_JLT: "<",
            BPF_JLE: "<="}
_JMP_SIGNED = {BPF_JSGT: ">", BPF_JSGE: ">=", BPF_JSLT: "<", BPF_JSLE: "<="}


def _alu(insn: Instruction) -> list[str]:
    is64 = insn.cls == BPF_ALU64
    m = "M64" if is64 else "M32"
    bits = 64 if is64 else 32
    d = f"r{insn.dst}"
    op = insn.op
    if insn.source == BPF_X:
        s = f"r{insn.src}" if is64 else f"(r{insn.src} & M32)"
    else:
        s = str(insn.imm & (M64 if is64 else M32))  # imm sign-extended, then unsigned
    dv = d if is64 else f"({d} & M32)"
    if op in _ALU_SYM:
        sym = _ALU_SYM[op]
        if is64 and op in (BPF_AND, BPF_OR, BPF_XOR):
            return [f"{d} = {d} {sym} {s}"]  # operands in [0, 2**64): so is the result
        if not is64:
            # +, -, *, &, |, ^: the low 32 bits of the result depend only on theirs
            src = f"r{insn.src}" if insn.source == BPF_X else s
            return [f"{d} = ({d} {sym} {src}) & M32"]
        return [f"{d} = ({d} {sym} {s}) & M64"]
    if op == BPF_MOV:
        if insn.source == BPF_X and insn.off:
            w = insn.off
            sb = 1 << (w - 1)
            return [f"{d} = ((((r{insn.src} & {(1 << w) - 1}) ^ {sb}) - {sb})) & {m}"]
        return [f"{d} = {s}"]
    if op == BPF_NEG:
        return [f"{d} = (-{d}) & {m}"]
    if op in (BPF_LSH, BPF_RSH, BPF_ARSH):
        amt = (f"({s} & {bits - 1})" if insn.source == BPF_X
               else str((insn.imm & M32) & (bits - 1)))
        if op == BPF_LSH:
            return [f"{d} = ({dv} << {amt}) & {m}"]
        if op == BPF_RSH:
            return [f"{d} = {dv} >> {amt}"]
        sign = SIGN64 if is64 else SIGN32
        return [f"{d} = ((({dv} ^ {sign}) - {sign}) >> {amt}) & {m}"]
    if op in (BPF_DIV, BPF_MOD):
        signed = insn.off == 1
        if insn.source == BPF_X:
            cond = s
        else:
            cond = "1" if int(s) else "0"
        if op == BPF_DIV:
            expr = (f"_sdiv({dv}, {s}, {bits})" if signed else f"{dv} // {s}")
            return [f"{d} = ({expr}) if {cond} else 0"]
        expr = f"_smod({dv}, {s}, {bits})" if signed else f"{dv} % {s}"
        return [f"{d} = ({expr}) if {cond} else {dv}"]
    raise AssertionError(f"unhandled alu op {op:#x}")


def _endian(insn: Instruction) -> str:
    d = f"r{insn.dst}"
    nbytes = insn.imm // 8
    swap = insn.cls == BPF_ALU64 or insn.source == BPF_TO_BE
    if swap:
        return f"{d} = _bswap({d}, {nbytes})"
    return f"{d} = {d} & {(1 << insn.imm) - 1}"


def _cond(insn: Instruction) -> str:
    is32 = insn.cls == BPF_JMP32
    d = f"r{insn.dst}"
    if insn.source == BPF_X:
        s = f"r{insn.src}"
    else:
        s = str(insn.imm & (M32 if is32 else M64))
    if is32:
        d = f"({d} & M32)"
        if insn.source == BPF_X:
            s = f"({s} & M32)"
    op = insn.op
    if op == BPF_JSET:
        return f"{d} & {s}"
    if op in _JMP_SYM:
        return f"{d} {_JMP_SYM[op]} {s}"
    sign = SIGN32 if is32 else SIGN64
    if insn.source == BPF_X:
        s = f"({s} ^ {sign})"
    else:
        s = str(int(s) ^ sign)
    return f"({d} ^ {sign}) {_JMP_SIGNED[op]} {s}"


def _atomic(insn: Instruction, pc: int) -> list[str]:
    size = SIZE_BYTES[insn.size]
    m = M64 if size == 8 else _SIZE_MASK[size]
    a = f"(r{insn.dst} + {insn.off}) & M64"
    s = f"r{insn.src}"
    op = insn.imm
    if op == BPF_LOAD_ACQ:  # dst = *(src + off)
        return [f"r{insn.dst} = ld((r{insn.src} + {insn.off}) & M64, {size}, {pc})"]
    if op == BPF_STORE_REL:
        return [f"st({a}, {size}, {s}, {pc})"]
    lines = [f"_a = {a}", f"_old = ld(_a, {size}, {pc})"]
    if op == BPF_CMPXCHG:
        lines += [f"if _old == (r0 & {m}): st(_a, {size}, {s}, {pc})", "r0 = _old"]
        return lines
    if op == BPF_XCHG:
        return lines + [f"st(_a, {size}, {s}, {pc})", f"{s} = _old"]
    sym = _ALU_SYM[op & ~BPF_FETCH]
    lines.append(f"st(_a, {size}, (_old {sym} {s}) & {m}, {pc})")
    if op & BPF_FETCH:
        lines.append(f"{s} = _old")
    return lines


MAX_BLOCK_INSNS = 1024  # a longer straight-line run is split into blocks of this many
CHUNK_INSNS = 4096  # instructions translated into one Python function (bounds compile memory)
_REGS = "r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10"
_STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}  # unsigned; lower case is signed
_KEEP_SB = "; sb = rg[r10 >> 32].buf"  # after r10 moves (dropped where sb is not read)


def _over_budget(pc: int, budget: int) -> None:
    raise InstructionLimitExceeded(pc, f"instruction budget of {budget} exhausted")


class _Translator:
    """The program's translation into Python, in O(n) time and memory.

    Basic blocks are the control-flow graph's (pybpf.cfg: a block starts at a jump
    target, after a jump, local call or exit, at a function start), with straight-line
    runs split every MAX_BLOCK_INSNS instructions, grouped into chunks of at most
    CHUNK_INSNS instructions. A program of one chunk becomes one function whose loop
    dispatches on pc through a binary tree over its blocks. A longer program becomes a
    function per chunk, each looping while pc stays inside it and returning the
    registers when a jump leaves it, and a driver that picks the chunk for pc; each
    chunk is compiled on its own the first time pc enters it, so compile time follows
    the code that runs and compile memory stays that of one chunk. Map references
    (lddw) are resolved up front, so a bad one fails the load whichever chunk holds it."""

    def __init__(self, cfg: ControlFlowGraph, vm: VM) -> None:
        self.cfg = cfg
        self.insns = cfg.insns
        self.vm = vm
        self.pcs = cfg.pcs
        self.total = cfg.total
        self.lddw = self._resolve_lddw()
        self.firsts = self._block_firsts()
        self.chunks = self._chunk_bounds()

    def _resolve_lddw(self) -> dict[int, int]:
        """The value of every map-referencing lddw, by pc."""
        values: dict[int, int] = {}
        resolver = self.vm.lddw_resolver
        for pc, insn in zip(self.pcs, self.insns):
            if insn.opcode != isa.OPCODE_LDDW or insn.src in (0, BPF_PSEUDO_FUNC):
                continue
            if resolver is None:
                raise InvalidProgram(pc, f"lddw with pseudo source {insn.src} needs maps or "
                                         "BTF, which this VM was not given (VM(..., maps=...))")
            try:
                values[pc] = resolver(insn) & M64
            except BytecodeError:
                raise
            except PyBPFError as e:
                raise InvalidProgram(pc, f"lddw with pseudo source {insn.src}: {e}") from e
        return values

    def _block_firsts(self) -> array:
        """The index of each block's first instruction, in pc order: the graph's blocks,
        with straight-line runs longer than MAX_BLOCK_INSNS split."""
        leaders, n = self.cfg.leaders, len(self.insns)
        firsts = array("q")
        for b, first in enumerate(leaders):
            end = leaders[b + 1] if b + 1 < len(leaders) else n
            firsts.extend(range(first, end, MAX_BLOCK_INSNS))
        return firsts

    def _chunk_bounds(self) -> array:
        """The index (into `firsts`) of each chunk's first block, then the block count."""
        firsts, n = self.firsts, len(self.insns)
        bounds = array("q", [0])
        size = 0
        for b in range(len(firsts)):
            count = (firsts[b + 1] if b + 1 < len(firsts) else n) - firsts[b]
            if size and size + count > CHUNK_INSNS:
                bounds.append(b)
                size = 0
            size += count
        bounds.append(len(firsts))
        return bounds

    # --- one block, one chunk -----------------------------------------------------------
    def _first(self, b: int) -> int:
        return self.firsts[b] if b < len(self.firsts) else len(self.insns)

    def _start(self, b: int) -> int:
        i = self._first(b)
        return self.pcs[i] if i < len(self.insns) else self.total

    def _block(self, b: int, ns: dict) -> list[str]:
        first, last = self._first(b), self._first(b + 1)
        start, end = self._start(b), self._start(b + 1)
        loop = self._self_loop(first, last, start, ns)
        if loop is not None:
            return loop
        body = [f"n += {last - first}"]
        terminated = False
        derived: set[int] = set()
        fuse = _Fuser()
        for i in range(first, last):
            lines, terminated = _translate(self.insns[i], self.pcs[i], ns, self.vm, self.lddw,
                                           derived)
            body.extend(fuse(self.insns[i], lines))
        body.extend(fuse.flush())
        if not terminated:
            if end >= self.total:
                body.append(f"raise VMRuntimeError({end - 1}, 'fell off the end of the program')")
            else:
                body.append(f"pc = {end}")
        return body

    def _self_loop(self, first: int, last: int, start: int, ns: dict) -> list[str] | None:
        """A block whose last instruction jumps back to its own start (the common inner
        loop) as a Python loop: it goes round without the dispatch on pc, the budget
        checked on each back edge. A body that neither reads the count nor ends the run
        (_COUNTED_KINDS) goes round in a `for` over the trips the budget allows, its
        loads and stores through a region cache each (see _counted, _cached). None for
        any other block."""
        insn = self.insns[last - 1]
        kind = isa.classify(insn)
        if kind not in (InsnKind.JA, InsnKind.JCOND):
            return None
        pc = self.pcs[last - 1]
        if isa.jump_target(insn, pc) != start:
            return None
        counted = all(isa.classify(self.insns[i]) in _COUNTED_KINDS
                      for i in range(first, last - 1))
        sites: list[int] | None = [] if counted else None
        body: list[str] = []
        derived: set[int] = set()
        fuse = _Fuser()
        for i in range(first, last - 1):
            lines, terminated = _translate(self.insns[i], self.pcs[i], ns, self.vm, self.lddw,
                                           derived, sites)
            if terminated:  # pragma: no cover - blocks end at their first jump
                return None
            body.extend(fuse(self.insns[i], lines))
        body.extend(fuse.flush())
        if sites is not None:
            return _counted(body, last - first, insn, pc, sites)
        body.insert(0, f"n += {last - first}")
        check = f"if n > budget: _over_budget({pc}, budget)"
        if kind == InsnKind.JA:
            tail = [check]
        else:
            tail = [f"if not ({_cond(insn)}):", f"    pc = {pc + insn.slots}", "    break",
                    check]
        return ["while True:"] + ["    " + line for line in _indent(body + tail)]

    def _dispatch(self, lo: int, hi: int, indent: str, ns: dict, out: list[str]) -> None:
        """Blocks [lo, hi) behind a binary dispatch tree on pc."""
        if hi - lo == 1:
            out.extend(indent + line for line in _indent(self._block(lo, ns)))
            return
        mid = (lo + hi) // 2
        out.append(f"{indent}if pc < {self._start(mid)}:")
        self._dispatch(lo, mid, indent + "    ", ns, out)
        out.append(f"{indent}else:")
        self._dispatch(mid, hi, indent + "    ", ns, out)

    _HEAD = ("    r0 = r6 = r7 = r8 = r9 = 0\n    r10 = stack_tops[0]\n"
             "    frames = []; mg = _MAX_LOOPS\n    maxf = len(stack_tops) - 1\n")
    # the memory accessors a chunk calls, bound once per call of its function
    _ACCESSORS = ("ld", "st", "ld1", "ld2", "ld4", "ld8", "st1", "st2", "st4", "st8")
    _ACCESS_OF = {"ld": "load", "st": "store", **{f"ld{n}": f"load{n}" for n in (1, 2, 4, 8)},
                  **{f"st{n}": f"store{n}" for n in (1, 2, 4, 8)}}

    def _prologue(self, body: str) -> tuple[str, str]:
        """The locals a chunk's body uses: the memory accessors it calls, the regions
        and the current frame's stack buffer `sb` (kept as calls and returns move r10,
        where the chunk reads the stack directly); and the body as it then is."""
        names = [a for a in self._ACCESSORS if f"{a}(" in body]
        binds = "; ".join(f"{a} = mem.{self._ACCESS_OF[a]}" for a in names)
        head = f"    {binds}\n" if binds else ""
        if "(sb," not in body:
            return head, body.replace(_KEEP_SB, "")
        return "    rg = mem.regions; sb = rg[r10 >> 32].buf\n" + head, body
    _TAIL = "    except ProgramExit as _e:\n        return _e.retval, n\n"
    _SIGNATURE = "def _program(ctx, mem, stack_tops, r1, r2, r3, r4, r5, budget, pc=0, n=0):\n"

    @property
    def chunk_count(self) -> int:
        return len(self.chunks) - 1

    def chunk_source(self, k: int, ns: dict) -> str:
        """The source of chunk k: `_chunk<k>`, or `_program` when it is the only one."""
        lo, hi = self.chunks[k], self.chunks[k + 1]
        body: list[str] = []
        self._dispatch(lo, hi, "        ", ns, body)
        prologue, text = self._prologue("\n".join(body))
        if self.chunk_count == 1:
            head = [self._SIGNATURE + self._HEAD + prologue + "    try:\n     while True:"]
        else:
            pc_lo, pc_hi = self._start(lo), self._start(hi)
            head = [f"def _chunk{k}(ctx, mem, stack_tops, {_REGS}, pc, n, budget, frames, mg, "
                    f"maxf):\n{prologue}    try:\n     while True:",
                    f"        if not {pc_lo} <= pc < {pc_hi}: return ({_REGS}, pc, n, mg)"]
        return "\n".join(head) + "\n" + text + "\n" + self._TAIL

    def driver_source(self) -> str:
        """`_program` of a program of several chunks: run the chunk pc is in until the
        program returns (a 2-tuple) or pc leaves it."""
        return (self._SIGNATURE + self._HEAD
                + "    chunks = _chunk_fns; starts = _chunk_starts\n    while True:\n"
                "        st = chunks[_bisect(starts, pc) - 1](ctx, mem, stack_tops, "
                f"{_REGS}, pc, n, budget, frames, mg, maxf)\n"
                "        if len(st) == 2: return st\n"
                f"        {_REGS}, pc, n, mg = st\n")

    def source(self) -> str:
        ns = self.namespace()
        parts = [self.chunk_source(k, ns) for k in range(self.chunk_count)]
        if self.chunk_count > 1:
            parts.append(self.driver_source())
        return "".join(parts)

    # --- compiling -----------------------------------------------------------------------
    def namespace(self) -> dict[str, object]:
        return {
            "M32": M32, "M64": M64, "_sdiv": _sdiv, "_smod": _smod, "_bswap": _bswap,
            "ProgramExit": ProgramExit, "VMRuntimeError": VMRuntimeError,
            "HelperError": HelperError, "_over_budget": _over_budget,
            "_MAX_FRAMES": MAX_CALL_FRAMES, "_MAX_LOOPS": BPF_MAX_LOOPS,
            "_callx": _make_callx(self.vm), "_ldpkt": _ldpkt,
            "_load_cached": _load_cached, "_store_cached": _store_cached,
            "_repeat": itertools.repeat, "_MAX_TRIPS": _MAX_TRIPS,
            "_bisect": bisect.bisect_right,
            **{f"_{sign}{8 * size}": struct.Struct("<" + (code.lower() if sign == "S" else code)
                                                   ).unpack_from
               for size, code in _STRUCT_CODES.items() for sign in "SU"},
            **{f"_P{8 * size}": struct.Struct("<" + code).pack_into
               for size, code in _STRUCT_CODES.items()},
        }

    def compile(self) -> Callable:
        """`_program`: compiled now for a program of one chunk; for a longer one the
        driver, with each chunk compiled when pc first enters it."""
        ns = self.namespace()
        if self.chunk_count == 1:
            exec(compile(self.chunk_source(0, ns), "<bpf program>", "exec"), ns)
            return ns["_program"]  # type: ignore[return-value]  # exec defined it
        fns: list[Callable] = [self._lazy(k, ns) for k in range(self.chunk_count)]
        ns["_chunk_fns"] = fns
        ns["_chunk_starts"] = [self._start(self.chunks[k]) for k in range(self.chunk_count)]
        exec(compile(self.driver_source(), "<bpf program>", "exec"), ns)
        return ns["_program"]  # type: ignore[return-value]  # exec defined it

    def _lazy(self, k: int, ns: dict) -> Callable:
        """Chunk k's stand-in until it is compiled: the run that first enters it pays
        for the translation in its budget (one instruction per instruction translated,
        CHUNK_INSNS at most), then it compiles and runs."""
        fns_name = f"_chunk{k}"
        cost = self._first(self.chunks[k + 1]) - self._first(self.chunks[k])

        def first_entry(*args: object) -> object:
            # args: ctx, mem, stack_tops, r0-r10, pc, n, budget, frames, mg, maxf
            pc, n, budget = cast(tuple[int, int, int], args[14:17])
            n += cost
            if n > budget:
                raise InstructionLimitExceeded(
                    pc, f"instruction budget of {budget} exhausted (translating the "
                        f"{cost} instructions of the code at pc {pc})")
            exec(compile(self.chunk_source(k, ns), f"<bpf program chunk {k}>", "exec"), ns)
            fn = ns[fns_name]
            ns["_chunk_fns"][k] = fn
            return fn(*args[:15], n, *args[16:])
        return first_entry


_MAX_TRIPS = 1 << 62  # the most trips a counted loop makes (itertools.repeat's count fits)
# what a counted self-loop's body may hold: nothing that reads the count (a call, whose
# helper is charged against it) or ends the run with it (LD_ABS/LD_IND past the packet)
_COUNTED_KINDS = frozenset({InsnKind.ALU, InsnKind.ENDIAN, InsnKind.LDDW, InsnKind.LDX,
                            InsnKind.ST, InsnKind.STX, InsnKind.ATOMIC})


def _counted(body: list[str], count: int, insn: Instruction, pc: int,
             sites: list[int]) -> list[str]:
    """A self-loop of `count` instructions (`body`, then the jump at `pc` back to its
    start) as a `for` over the trips the budget allows: with n on entry, the back edge
    of trip i (from 1) is over budget once n + count * i > budget, so the loop may go
    round max(0, (budget - n) // count) + 1 times, the last back edge failing; n is
    charged once, on the way out, with the trips taken (what the `itertools.repeat`
    driving the loop has left says how many). The same count and the same failure as
    the `n += count ... if n > budget` of each trip, without them. (Past _MAX_TRIPS
    trips, centuries of Python, the loop would stop short of a budget that big.) The
    region caches of the loop's access `sites` (_cached) start empty on each entry."""
    trips = [f"_b{p} = 0; _m{p} = b''; _l{p} = -1" for p in sites]
    trips += [f"_t = (budget - n) // {count}",
              "_k = (_t + 1 if _t < _MAX_TRIPS else _MAX_TRIPS) if _t > 0 else 1",
              "_r = _repeat(None, _k)",
              "for _ in _r:"]
    fail = ["else:", f"    _over_budget({pc}, budget)"]
    if isa.classify(insn) == InsnKind.JA:  # leaves only through the budget (or a fault)
        return trips + ["    " + line for line in _indent(body)] + fail
    exit_ = [f"if not ({_cond(insn)}):", "    break"]
    return (trips + ["    " + line for line in _indent(body + exit_)] + fail
            + [f"n += {count} * (_k - _r.__length_hint__())", f"pc = {pc + insn.slots}"])


def _indent(lines: list[str]) -> list[str]:
    """Lines may contain embedded newlines for nested statements; keep them aligned."""
    out = []
    for line in lines:
        out.extend(line.split("\n"))
    return out


class _Fuser:
    """Folds a 64-bit register move into the ALU instruction right after it that
    overwrites the same register (`r4 = r6; r4 += r3` becomes `r4 = (r6 + r3) & M64`):
    one Python statement less, the same result (the moved value is dead once
    overwritten, and r6 still holds it). Call with each instruction and its lines;
    returns the lines to emit now; flush() at the end of the block."""

    def __init__(self) -> None:
        self.held: tuple[int, int, list[str]] | None = None  # (dst, src, lines) of a move

    def __call__(self, insn: Instruction, lines: list[str]) -> list[str]:
        out: list[str] = []
        kind = isa.classify(insn)
        if self.held is not None:
            dst, src, held_lines = self.held
            self.held = None
            if kind == InsnKind.ALU and insn.dst == dst and len(lines) == 1 \
                    and "\n" not in lines[0] and lines[0].startswith(f"r{dst} = "):
                rhs = lines[0][len(f"r{dst} = "):]
                return [f"r{dst} = " + re.sub(rf"\br{dst}\b", f"r{src}", rhs)]
            out.extend(held_lines)
        if kind == InsnKind.ALU and insn.cls == BPF_ALU64 and insn.op == BPF_MOV and \
                insn.source == BPF_X and not insn.off and insn.dst != insn.src:
            self.held = (insn.dst, insn.src, lines)
            return out
        return out + lines

    def flush(self) -> list[str]:
        held, self.held = self.held, None
        return held[2] if held is not None else []


def _stack_derived(insn: Instruction, kind: InsnKind, derived: set[int]) -> None:
    """Follow, through a block, which registers hold r10 plus or minus something (a
    pointer into the frame's stack, most likely): `r = r10`, then adds and subtracts.
    Only a hint for which accesses get the inline stack fast path (checked at run
    time, so a wrong guess costs time, never a result)."""
    if kind == InsnKind.ALU and insn.cls == BPF_ALU64:
        if insn.op == BPF_MOV and insn.source == BPF_X and not insn.off:
            if insn.src == 10 or insn.src in derived:
                derived.add(insn.dst)
                return
        elif insn.op in (BPF_ADD, BPF_SUB) and insn.dst in derived:
            return
    if kind == InsnKind.CALL or kind == InsnKind.CALLX:
        derived.difference_update(range(6))
    elif kind in (InsnKind.ALU, InsnKind.ENDIAN, InsnKind.LDDW, InsnKind.LDX):
        derived.discard(insn.dst)
    elif kind in (InsnKind.LD_ABS, InsnKind.LD_IND):
        derived.difference_update(range(6))
    elif kind == InsnKind.ATOMIC:
        derived.discard(insn.src)
        derived.discard(0)


def _access(insn: Instruction, pc: int, size: int, derived: set[int], reg: int,
            value: str | None, sites: list[int] | None = None) -> list[str]:
    """A load (value None, into dst) or store of `size` bytes at reg + off through the
    memory's accessors; for a register that points into the stack (see
    _stack_derived), first an inline check that the access lies in the frame's stack
    buffer `sb`, which is then read or written directly; with `sites`, any other
    through the site's region cache (_cached)."""
    off = insn.off
    addr = f"r{reg}" if off == 0 else f"(r{reg} + {off}) & M64"
    generic = (f"ld{size}({addr}, {pc})" if value is None
               else f"st{size}({addr}, {value}, {pc})")
    if reg not in derived:
        if sites is not None:
            sites.append(pc)
            return _cached(insn.dst, reg, off, pc, size, value)
        return [f"r{insn.dst} = {generic}" if value is None else generic]
    inline = [f"_o = r{reg} - r10 + {MAX_BPF_STACK + off}"]
    if value is None:
        return inline + [f"r{insn.dst} = _U{size * 8}(sb, _o)[0] if 0 <= _o <= "
                         f"{MAX_BPF_STACK - size} else {generic}"]
    return inline + [f"if 0 <= _o <= {MAX_BPF_STACK - size}: _P{size * 8}(sb, _o, {value})",
                     f"else: {generic}"]


def _cached(dst: int, reg: int, off: int, pc: int, size: int, value: str | None) -> list[str]:
    """A load (value None, into r`dst`) or store at r`reg` + `off` through the site's
    cache of the last region it reached: `_b<pc>` its base, `_m<pc>` its buffer and
    `_l<pc>` the last offset an access of `size` may start at (-1: none, so every
    access goes to _load_cached / _store_cached, which fill it; a region with an
    access hook is never cached, a read-only one never for a store). Only in a loop
    without calls, where no region can be remapped or resized under it."""
    o = f"_o = r{reg} - _b{pc}" if off == 0 else f"_o = r{reg} + {off} - _b{pc}"
    addr = f"r{reg}" if off == 0 else f"(r{reg} + {off}) & M64"
    fast = f"_m{pc}[_o]" if size == 1 else f"_U{size * 8}(_m{pc}, _o)[0]"
    if value is None:
        return [o, f"if 0 <= _o <= _l{pc}: r{dst} = {fast}",
                f"else: r{dst}, _b{pc}, _m{pc}, _l{pc} = _load_cached(mem, {addr}, {size}, "
                f"{pc})"]
    put = f"_m{pc}[_o] = {value}" if size == 1 else f"_P{size * 8}(_m{pc}, _o, {value})"
    return [o, f"if 0 <= _o <= _l{pc}: {put}",
            f"else: _b{pc}, _m{pc}, _l{pc} = _store_cached(mem, {addr}, {size}, {value}, "
            f"{pc})"]


def _site_cache(mem: Memory, addr: int, size: int) -> tuple[int, object, int]:
    """What a cached site keeps of the region `addr` lies in, after an access of `size`
    there succeeded: (base, buffer, last start), or (0, b"", -1) for a region with an
    access hook (never cached)."""
    region = mem.regions[addr >> 32]
    if region.access is not None:
        return 0, b"", -1
    return region.base, region.buf, len(region.buf) - size


def _load_cached(mem: Memory, addr: int, size: int, pc: int) -> tuple[int, int, object, int]:
    """A cached site's slow load: the value (or the memory's fault), then the site's
    new cache (_site_cache)."""
    return (mem.load(addr, size, pc), *_site_cache(mem, addr, size))


def _store_cached(mem: Memory, addr: int, size: int, value: int, pc: int
                  ) -> tuple[int, object, int]:
    """A cached site's slow store (or the memory's fault: a read-only region never
    gets past it), then the site's new cache (_site_cache)."""
    mem.store(addr, size, value, pc)
    return _site_cache(mem, addr, size)


def _translate(insn: Instruction, pc: int, ns: dict, vm: VM,
               lddw: dict[int, int], derived: set[int] | None = None,
               sites: list[int] | None = None) -> tuple[list[str], bool]:
    """Python statements for one instruction, and whether it ends the block.
    `derived`: the registers that point into the stack so far in the block (updated);
    `sites`, in a loop without calls: loads and stores other than the stack's go
    through a region cache each (_cached), their pcs appended."""
    kind = isa.classify(insn)
    if derived is None:
        derived = set()
    lines, ends = _translate_insn(insn, kind, pc, ns, vm, lddw, derived, sites)
    _stack_derived(insn, kind, derived)
    return lines, ends


def _translate_insn(insn: Instruction, kind: InsnKind, pc: int, ns: dict, vm: VM,
                    lddw: dict[int, int], derived: set[int],
                    sites: list[int] | None = None) -> tuple[list[str], bool]:
    nxt = pc + insn.slots
    if kind == InsnKind.ALU:
        return _alu(insn), False
    if kind == InsnKind.ENDIAN:
        return [_endian(insn)], False
    if kind == InsnKind.LDDW:
        if insn.src == 0:
            return [f"r{insn.dst} = {insn.imm64}"], False
        if insn.src == BPF_PSEUDO_FUNC:
            return [f"r{insn.dst} = {(CODE_SEGMENT << 32) + (pc + 1 + insn.imm) * 8}"], False
        return [f"r{insn.dst} = {lddw[pc]}"], False
    if kind in (InsnKind.LD_ABS, InsnKind.LD_IND):
        size = SIZE_BYTES[insn.size]
        off = str(insn.imm) if insn.mode == BPF_ABS else f"(r{insn.src} + {insn.imm})"
        return [f"r0 = _ldpkt(mem, {off}, {size}, {pc})"], False
    if kind == InsnKind.LDX:
        size = SIZE_BYTES[insn.size]
        signed = insn.mode == BPF_MEMSX
        if insn.src == 10 and _on_stack(insn.off, size):
            # the frame's own stack at a constant offset: no region lookup, no bounds
            # check at run time (r10 is read-only, so sb is the frame's stack buffer)
            kind_ = "S" if signed else "U"
            load = f"_{kind_}{size * 8}(sb, {MAX_BPF_STACK + insn.off})[0]"
            return [f"r{insn.dst} = {load} & M64" if signed else f"r{insn.dst} = {load}"], False
        if signed:
            sign = 1 << (8 * size - 1)
            load = f"ld{size}((r{insn.src} + {insn.off}) & M64, {pc})"
            return [f"r{insn.dst} = ((({load}) ^ {sign}) - {sign}) & M64"], False
        return _access(insn, pc, size, derived, insn.src, None, sites), False
    if kind in (InsnKind.ST, InsnKind.STX):
        size = SIZE_BYTES[insn.size]
        if kind == InsnKind.ST:
            value = str(insn.imm & _SIZE_MASK[size])
        else:
            value = f"r{insn.src}" if size == 8 else f"r{insn.src} & {_SIZE_MASK[size]}"
        if insn.dst == 10 and _on_stack(insn.off, size):
            return [f"_P{size * 8}(sb, {MAX_BPF_STACK + insn.off}, {value})"], False
        return _access(insn, pc, size, derived, insn.dst, value, sites), False
    if kind == InsnKind.ATOMIC:
        return _atomic(insn, pc), False
    # The budget is checked where execution can come back: on back edges, calls and
    # the program's exit (every block still counts its instructions in n).
    check = f"if n > budget: _over_budget({pc}, budget)"
    if kind == InsnKind.JA:
        tgt = isa.jump_target(insn, pc)
        return ([check] if tgt is not None and tgt <= pc else []) + [f"pc = {tgt}"], True
    if kind == InsnKind.JCOND:
        tgt = isa.jump_target(insn, pc)
        if tgt is not None and tgt <= pc:
            return [f"if {_cond(insn)}:\n    {check}\n    pc = {tgt}\nelse:\n    pc = {nxt}"
                    ], True
        return [f"pc = {tgt} if {_cond(insn)} else {nxt}"], True
    if kind == InsnKind.MAY_GOTO:
        tgt = isa.jump_target(insn, pc)
        return [check, f"if mg > 0:\n    mg -= 1\n    pc = {nxt}\nelse:\n    pc = {tgt}"], True
    if kind == InsnKind.EXIT:
        return [f"if not frames:\n    {check}\n    return r0, n",
                "pc, r6, r7, r8, r9, r10, mg = frames.pop()" + _KEEP_SB], True
    if kind == InsnKind.CALL:
        if insn.src == BPF_PSEUDO_CALL:
            tgt = isa.jump_target(insn, pc)
            return [check,
                    f"if len(frames) >= maxf: raise VMRuntimeError({pc}, "
                    f"'call depth exceeds {MAX_CALL_FRAMES} frames')",
                    f"frames.append(({nxt}, r6, r7, r8, r9, r10, mg))",
                    "r10 = stack_tops[len(frames)]; mg = _MAX_LOOPS" + _KEEP_SB,
                    f"pc = {tgt}"], True
        if insn.src == BPF_PSEUDO_KFUNC_CALL:
            return [f"raise HelperError({pc}, 'kfunc call (BTF id {insn.imm}): the VM has no "
                    "kernel functions')"], True
        helper = vm.helpers.get(insn.imm)
        if insn.imm == CORE_POISON_HELPER and helper is None:
            return [f"raise VMRuntimeError({pc}, 'reached an instruction poisoned by a CO-RE "
                    "relocation that could not be resolved')"], True
        if helper is None:
            return [f"raise HelperError({pc}, 'call to {helper_name(insn.imm)} ({insn.imm}), "
                    "which this VM does not provide')"], True
        name = f"_h{insn.imm}"
        ns[name] = helper.fn
        if helper.frame:
            return [f"ctx.pc = {pc}; ctx.n = n",
                    f"r0, n = {name}(ctx, r1, r2, r3, r4, r5, mem, stack_tops[len(frames):], "
                    "n, budget)",
                    "r0 &= M64"], False
        return [f"ctx.pc = {pc}; ctx.n = n",
                f"r0 = {name}(ctx, r1, r2, r3, r4, r5) & M64",
                "n = ctx.n"], False
    if kind == InsnKind.CALLX:
        return [check, "ctx.n = n",
                f"pc, r0, _fr = _callx(ctx, {pc}, r{insn.dst}, r0, r1, r2, r3, r4, r5, "
                f"len(frames) + _MAX_FRAMES - 1 - maxf)",
                "n = ctx.n",
                "if _fr:",
                f"    frames.append(({nxt}, r6, r7, r8, r9, r10, mg))",
                "    r10 = stack_tops[len(frames)]; mg = _MAX_LOOPS" + _KEEP_SB,
                "else:",
                f"    pc = {nxt}"], True
    raise AssertionError(f"unhandled instruction kind {kind}")


def _on_stack(off: int, size: int) -> bool:
    """Whether [r10 + off, r10 + off + size) lies inside the frame's stack."""
    return -MAX_BPF_STACK <= off and off + size <= 0


def _make_callx(vm: VM) -> Callable:
    """callx target: a code address (from lddw BPF_PSEUDO_FUNC) is a local call;
    a small integer is a helper ID (the conformance suite's convention)."""
    func_starts = vm._func_starts

    def callx(ctx: CallContext, pc: int, target: int, r0: int, r1: int, r2: int, r3: int,
              r4: int, r5: int, depth: int) -> tuple[int, int, bool]:
        if target >> 32 == CODE_SEGMENT:
            tpc = (target & M32) // 8
            if (target & 7) or tpc not in func_starts:
                raise VMRuntimeError(pc, f"callx to {target:#x}, which is not a function start")
            if depth >= MAX_CALL_FRAMES - 1:
                raise VMRuntimeError(pc, f"call depth exceeds {MAX_CALL_FRAMES} frames")
            return tpc, r0, True
        helper = vm.helpers.get(target)
        if helper is None:
            raise HelperError(pc, f"callx to unknown helper {target:#x}")
        if helper.frame:
            raise HelperError(pc, f"{helper.name} cannot be called through callx")
        ctx.pc = pc
        fn = cast(HelperFn, helper.fn)  # not a frame helper
        return -1, fn(ctx, r1, r2, r3, r4, r5) & M64, False

    return callx


SKF_NET_OFF = -0x100000
SKF_LL_OFF = -0x200000


def _ldpkt(mem: Memory, off: int, size: int, pc: int) -> int:
    """LD_ABS/LD_IND: a big-endian load from the packet at `off` from skb->data, or for
    the negative SKF_NET_OFF / SKF_LL_OFF bases from the network / MAC header. Out of
    bounds ends the program with r0 = 0, as in the kernel."""
    pkt = mem.packet
    off = isa.s32(off)
    if pkt is None:
        raise VMRuntimeError(pc, "legacy packet load (LD_ABS/LD_IND) without a packet")
    data, mac, net = mem.packet_headers or (0, None, 0)
    if off >= 0:
        start = data + off
    elif off >= SKF_NET_OFF and mem.packet_headers is not None:
        start = net + off - SKF_NET_OFF
    elif off >= SKF_LL_OFF and mac is not None:
        start = mac + off - SKF_LL_OFF
    else:
        raise ProgramExit(0)
    if start < 0 or start + size > pkt.size:
        raise ProgramExit(0)
    return int.from_bytes(pkt.buf[start:start + size], "big")
