"""BPF to LLVM IR: the whole program becomes one function `@bpf_main(ptr %st)` over
allocas r0-r10 (promoted to SSA by LLVM), one LLVM block per interpreter block; within
a block register values are kept in Python and stored only before a branch.

The semantics are the interpreter's (pybpf.vm.translate), instruction by instruction:
division by zero gives 0 (mod: the dividend), INT_MIN / -1 wraps, shift amounts are
masked, 32-bit results are zero-extended. Instructions are counted per block as the
interpreter counts them and checked where it checks them (back edges, calls, may_goto, the
exit), so the budget ends a run at the same pc with the same count; the count is kept as
what remains of the budget (one subtraction a block, a sign test at a check).
BPF-to-BPF calls keep an explicit frame stack (r6-r9, r10, may_goto count, return pc)
and return through a switch over the call sites, so an unverified program behaves
exactly as on the interpreter. Loads and stores: pybpf.jit.access."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import isa
from ..cfg import ControlFlowGraph
from ..isa import (BPF_ABS, BPF_ADD, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_CMPXCHG, BPF_DIV,
                   BPF_FETCH, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP32, BPF_JNE,
                   BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_LOAD_ACQ, BPF_LSH,
                   BPF_MEMSX, BPF_MOD, BPF_MOV, BPF_MUL, BPF_NEG, BPF_OR, BPF_PSEUDO_CALL,
                   BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_RSH, BPF_STORE_REL, BPF_SUB,
                   BPF_TO_BE, BPF_X, BPF_XCHG, BPF_XOR, M32, M64, MAX_BPF_STACK, MAX_CALL_FRAMES,
                   SIZE_BYTES, InsnKind, Instruction)
from ..uapi import BPF_MAX_LOOPS
from ..vm import CODE_SEGMENT, MAX_BLOCK_INSNS
from . import fastcall
from .fastcall_ir import fast_ir
from .layout import NO_FRAME, Op, Slot, Status
from .access import access, stack_registers
from .runtime_ir import CALLBACK_TYPE, INVARIANT, callee, metadata, runtime_ir

_BIN = {BPF_ADD: "add", BPF_SUB: "sub", BPF_MUL: "mul", BPF_OR: "or", BPF_AND: "and",
        BPF_XOR: "xor"}
_SHIFT = {BPF_LSH: "shl", BPF_RSH: "lshr", BPF_ARSH: "ashr"}
_CMP = {BPF_JEQ: "eq", BPF_JNE: "ne", BPF_JGT: "ugt", BPF_JGE: "uge", BPF_JLT: "ult",
        BPF_JLE: "ule", BPF_JSGT: "sgt", BPF_JSGE: "sge", BPF_JSLT: "slt", BPF_JSLE: "sle"}
_SAVED = ("r6", "r7", "r8", "r9", "r10", "mg", "ret")


def _c64(v: int) -> str:
    """An i64 constant, written signed as LLVM expects."""
    v &= M64
    return str(v - (1 << 64) if v >> 63 else v)


def _c32(v: int) -> str:
    v &= M32
    return str(v - (1 << 32) if v >> 31 else v)


@dataclass
class _Fn:
    """The body of @bpf_main being written: lines, fresh SSA names, and the values of
    the register and counter allocas known in the block being written (`vals`;
    `dirty` ones not stored yet: every branch to another block stores them first)."""

    lines: list[str] = field(default_factory=list)
    k: int = 0
    cur: str = "entry"  # the LLVM block being written
    # the failure exits (over_budget, depth_fail, static_fail): (pc, from block) pairs
    fails: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    vals: dict[str, str] = field(default_factory=dict)
    dirty: dict[str, None] = field(default_factory=dict)  # ordered: stable IR
    memo: dict[str, str] = field(default_factory=dict)  # other values of the block
    # the pointer a value was computed from (ptr + x, ptr - x), for the region lookup
    origin: dict[str, str] = field(default_factory=dict)
    # allocas whose value is the same everywhere (a program of one frame: r10, DEPTH)
    fixed: dict[str, str] = field(default_factory=dict)

    def t(self) -> str:
        self.k += 1
        return f"%t{self.k}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def label(self, name: str, keep: bool = False) -> None:
        """Start block `name`. `keep`: its only predecessor is the block just written
        (whose values dominate it); otherwise the allocas are read again."""
        if not keep:
            assert not self.dirty, "values left unstored at a block boundary"
            self.vals.clear()
            self.memo.clear()
            self.origin.clear()
        self.lines.append(f"{name}:")
        self.cur = name

    def flush(self) -> None:
        """Store the values not stored yet (before a branch to another block)."""
        for name in self.dirty:
            self.lines.append(f"  store i64 {self.vals[name]}, ptr %{name}")
        self.dirty.clear()

    def br(self, text: str) -> None:
        """A terminator whose targets may read the allocas."""
        self.flush()
        self.emit(text)

    def fail_to(self, exit_name: str, pc: int) -> str:
        """Note a branch from the current block to a failure exit at `pc` (the exit's
        phi gets the pc); returns the exit's label."""
        self.fails.setdefault(exit_name, []).append((pc, self.cur))
        return f"%{exit_name}"

    def new_label(self) -> str:
        self.k += 1
        return f"L{self.k}"

    def op(self, text: str) -> str:
        t = self.t()
        self.lines.append(f"  {t} = {text}")
        return t

    def var(self, name: str) -> str:
        v = self.fixed.get(name) or self.vals.get(name)
        if v is None:
            v = self.vals[name] = self.op(f"load i64, ptr %{name}")
        return v

    def put(self, name: str, v: str) -> None:
        self.vals[name] = v
        self.dirty[name] = None

    def reg(self, r: int) -> str:
        return self.var(_REG[r])

    def set(self, r: int, v: str) -> None:
        self.put(_REG[r], v)

    def slot(self, s: int) -> str:
        return self.op(f"getelementptr i64, ptr %st, i64 {int(s)}")

    def store_slot(self, s: int, v: str) -> None:
        self.emit(f"store i64 {v}, ptr {self.slot(s)}")

    def load_slot(self, s: int) -> str:
        return self.op(f"load i64, ptr {self.slot(s)}")

    def count(self) -> str:
        """The executed count (the budget less what remains)."""
        return self.op(f"sub i64 %budget, {self.var('REM')}")


