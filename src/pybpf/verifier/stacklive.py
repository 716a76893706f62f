"""Static stack-slot liveness: before each instruction, which 8-byte slots of its own
frame's stack may still be read (a backward dataflow, as registers' in cfgcheck). State
pruning ignores the other slots of an explored state, as the kernel's stack liveness
(kernel/bpf/liveness.c) lets it do; fewer states differ only in dead spills.

Sound by over-approximation. A forward pass first finds which registers hold the frame
pointer plus a known constant (the only pointers to a frame's stack are derived from its
r10); a slot counts as read by any access that may reach it: a load, a store of fewer
than 8 aligned bytes or an atomic (their checks look at what the slot holds), a call
given a stack pointer (the callee may read anything above it), and every slot by an
access through a stack pointer with an unknown offset. Only an 8-byte aligned store
through a known offset kills a slot. A subprogram whose stack pointer may be stored
anywhere (then loaded back unseen) keeps every slot live."""

from __future__ import annotations

from typing import Sequence

from ..isa import (BPF_ADD, BPF_ALU, BPF_ALU64, BPF_ATOMIC, BPF_CALL, BPF_CMPXCHG, BPF_DW,
                   BPF_EXIT, BPF_FETCH, BPF_JA, BPF_JMP, BPF_JMP32, BPF_LD, BPF_LDX, BPF_MOV,
                   BPF_PSEUDO_CALL, BPF_ST, BPF_STX, BPF_SUB, BPF_X, OPCODE_LDDW, SIZE_BYTES,
                   Instruction)

from .dataflow import backward_live

ALL_SLOTS = (1 << 64) - 1
_ANY = "any"  # a stack pointer with an unknown offset, or maybe not a stack pointer


def _join(a: "int | str | None", b: "int | str | None") -> "int | str | None":
    return a if a == b else _ANY


def _slots(lo: int, hi: int) -> int:
    """The mask of the slots holding bytes fp+lo .. fp+hi-1 (every slot if outside)."""
    if lo < -512 or hi > 0 or lo >= hi:
        return ALL_SLOTS
    first, last = (-hi) // 8, (-lo - 1) // 8
    return ((1 << (last + 1)) - 1) & ~((1 << first) - 1)


def _successors(pc: int, i: Instruction) -> list[int]:
    cls = i.cls
    if cls in (BPF_JMP, BPF_JMP32):
        op = i.op
        if op == BPF_EXIT:
            return []
        if op == BPF_CALL:
            return [pc + 1]
        t = pc + (i.imm if cls == BPF_JMP32 and op == BPF_JA else i.off) + 1
        return [t] if op == BPF_JA else [pc + 1, t]
    return [pc + (2 if i.opcode == OPCODE_LDDW else 1)]


_NREGS = 16  # r0-r10, and room for the invalid numbers the walk refuses later
_SLOT0 = _NREGS  # state[_SLOT0 + spi]: what the 8-byte slot spi holds


def _overwrite(state: list, mask: int, value: "int | str | None") -> None:
    """Slots in `mask` may now hold `value` (or what they held)."""
    for spi in range(64):
        if mask >> spi & 1:
            state[_SLOT0 + spi] = _join(state[_SLOT0 + spi], value)


def _pointers_in(state: list, mask: int) -> bool:
    return any(state[_SLOT0 + spi] is not None for spi in range(64) if mask >> spi & 1)


