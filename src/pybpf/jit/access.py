"""Loads and stores in generated code. A constant offset from r10 inside the frame is a
direct pointer into the current frame's stack (r10 is read only: always in bounds).
Anything else is checked: against the current frame first when the base register may
hold a stack pointer (`stack_registers`; LLVM then drops the check where it can bound
the offset), then against the region table (pybpf.jit.runtime_ir), and whatever the
table cannot serve goes to Python, which serves it or raises the interpreter's error.
Small programs get the checks in line; big ones call the out-of-line accessors (much
less IR to compile)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..isa import (BPF_ADD, BPF_ALU64, BPF_DW, BPF_MOV, BPF_SUB, BPF_W, BPF_X, MAX_BPF_STACK,
                   InsnKind, Instruction, classify)
from .layout import CTX_FIELDS, Op
from .runtime_ir import IT, MEM, SLOW, slow_kind, table_check

if TYPE_CHECKING:
    from .codegen import Codegen


def pointer_registers(insns: Sequence[Instruction], seed: int) -> frozenset[int]:
    """Registers that may hold what register `seed` holds at entry (r10: a stack
    pointer; r1: the context), somewhere in the program: a flow-insensitive
    over-approximation (`seed`, what is copied from or offset by such a register, and
    any 64-bit load, which may reload a spilled pointer). Only a hint for speed: an
    access through any other register is still checked in full."""
    regs = {seed}
    moves: list[tuple[int, int]] = []  # (dst, src): dst may take src's kind
    for insn in insns:
        kind = classify(insn)
        if kind == InsnKind.ALU and insn.cls == BPF_ALU64 and insn.source == BPF_X and \
                insn.op in (BPF_MOV, BPF_ADD, BPF_SUB):
            moves.append((insn.dst, insn.src))
        elif kind == InsnKind.LDX and insn.size == BPF_DW:
            regs.add(insn.dst)
        elif kind == InsnKind.ATOMIC and insn.size == BPF_DW:
            regs.update((insn.src, 0))
    changed = True
    while changed:
        changed = False
        for dst, src in moves:
            if src in regs and dst not in regs:
                regs.add(dst)
                changed = True
    # callees get r1-r5 from their callers: the register numbers carry the kind across
    return frozenset(regs)


def stack_registers(insns: Sequence[Instruction]) -> frozenset[int]:
    """Registers that may hold a pointer into a stack (pointer_registers from r10)."""
    return pointer_registers(insns, 10)


def ctx_offsets(insns: Sequence[Instruction]) -> tuple[int, ...]:
    """The offsets of the 4-byte loads that may read a context field: through a
    register that may hold r1's pointer, at an aligned offset among the CTX_FIELDS
    words a run serves natively (pybpf.jit.layout.CtxWord)."""
    regs = pointer_registers(insns, 1)
    return tuple(sorted({i.off for i in insns if classify(i) == InsnKind.LDX and
                         i.size == BPF_W and i.src in regs and
                         0 <= i.off < 4 * CTX_FIELDS and not i.off % 4}))


def access(cg: "Codegen", base: int, off: int, size: int, pc: int, value: str | None) -> str:
    """A load (value None: returns the value, zero-extended to i64) or a store of
    `value` (an i64) at base + off."""
    f = cg.f
    if base == 10 and -MAX_BPF_STACK <= off and off + size <= 0:
        p = f.op(f"getelementptr i8, ptr {cg._frame_host()}, i64 {MAX_BPF_STACK + off}")
        return _use(cg, p, size, value)
    b = f.reg(base)
    a = f.op(f"add i64 {b}, {off}")
    stackish = base in cg.stackish
    if not cg.inline:
        lo, sh = cg._frame_bottom(), cg._frame_host()
        fn = cg.callee(f"{'ld' if value is None else 'st'}{size}")
        if value is None:
            v = f.op(f"call i64 {fn}(ptr %st, i64 {a}, i64 {pc}, i64 {lo}, ptr {sh})")
        else:
            f.emit(f"call void {fn}(ptr %st, i64 {a}, i64 {value}, i64 {pc}, i64 {lo}, "
                   f"ptr {sh})")
            v = ""
        cg._check_fail()
        return v
    n = f"%m{f.new_label()}"
    k = n[1:]
    lines: list[str] = []
    if stackish:
        lo, sh = cg._frame_bottom(), cg._frame_host()
        f.emit(f"{n}so = sub i64 {a}, {lo}")
        f.emit(f"{n}ins = icmp ule i64 {n}so, {MAX_BPF_STACK - size}")
        f.emit(f"br i1 {n}ins, label %{k}_S, label %{k}_T")
        lines += [f"{k}_S:", f"  {n}sp = getelementptr i8, ptr {sh}, i64 {n}so",
                  f"  br label %{k}_H", f"{k}_T:"]
    check, ok, tp = table_check(a, f.origin.get(b, b), size, value is not None, n,
                                hoist=True)
    lines += ["  " + x for x in check]
    lines.append(f"  br i1 {ok}, label %{k}_H, label %{k}_X, !prof !7")
    lines.append(f"{k}_H:")
    f.lines += lines
    p = f.op(f"phi ptr [ {n}sp, %{k}_S ], [ {tp}, %{k}_T ]") if stackish else tp
    f.cur = f"{k}_H"
    v = _use(cg, p, size, value)
    f.emit(f"br label %{k}_C")
    f.lines.append(f"{k}_X:")
    op = Op.LOAD if value is None else Op.STORE
    # the slow path gets the address as offset and base (it adds them), so the loop keeps
    # only x = a - base (an induction variable where a walks), not a as well
    r = f.op(f"call i64 {cg.callee('mem_slow')}(ptr %st, i64 {slow_kind(op, size)}, "
             f"i64 {n}x, i64 {n}b, i64 {value or 0}, i64 {pc}){SLOW}")
    f.cur = f"{k}_X"
    failed = f.op(f"icmp ne i64 {f.op('load i64, ptr %statusp')}, 0")
    f.emit(f"br i1 {failed}, label %cb_fail, label %{k}_C, !prof !6")
    f.lines.append(f"{k}_C:")
    f.cur = f"{k}_C"
    if value is None:
        return f.op(f"phi i64 [ {v}, %{k}_H ], [ {r}, %{k}_X ]")
    return ""


def _use(cg: "Codegen", p: str, size: int, value: str | None) -> str:
    """Load from or store to host pointer `p`."""
    f = cg.f
    t = IT[size]
    if value is None:
        v = f.op(f"load {t}, ptr {p}, align 1{MEM}")
        return v if size == 8 else f.op(f"zext {t} {v} to i64")
    tv = value if size == 8 else f.op(f"trunc i64 {value} to {t}")
    f.emit(f"store {t} {tv}, ptr {p}, align 1{MEM}")
    return ""