_REG = tuple(f"R{r}" for r in range(11))


def _pushes_frame(insn: Instruction) -> bool:
    """A BPF-to-BPF call or a callx: the instructions that change r10 and the frame."""
    kind = isa.classify(insn)
    return kind == InsnKind.CALLX or (kind == InsnKind.CALL and insn.src == BPF_PSEUDO_CALL)


class Codegen:
    """LLVM IR for one program (its control-flow graph, checked by check_program) with
    the values of its map-referencing lddw instructions (`lddw`, by pc). `inline`:
    memory accesses check the region table in line (fast code, more to compile);
    otherwise they call the out-of-line accessors. `runtime`: the address of the table
    of runtime functions the code calls through (pybpf.jit.runtime_ir.callee)."""

    def __init__(self, cfg: ControlFlowGraph, lddw: dict[int, int],
                 inline: bool = True, runtime: int | None = None) -> None:
        self.cfg = cfg
        self.insns = cfg.insns
        self.pcs = cfg.pcs
        self.total = cfg.total
        self.lddw = lddw
        self.inline = inline
        self.runtime = runtime
        self.callees: dict[str, None] = {}  # runtime functions called through the table
        self.f = _Fn()
        self.blocks = self._blocks()
        self.starts = {start for start, _, _ in self.blocks}
        self.functions = sorted({0} | set(cfg.call_targets))
        self.returns: list[int] = []  # pcs a local call or callx returns to
        self.stackish = stack_registers(self.insns)
        self.fast_used = False  # a helper call with a native fast path (pybpf.jit.fastcall)
        # one frame only (no local call, no callx): r10 and the frame's stack are the
        # entry's everywhere, read once rather than in every block
        self.flat = not any(_pushes_frame(i) for i in self.insns)
        if self.flat:
            self.f.fixed = {"R10": "%r10v", "DEPTH": "0"}

    def _blocks(self) -> list[tuple[int, int, int]]:
        """(start pc, first, last instruction index) of each block, as the interpreter
        splits them (the graph's blocks, cut every MAX_BLOCK_INSNS instructions)."""
        leaders, n = self.cfg.leaders, len(self.insns)
        out = []
        for b, first in enumerate(leaders):
            end = leaders[b + 1] if b + 1 < len(leaders) else n
            for i in range(first, end, MAX_BLOCK_INSNS):
                out.append((self.pcs[i], i, min(i + MAX_BLOCK_INSNS, end)))
        return out

    # --- the function --------------------------------------------------------------
    def module(self) -> str:
        """The whole module: the runtime functions, @bpf_main and its metadata."""
        body = self._body()
        return runtime_ir(self.runtime) + (fast_ir() if self.fast_used else "") + body + _REPEAT + \
            metadata()

    def _prologue(self) -> list[str]:
        f = _Fn()
        f.k = 1_000_000_000  # names apart from the body's
        for r in range(11):
            f.emit(f"%R{r} = alloca i64")
        for name in ("REM", "MG", "DEPTH"):
            f.emit(f"%{name} = alloca i64")
        for name in _SAVED:
            f.emit(f"%F_{name} = alloca [{MAX_CALL_FRAMES} x i64]")
        for r in (0, 6, 7, 8, 9):
            f.set(r, "0")
        for r in range(1, 6):
            f.set(r, f.load_slot(r))
        f.emit(f"%budget = load i64, ptr {f.slot(Slot.BUDGET)}")
        f.emit(f"%statusp = getelementptr i64, ptr %st, i64 {int(Slot.STATUS)}")
        f.put("REM", f.op(f"sub i64 %budget, {f.load_slot(Slot.N)}"))
        f.put("MG", str(BPF_MAX_LOOPS))
        f.put("DEPTH", "0")
        f.emit(f"%tops = load ptr, ptr {f.slot(Slot.TOPS)}")
        f.emit(f"%shost = load ptr, ptr {f.slot(Slot.STACKHOST)}")
        f.emit(f"%maxf = sub i64 {f.load_slot(Slot.NTOPS)}, 1")
        if self.flat:
            f.emit(f"%r10v = load i64, ptr %tops{INVARIANT}")
            f.emit(f"%sh0 = load ptr, ptr %shost{INVARIANT}")
            f.emit(f"%lo0 = sub i64 %r10v, {MAX_BPF_STACK}")
            f.set(10, "%r10v")
        else:
            f.set(10, f.op(f"load i64, ptr %tops{INVARIANT}"))
        start = f.load_slot(Slot.START)
        cases = " ".join(f"i64 {pc}, label %P{pc}" for pc in self.functions
                         if pc in self.starts)
        for name in self.callees:
            get, _ = callee(name, self.runtime, f"%fn_{name}")
            f.lines += ["  " + x for x in get]
        f.br(f"switch i64 {start}, label %bad_start [ {cases} ]")
        return ["define i64 @bpf_main(ptr %st) {", "entry:"] + f.lines

    def _body(self) -> str:
        f = self.f
        for start, first, last in self.blocks:
            self._block(start, first, last)
        self._epilogue()
        return "\n".join(self._prologue() + f.lines) + "\n}\n"

    def _epilogue(self) -> None:
        f = self.f
        f.label("exit")
        top = f.op(f"icmp eq i64 {f.var('DEPTH')}, 0")
        f.br(f"br i1 {top}, label %ret_top, label %ret_frame")
        f.label("ret_top")
        f.store_slot(Slot.R0, f.reg(0))
        f.store_slot(Slot.N, f.count())
        f.emit("ret i64 0")
        f.label("ret_frame")
        d1 = f.op(f"sub i64 {f.var('DEPTH')}, 1")
        f.put("DEPTH", d1)
        vals = {}
        for name in _SAVED:
            p = f.op(f"getelementptr [{MAX_CALL_FRAMES} x i64], ptr %F_{name}, i64 0, i64 {d1}")
            vals[name] = f.op(f"load i64, ptr {p}")
        for r in (6, 7, 8, 9, 10):
            f.set(r, vals[f"r{r}"])
        f.put("MG", vals["mg"])
        cases = " ".join(f"i64 {pc}, label %P{pc}" for pc in sorted(set(self.returns)))
        f.br(f"switch i64 {vals['ret']}, label %bad_return [ {cases} ]")
        f.label("bad_return")  # not reached: every pushed pc and callx target is listed
        f.br(f"br label {f.fail_to('static_fail', -1)}")
        for name, status in (("over_budget", Status.BUDGET), ("depth_fail", Status.DEPTH),
                             ("static_fail", Status.STATIC)):
            f.label(name)
            preds = f.fails.get(name, [])
            if preds:
                incoming = ", ".join(f"[ {pc}, %{b} ]" for pc, b in preds)
                f.store_slot(Slot.PC, f.op(f"phi i64 {incoming}"))
            f.store_slot(Slot.N, f.count())
            f.emit(f"ret i64 {int(status)}")
        f.label("bad_start")
        f.emit(f"ret i64 {int(Status.BAD_START)}")
        f.label("cb_fail")
        f.emit(f"ret i64 {int(Status.RAISED)}")

    def _block(self, start: int, first: int, last: int) -> None:
        f = self.f
        f.label(f"P{start}")
        f.put("REM", f.op(f"sub i64 {f.var('REM')}, {last - first}"))
        for i in range(first, last):
            if self._insn(self.insns[i], self.pcs[i]):
                return
        end = self.pcs[last] if last < len(self.insns) else self.total
        if end >= self.total:
            self._static_fail(end - 1)
        else:
            f.br(f"br label %P{end}")

    def _budget_check(self, pc: int, also: str | None = None) -> None:
        """Where the interpreter checks the budget (back edges, local calls, callx,
        may_goto and the program's exit): over it, the run fails at `pc`. `also` is an i1
        that must hold too (the exit checks only at the outermost frame)."""
        f = self.f
        over = f.op(f"icmp slt i64 {f.var('REM')}, 0")
        if also is not None:
            over = f.op(f"and i1 {over}, {also}")
        ok = f.new_label()
        f.br(f"br i1 {over}, label {f.fail_to('over_budget', pc)}, label %{ok}, !prof !6")
        f.label(ok, keep=True)

    def _static_fail(self, pc: int) -> None:
        self.f.br(f"br label {self.f.fail_to('static_fail', pc)}")

    def _check_fail(self) -> None:
        """After a call into Python: leave when it raised (cb_fail reads no alloca)."""
        f = self.f
        failed = f.op(f"icmp ne i64 {f.op('load i64, ptr %statusp')}, 0")
        ok = f.new_label()
        f.emit(f"br i1 {failed}, label %cb_fail, label %{ok}, !prof !6")
        f.label(ok, keep=True)

    def _callback(self, op: Op, a: str, b: str, c: str, pc: int) -> str:
        f = self.f
        cb = f.op(f"load ptr, ptr {f.slot(Slot.CALLBACK)}")
        r = f.op(f"call {CALLBACK_TYPE} {cb}(ptr %st, i64 {int(op)}, i64 {a}, i64 {b}, "
                 f"i64 {c}, i64 {pc})")
        self._check_fail()
        return r

    # --- memory --------------------------------------------------------------------
    def callee(self, name: str) -> str:
        """The value to call runtime function @`name` by: itself, or its address from
        the table (loaded once, at entry: see runtime_ir.callee)."""
        if self.runtime is None:
            return f"@{name}"
        self.callees[name] = None
        return f"%fn_{name}"

    def _frame_bottom(self) -> str:
        """The current frame's lowest address (r10 - 512)."""
        if self.flat:
            return "%lo0"
        return self.f.op(f"sub i64 {self.f.reg(10)}, {MAX_BPF_STACK}")

    def _frame_host(self) -> str:
        """The current frame's stack bottom, as a host pointer."""
        f = self.f
        if self.flat:
            return "%sh0"
        depth = f.var('DEPTH')
        key = f"sh{depth}"
        if key not in f.memo:
            slot = f.op(f"getelementptr ptr, ptr %shost, i64 {depth}")
            f.memo[key] = f.op(f"load ptr, ptr {slot}{INVARIANT}")
        return f.memo[key]

    def _load(self, base: int, off: int, size: int, pc: int) -> str:
        return access(self, base, off, size, pc, None)

    def _store(self, base: int, off: int, size: int, v: str, pc: int) -> None:
        access(self, base, off, size, pc, v)

    # --- instructions --------------------------------------------------------------
    def _insn(self, insn: Instruction, pc: int) -> bool:
        """Emit one instruction; True when it ended the LLVM block."""
        kind = isa.classify(insn)
        f = self.f
        nxt = pc + insn.slots
        if kind == InsnKind.ALU:
            self._alu(insn)
        elif kind == InsnKind.ENDIAN:
            self._endian(insn)
        elif kind == InsnKind.LDDW:
            if insn.src == 0:
                v = insn.imm64
            elif insn.src == BPF_PSEUDO_FUNC:
                v = (CODE_SEGMENT << 32) + (pc + 1 + insn.imm) * 8
            else:
                v = self.lddw[pc]
            f.set(insn.dst, _c64(v))
        elif kind in (InsnKind.LD_ABS, InsnKind.LD_IND):
            off = (_c64(insn.imm) if insn.mode == BPF_ABS
                   else f.op(f"add i64 {f.reg(insn.src)}, {insn.imm}"))
            f.store_slot(Slot.N, f.count())
            f.set(0, self._callback(Op.LDPKT, off, str(SIZE_BYTES[insn.size]), "0", pc))
        elif kind == InsnKind.LDX:
            size = SIZE_BYTES[insn.size]
            loaded = self._load(insn.src, insn.off, size, pc)
            if insn.mode == BPF_MEMSX and size < 8:
                t = f"i{8 * size}"
                loaded = f.op(f"sext {t} {f.op(f'trunc i64 {loaded} to {t}')} to i64")
            f.set(insn.dst, loaded)
        elif kind == InsnKind.ST:
            self._store(insn.dst, insn.off, SIZE_BYTES[insn.size], _c64(insn.imm), pc)
        elif kind == InsnKind.STX:
            self._store(insn.dst, insn.off, SIZE_BYTES[insn.size], f.reg(insn.src), pc)
        elif kind == InsnKind.ATOMIC:
            self._atomic(insn, pc)
        elif kind == InsnKind.JA:
            tgt = isa.jump_target(insn, pc)
            if tgt is not None and tgt <= pc:
                self._budget_check(pc)
            f.br(f"br label %P{tgt}")
            return True
        elif kind == InsnKind.JCOND:
            c = self._cond(insn)
            tgt = isa.jump_target(insn, pc)
            if tgt is not None and tgt <= pc:
                back = f.new_label()
                f.br(f"br i1 {c}, label %{back}, label %P{nxt}")
                f.label(back, keep=True)
                self._budget_check(pc)
                f.br(f"br label %P{tgt}")
            else:
                f.br(f"br i1 {c}, label %P{tgt}, label %P{nxt}")
            return True
        elif kind == InsnKind.MAY_GOTO:
            self._budget_check(pc)
            mg = f.var("MG")
            pos = f.op(f"icmp sgt i64 {mg}, 0")
            f.put("MG", f.op(f"select i1 {pos}, i64 {f.op(f'sub i64 {mg}, 1')}, i64 {mg}"))
            f.br(f"br i1 {pos}, label %P{nxt}, label %P{isa.jump_target(insn, pc)}")
            return True
        elif kind == InsnKind.EXIT:
            self._budget_check(pc, also=f.op(f"icmp eq i64 {f.var('DEPTH')}, 0"))
            f.br("br label %exit")
            return True
        elif kind == InsnKind.CALL:
            return self._call(insn, pc, nxt)
        elif kind == InsnKind.CALLX:
            self._callx(insn, pc, nxt)
            return True
        else:  # pragma: no cover - classify covers every kind above
            raise AssertionError(f"unhandled instruction kind {kind}")
        return False

    def _operands(self, insn: Instruction, bits: int) -> tuple[str, str]:
        f = self.f
        d = f.reg(insn.dst)
        if insn.source == BPF_X:
            s = f.reg(insn.src)
            if bits == 32:
                s = f.op(f"trunc i64 {s} to i32")
        else:
            s = _c64(insn.imm) if bits == 64 else _c32(insn.imm)
        if bits == 32:
            d = f.op(f"trunc i64 {d} to i32")
        return d, s

    def _alu(self, insn: Instruction) -> None:
        f = self.f
        bits = 64 if insn.cls == BPF_ALU64 else 32
        t = f"i{bits}"
        op = insn.op
        if op == BPF_MOV:
            if insn.source == BPF_X and insn.off:
                w = insn.off
                v = f.op(f"trunc i64 {f.reg(insn.src)} to i{w}") if w < 64 else f.reg(insn.src)
                v = f.op(f"sext i{w} {v} to {t}") if w < bits else v
            elif insn.source == BPF_X:
                v = f.reg(insn.src)
                v = f.op(f"trunc i64 {v} to i32") if bits == 32 else v
            else:
                v = _c64(insn.imm) if bits == 64 else _c32(insn.imm)
            self._set_result(insn.dst, v, bits)
            return
        d, s = self._operands(insn, bits)
        if op in _BIN:
            v = f.op(f"{_BIN[op]} {t} {d}, {s}")
            if bits == 64 and op in (BPF_ADD, BPF_SUB):
                f.origin[v] = f.origin.get(d, d)
        elif op == BPF_NEG:
            v = f.op(f"sub {t} 0, {d}")
        elif op in _SHIFT:
            if insn.source == BPF_X:
                amt = f.op(f"and {t} {s}, {bits - 1}")
            else:
                amt = str((insn.imm & M32) & (bits - 1))
            v = f.op(f"{_SHIFT[op]} {t} {d}, {amt}")
        elif op in (BPF_DIV, BPF_MOD):
            v = self._divmod(insn, d, s, t)
        else:  # pragma: no cover - isa.validate admits no other op
            raise AssertionError(f"unhandled alu op {op:#x}")
        self._set_result(insn.dst, v, bits)

    def _set_result(self, dst: int, v: str, bits: int) -> None:
        if bits == 32:
            v = self.f.op(f"zext i32 {v} to i64")
        self.f.set(dst, v)

    def _divmod(self, insn: Instruction, d: str, s: str, t: str) -> str:
        """Division by zero: 0 (mod: the dividend); signed INT_MIN / -1 wraps, % -1 is 0."""
        f = self.f
        div = insn.op == BPF_DIV
        signed = insn.off == 1
        if insn.source != BPF_X:
            if insn.imm == 0:
                return "0" if div else d
            if signed and insn.imm == -1:
                return f.op(f"sub {t} 0, {d}") if div else "0"
            name = ("sdiv" if div else "srem") if signed else ("udiv" if div else "urem")
            return f.op(f"{name} {t} {d}, {s}")
        zero = f.op(f"icmp eq {t} {s}, 0")
        if not signed:
            safe = f.op(f"select i1 {zero}, {t} 1, {t} {s}")
            q = f.op(f"{'udiv' if div else 'urem'} {t} {d}, {safe}")
            return f.op(f"select i1 {zero}, {t} {'0' if div else d}, {t} {q}")
        m1 = f.op(f"icmp eq {t} {s}, -1")
        special = f.op(f"or i1 {zero}, {m1}")
        safe = f.op(f"select i1 {special}, {t} 1, {t} {s}")
        q = f.op(f"{'sdiv' if div else 'srem'} {t} {d}, {safe}")
        alt = f.op(f"sub {t} 0, {d}") if div else "0"
        q = f.op(f"select i1 {m1}, {t} {alt}, {t} {q}")
        return f.op(f"select i1 {zero}, {t} {'0' if div else d}, {t} {q}")

    def _endian(self, insn: Instruction) -> None:
        f = self.f
        d = f.reg(insn.dst)
        bits = insn.imm
        if insn.cls == BPF_ALU64 or insn.source == BPF_TO_BE:
            if bits == 64:
                v = f.op(f"call i64 @llvm.bswap.i64(i64 {d})")
            else:
                x = f.op(f"trunc i64 {d} to i{bits}")
                x = f.op(f"call i{bits} @llvm.bswap.i{bits}(i{bits} {x})")
                v = f.op(f"zext i{bits} {x} to i64")
        else:
            v = d if bits == 64 else f.op(f"and i64 {d}, {(1 << bits) - 1}")
        f.set(insn.dst, v)

    def _cond(self, insn: Instruction) -> str:
        f = self.f
        bits = 32 if insn.cls == BPF_JMP32 else 64
        d, s = self._operands(insn, bits)
        t = f"i{bits}"
        if insn.op == BPF_JSET:
            return f.op(f"icmp ne {t} {f.op(f'and {t} {d}, {s}')}, 0")
        return f.op(f"icmp {_CMP[insn.op]} {t} {d}, {s}")

    def _atomic(self, insn: Instruction, pc: int) -> None:
        f = self.f
        size = SIZE_BYTES[insn.size]
        op = insn.imm
        if op == BPF_LOAD_ACQ:
            f.set(insn.dst, self._load(insn.src, insn.off, size, pc))
            return
        if op == BPF_STORE_REL:
            self._store(insn.dst, insn.off, size, f.reg(insn.src), pc)
            return
        # load, compute, store at the same address (the registers it reads are unchanged)
        old = self._load(insn.dst, insn.off, size, pc)
        mask = _c64(M64 if size == 8 else (1 << (8 * size)) - 1)
        if op == BPF_CMPXCHG:
            r0 = f.op(f"and i64 {f.reg(0)}, {mask}")
            eq = f.op(f"icmp eq i64 {old}, {r0}")
            src = f.reg(insn.src)
            yes, done = f.new_label(), f.new_label()
            f.br(f"br i1 {eq}, label %{yes}, label %{done}")
            f.label(yes, keep=True)
            self._store(insn.dst, insn.off, size, src, pc)
            f.br(f"br label %{done}")
            f.label(done)
            f.set(0, old)
            return
        s = f.reg(insn.src)
        if op == BPF_XCHG:
            new = s
        else:
            new = f.op(f"and i64 {f.op(f'{_BIN[op & ~BPF_FETCH]} i64 {old}, {s}')}, {mask}")
        self._store(insn.dst, insn.off, size, new, pc)
        if op == BPF_XCHG or op & BPF_FETCH:
            f.set(insn.src, old)

    # --- calls ---------------------------------------------------------------------
    def _push_frame(self, pc: int, nxt: int) -> None:
        """Save the caller's frame (returning to `nxt`) and enter a new one."""
        f = self.f
        depth = f.var("DEPTH")
        full = f.op(f"icmp uge i64 {depth}, %maxf")
        ok = f.new_label()
        f.br(f"br i1 {full}, label {f.fail_to('depth_fail', pc)}, label %{ok}, !prof !6")
        f.label(ok, keep=True)
        vals = {"r6": f.reg(6), "r7": f.reg(7), "r8": f.reg(8), "r9": f.reg(9),
                "r10": f.reg(10), "mg": f.var("MG"), "ret": str(nxt)}
        for name in _SAVED:
            p = f.op(f"getelementptr [{MAX_CALL_FRAMES} x i64], ptr %F_{name}, i64 0, "
                     f"i64 {depth}")
            f.emit(f"store i64 {vals[name]}, ptr {p}")
        d1 = f.op(f"add i64 {depth}, 1")
        f.put("DEPTH", d1)
        top = f.op(f"getelementptr i64, ptr %tops, i64 {d1}")
        f.set(10, f.op(f"load i64, ptr {top}{INVARIANT}"))
        f.put("MG", str(BPF_MAX_LOOPS))
        if nxt < self.total:
            self.returns.append(nxt)

    def _call(self, insn: Instruction, pc: int, nxt: int) -> bool:
        f = self.f
        if insn.src == BPF_PSEUDO_CALL:
            self._budget_check(pc)
            self._push_frame(pc, nxt)
            f.br(f"br label %P{isa.jump_target(insn, pc)}")
            return True
        if insn.src == BPF_PSEUDO_KFUNC_CALL:
            self._static_fail(pc)
            return True
        join = fastcall.emit(self, insn.imm, pc)  # native first, where it can
        self._sync_args()
        r0 = self._callback(Op.HELPER, _c64(insn.imm), f.var("DEPTH"), "0", pc)
        f.set(0, r0)
        f.put("REM", f.op(f"sub i64 %budget, {f.load_slot(Slot.N)}"))
        if join is not None:
            f.br(f"br label %{join}")
            f.label(join)
        return False

    def _sync_args(self) -> None:
        """r0-r5 and the count into the state, for a helper or callx."""
        f = self.f
        for r in range(6):
            f.store_slot(r, f.reg(r))
        f.store_slot(Slot.N, f.count())

    def _callx(self, insn: Instruction, pc: int, nxt: int) -> None:
        f = self.f
        self._budget_check(pc)
        self._sync_args()
        tpc = self._callback(Op.CALLX, f.reg(insn.dst), f.var("DEPTH"), "0", pc)
        f.put("REM", f.op(f"sub i64 %budget, {f.load_slot(Slot.N)}"))
        helper = f.op(f"icmp eq i64 {tpc}, {_c64(NO_FRAME)}")
        yes, local = f.new_label(), f.new_label()
        f.br(f"br i1 {helper}, label %{yes}, label %{local}")
        f.label(yes, keep=True)
        f.set(0, f.load_slot(Slot.R0))
        if nxt < self.total:
            f.br(f"br label %P{nxt}")
        else:
            self._static_fail(nxt - 1)
        f.label(local)
        self._push_frame(pc, nxt)
        cases = " ".join(f"i64 {p}, label %P{p}" for p in self.functions if p in self.starts)
        f.br(f"switch i64 {tpc}, label %bad_return [ {cases} ]")