def _transfer(i: Instruction, st: list) -> tuple[int, int, bool]:
    """Update `st` (what r0-r10 and the 64 stack slots hold: None, not a pointer to
    this frame's stack; k, r10 + k; _ANY, unknown) over insn `i`; return the slots it
    may read (gen), the slots it surely overwrites (kill) and whether a stack pointer
    may be stored where this pass does not follow it (escape)."""
    cls, op = i.cls, i.op
    if cls in (BPF_ALU, BPF_ALU64):
        d = st[i.dst]
        x = i.source == BPF_X
        s = st[i.src] if x else None
        if op == BPF_MOV:
            if x and cls == BPF_ALU64 and not i.off:
                st[i.dst] = s
            else:
                st[i.dst] = None if s is None else _ANY
        elif cls == BPF_ALU64 and not x and isinstance(d, int) and op in (BPF_ADD, BPF_SUB):
            st[i.dst] = d + i.imm if op == BPF_ADD else d - i.imm
        else:
            st[i.dst] = None if d is None and s is None else _ANY
        return 0, 0, False
    if cls == BPF_LDX:
        b = st[i.src]
        gen = _access(b, i.off, SIZE_BYTES[i.size])
        if b is None:
            st[i.dst] = None
        elif isinstance(b, int) and i.size == BPF_DW and (b + i.off) % 8 == 0 and \
                -512 <= b + i.off < 0:
            st[i.dst] = st[_SLOT0 + (-(b + i.off) - 1) // 8]  # a fill
        else:
            st[i.dst] = _ANY if _pointers_in(st, gen) else None
        return gen, 0, False
    if cls in (BPF_ST, BPF_STX):
        b = st[i.dst]
        value = st[i.src] if cls == BPF_STX else None
        size = SIZE_BYTES[i.size]
        gen = _access(b, i.off, size)
        if cls == BPF_STX and i.mode == BPF_ATOMIC:
            loaded = _ANY if _pointers_in(st, gen) else None
            if b is not None:
                _overwrite(st, gen, None)
            if i.imm == BPF_CMPXCHG:
                st[0] = loaded
            elif i.imm & BPF_FETCH:
                st[i.src] = loaded
            return gen, 0, value is not None
        if isinstance(b, int) and size == 8 and (b + i.off) % 8 == 0 and \
                -512 <= b + i.off < 0:
            st[_SLOT0 + (-(b + i.off) - 1) // 8] = value  # a spill
            return 0, _slots(b + i.off, b + i.off + 8), False
        if b is not None:
            _overwrite(st, gen, _ANY if value is not None else None)
        return gen, 0, value is not None
    if cls == BPF_LD:
        if i.opcode == OPCODE_LDDW:
            st[i.dst] = None
        else:  # LD_ABS / LD_IND clobber r0-r5
            for r in range(6):
                st[r] = None
        return 0, 0, False
    if op == BPF_CALL:
        gen = 0
        for r in range(1, 6):
            v = st[r]
            if v is _ANY:
                gen = ALL_SLOTS
            elif isinstance(v, int):
                gen |= _slots(v, 0) if v < 0 else ALL_SLOTS
        if gen and _pointers_in(st, gen):
            gen = ALL_SLOTS  # the callee may follow a stack pointer it finds there
        if gen:
            _overwrite(st, gen, None)  # what it writes there
        # a callee may hand a stack pointer back; a helper only one into its memory
        st[0] = _ANY if gen and not _plain_helper(i) else None
        for r in range(1, 6):
            st[r] = None
        return gen, 0, False
    return 0, 0, False


_PLAIN_RETURNS = frozenset({"RET_INTEGER", "RET_VOID", "RET_PTR_TO_MAP_VALUE",
                            "RET_PTR_TO_SOCKET", "RET_PTR_TO_TCP_SOCK",
                            "RET_PTR_TO_SOCK_COMMON", "RET_PTR_TO_BTF_ID"})


def _plain_helper(i: Instruction) -> bool:
    """A call whose r0 cannot point into memory an argument points to: a BPF-to-BPF
    call (a stack pointer returned is refused: "cannot return stack pointer to the
    caller") or a helper returning a number, a map value, a socket...; not a kfunc or
    an unknown helper."""
    if i.src == BPF_PSEUDO_CALL:
        return True
    if i.src != 0:
        return False
    got = _PLAIN.get(i.imm)
    if got is None:
        from ..helper_protos import HelperProtoError, proto
        try:
            got = proto(i.imm).ret.type.name in _PLAIN_RETURNS
        except (HelperProtoError, ValueError, KeyError):
            got = False
        if len(_PLAIN) < 4096:
            _PLAIN[i.imm] = got
    return got


_PLAIN: dict[int, bool] = {}  # _plain_helper's answer per helper ID (the tables are fixed)


def _access(base: "int | str | None", off: int, size: int) -> int:
    if base is None:
        return 0
    if base is _ANY:
        return ALL_SLOTS
    assert isinstance(base, int)
    return _slots(base + off, base + off + size)


def stack_liveness(slots: Sequence[Instruction | None], subprogs: Sequence[int],
                   succ: "Sequence[Sequence[int]] | None" = None) -> list[int]:
    """Per slot of the program, the mask (bit spi: bytes fp-8*(spi+1) .. fp-8*spi-1) of
    its frame's stack slots that may be read from there on. `succ`: each slot's
    successors in the program (cfgcheck.jump_successors), computed here if not given."""
    n = len(slots)
    if succ is None:
        succ = [[s for s in _successors(pc, i) if 0 <= s < n] if i is not None else []
                for pc, i in enumerate(slots)]
    # forward: what the registers and stack slots hold before each insn
    before: list[list | None] = [None] * n
    for start in subprogs:
        if start < n:
            entry: list = [None] * (_NREGS + 64)
            entry[10] = 0
            before[start] = entry
    work = sorted(s for s in subprogs if s < n)
    gen = [0] * n
    kill = [0] * n
    escaped: set[int] = set()
    owner = _owners(n, subprogs)
    while work:
        pc = work.pop()
        i = slots[pc]
        state = before[pc]
        if i is None or state is None:
            continue
        regs = list(state)
        g, k, esc = _transfer(i, regs)
        gen[pc], kill[pc] = g, k
        if esc:
            escaped.add(owner[pc])
        for s in succ[pc]:
            old = before[s]
            if old is None:
                before[s] = regs
                work.append(s)
                continue
            if old == regs:
                continue
            joined = [a if a == b else _ANY for a, b in zip(old, regs)]
            if joined != old:
                before[s] = joined
                work.append(s)
    # backward: slots live before each insn
    live = backward_live(succ, gen, kill)
    for pc in range(n):
        if owner[pc] in escaped:
            live[pc] = ALL_SLOTS
    return live


def _owners(n: int, subprogs: Sequence[int]) -> list[int]:
    """The subprogram (its start) each slot belongs to."""
    out = [0] * n
    starts = sorted(subprogs)
    for k, s in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        for pc in range(s, min(end, n)):
            out[pc] = s
    return out