# @bpf_repeat(st, n): run n times from the same state (the count and r1-r5 reset each
# time: helper calls write them), as BPF_PROG_TEST_RUN's repeat: what `pybpf bench jit`
# times, without a ctypes call a run
_ARGS = range(1, 6)
_REPEAT = f"""
define i64 @bpf_repeat(ptr %st, i64 %n) {{
entry:
  %np = getelementptr i64, ptr %st, i64 {int(Slot.N)}
  %n0 = load i64, ptr %np
""" + "".join(f"  %a{r}p = getelementptr i64, ptr %st, i64 {r}\n  %a{r} = load i64, ptr %a{r}p\n"
              for r in _ARGS) + """  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %again ]
  store i64 %n0, ptr %np
""" + "".join(f"  store i64 %a{r}, ptr %a{r}p\n" for r in _ARGS) + """\
  %s = call i64 @bpf_main(ptr %st)
  %i1 = add i64 %i, 1
  %failed = icmp ne i64 %s, 0
  %done = icmp uge i64 %i1, %n
  %stop = or i1 %failed, %done
  br i1 %stop, label %out, label %again
again:
  br label %loop
out:
  ret i64 %s
}
"""


def module_ir(cfg: ControlFlowGraph, lddw: dict[int, int], inline: bool = True,
              runtime: int | None = None) -> str:
    """The LLVM IR module of a program (see Codegen)."""
    return Codegen(cfg, lddw, inline, runtime).module()
