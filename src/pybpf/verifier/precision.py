"""Scalar precision tracking (the kernel's mark_chain_precision / backtrack_insn).

Scalars start imprecise; state pruning compares only the precise scalars of an
explored state. When a rule needs a scalar's exact value (pointer arithmetic, a
branch decided by its range, a helper size, a return value) the verifier walks the
instruction history of the current state backwards, then the history of each parent
checkpoint, computing the registers and stack slots the value came from, and marks
them precise in every checkpoint on the way. Where the walk cannot follow (an
instruction it does not model, a stack access through a copy of the frame pointer)
it falls back to marking every scalar of the path precise, as the kernel does.

History entries are tuples (insn, prev_insn, stack_frame, spi, linked): the edge into
`insn` when it was not the straight-line one, the stack slot a spill or fill at
`insn` used (stack_frame -1: none) and the registers a conditional jump at `insn`
linked by scalar id ((frame, is_slot, index) triples)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..isa import (BPF_ABS, BPF_ALU, BPF_ALU64, BPF_ATOMIC, BPF_CALL, BPF_CMPXCHG, BPF_END,
                   BPF_EXIT, BPF_FETCH, BPF_IND, BPF_JMP, BPF_JMP32, BPF_LD, BPF_LDX, BPF_MOV,
                   BPF_NEG, BPF_PSEUDO_CALL, BPF_ST, BPF_STX, BPF_X)
from .reg import RegType

if TYPE_CHECKING:
    from .state import VState

ARGS = 0x3E  # r1-r5
ADD_CONST = (1 << 31) | (1 << 30)  # the BPF_ADD_CONST64/32 flags of a linked scalar's id
MAX_FRAMES = 8
_SCALAR = RegType.SCALAR


class NotSupported(Exception):
    """backtrack_insn cannot follow this instruction: fall back to all-precise."""


class Backtrack:
    """backtrack_state: per frame, the registers and stack slots still to be traced."""

    __slots__ = ("frame", "regs", "stack")

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self.regs = [0] * MAX_FRAMES
        self.stack = [0] * MAX_FRAMES

    def empty(self) -> bool:
        if self.frame == 0:
            return not (self.regs[0] or self.stack[0])
        for i in range(self.frame + 1):
            if self.regs[i] or self.stack[i]:
                return False
        return True

    def is_set(self, r: int) -> bool:
        return bool(self.regs[self.frame] >> r & 1)

    def set(self, r: int) -> None:
        self.regs[self.frame] |= 1 << r

    def clear(self, r: int) -> None:
        self.regs[self.frame] &= ~(1 << r)

    def enter(self) -> None:
        if self.frame == MAX_FRAMES - 1:
            raise NotSupported("subprog enter from the last frame")
        self.frame += 1

    def exit(self) -> None:
        if self.frame == 0:
            raise NotSupported("subprog exit from frame 0")
        self.frame -= 1


def _bits(mask: int):
    i = 0
    while mask:
        if mask & 1:
            yield i
        mask >>= 1
        i += 1


def fmt_regs(mask: int) -> str:
    return ",".join(f"r{i}" for i in _bits(mask))


def fmt_stack(mask: int) -> str:
    return ",".join(str(-(i + 1) * 8) for i in _bits(mask))


def sync_linked(bt: Backtrack, hist: tuple | None) -> None:
    """bt_sync_linked_regs: registers a jump refined together are traced together."""
    if hist is None or not hist[4]:
        return
    linked = hist[4]
    for fr, is_slot, i in linked:
        if (bt.stack if is_slot else bt.regs)[fr] >> i & 1:
            break
    else:
        return
    for fr, is_slot, i in linked:
        if is_slot:
            bt.stack[fr] |= 1 << i
        else:
            bt.regs[fr] |= 1 << i


def backtrack_insn(v: Any, idx: int, subseq: int, hist: tuple | None, bt: Backtrack) -> None:
    """What must be precise before insn `idx` for what is being traced after it."""
    insn = v.slots[idx]
    if insn is None:  # the second half of an lddw
        return
    cls = insn.cls
    if hist is None and (cls == BPF_ALU or cls == BPF_ALU64) and \
            not bt.regs[bt.frame] >> insn.dst & 1 and not v.log_level & 2:
        return  # the common case: an ALU insn on an untraced register
    if v.log_level & 2:
        from .log import insn_text
        v.verbose(f"mark_precise: frame{bt.frame}: regs={fmt_regs(bt.regs[bt.frame])} "
                  f"stack={fmt_stack(bt.stack[bt.frame])} before {idx}: "
                  f"{insn_text(insn, idx, v.slots)}\n")
    sync_linked(bt, hist)
    op = insn.op
    dreg, sreg = insn.dst, insn.src
    stack_fr = hist[2] if hist is not None else -1
    hist_spi = hist[3] if hist is not None else -1
    if cls in (BPF_ALU, BPF_ALU64):
        if not bt.is_set(dreg):
            return
        if op in (BPF_END, BPF_NEG):
            return
        if op == BPF_MOV:
            bt.clear(dreg)
            if insn.source == BPF_X and sreg != 10:
                bt.set(sreg)
        elif insn.source == BPF_X and sreg != 10:
            bt.set(sreg)
    elif cls == BPF_LDX or (cls == BPF_STX and insn.mode == BPF_ATOMIC and
                            insn.imm & BPF_FETCH):
        load = dreg
        if cls == BPF_STX:
            load = 0 if insn.imm == BPF_CMPXCHG else sreg
        if not bt.is_set(load):
            return
        bt.clear(load)
        if stack_fr < 0:
            return
        bt.stack[stack_fr] |= 1 << hist_spi
    elif cls in (BPF_STX, BPF_ST):
        if bt.is_set(dreg):
            raise NotSupported("store through a traced scalar")
        if stack_fr < 0:
            return
        spi = hist_spi
        if not bt.stack[stack_fr] >> spi & 1:
            return
        bt.stack[stack_fr] &= ~(1 << spi)
        if cls == BPF_STX:
            bt.set(sreg)
    elif cls in (BPF_JMP, BPF_JMP32):
        if op == BPF_CALL:
            if insn.src == BPF_PSEUDO_CALL:
                # a static subprogram's call: leaving the callee backwards
                if bt.regs[bt.frame] & ~ARGS or bt.stack[bt.frame]:
                    raise NotSupported("static subprog leftover regs or slots")
                for r in range(1, 6):
                    if bt.is_set(r):
                        bt.clear(r)
                        bt.regs[bt.frame - 1] |= 1 << r
                bt.exit()
                return
            if idx in v.callback_calls and idx != subseq - 1:
                # back from a callback into the helper that calls it
                if bt.regs[bt.frame] & ~ARGS or bt.stack[bt.frame]:
                    raise NotSupported("callback leftover regs or slots")
                bt.regs[bt.frame] &= ~ARGS
                bt.exit()
                return
            bt.clear(0)
            if bt.regs[bt.frame] & ARGS:
                raise NotSupported("helper call with traced arguments")
        elif op == BPF_EXIT:
            if subseq >= 0 and subseq in v.callback_calls:
                bt.regs[bt.frame] &= ~ARGS
            if bt.regs[bt.frame] & ARGS:
                raise NotSupported("exit with traced arguments")
            prev = v.slots[subseq - 1] if subseq >= 1 else None
            r0 = prev is not None and prev.cls == BPF_JMP and prev.op == BPF_CALL and \
                prev.src == BPF_PSEUDO_CALL and bt.is_set(0)
            bt.clear(0)
            bt.enter()
            if r0:
                bt.set(0)
            return
        elif insn.source == BPF_X:
            if not bt.is_set(dreg) and not bt.is_set(sreg):
                return
            bt.set(sreg)
            bt.set(dreg)
    elif cls == BPF_LD:
        if not bt.is_set(dreg):
            return
        bt.clear(dreg)
        if insn.mode in (BPF_IND, BPF_ABS):
            raise NotSupported("ld_abs/ld_ind")
    sync_linked(bt, hist)


def mark_all_precise(v: Any, start: "VState") -> None:
    """mark_all_scalars_precise: every scalar of every checkpoint on the path."""
    if v.log_level & 2:
        v.verbose(f"mark_precise: frame{start.curframe}: falling back to forcing all "
                  "scalars precise\n")
    cp = start.parent
    while cp is not None:
        for f in cp.state.frames:
            for j in range(10):
                r = f.regs[j]
                if r.type is _SCALAR and not r.precise:
                    r.precise = True
                    v.precise_marks += 1
            for spi in list(f.spills):
                sr = f.spilled(spi)
                if sr is not None and sr.type is _SCALAR and not sr.precise:
                    sr.precise = True
                    v.precise_marks += 1
        cp = cp.state.parent


def mark_all_imprecise(st: "VState") -> None:
    """mark_all_scalars_imprecise: the current state forgets inherited marks."""
    for f in st.frames:
        for r in f.regs:
            if r.precise:
                r.precise = False
        for r in f.spills.values():
            if r.precise:
                r.precise = False


def mark_chain_precision(v: Any, start: "VState", regno: int = -1,
                         bt: Backtrack | None = None) -> None:
    """Trace `regno` of the current frame (and/or what `bt` already holds) back through
    the path's history, marking the sources precise in the parent checkpoints."""
    if not v.bpf_capable:
        return
    if bt is None:
        bt = Backtrack(start.curframe)
    if regno >= 0:
        bt.set(regno)
    if bt.empty():
        return
    try:
        walk_chain(v, start, bt)
    except NotSupported:
        mark_all_precise(v, start)


def _decoded(v: Any) -> list:
    """Per slot, what the inline fast path of the walk needs: (1, dst, src or -1, is_mov)
    for ALU insns other than neg/end, (0, -1) for conditional jumps on an immediate,
    (0, 0) for everything else (handled by backtrack_insn)."""
    dec = getattr(v, "bt_decoded", None)
    if dec is not None:
        return dec
    dec = []
    for insn in v.slots:
        if insn is None:
            dec.append((0, 0))
            continue
        cls, op = insn.cls, insn.op
        if cls in (BPF_ALU, BPF_ALU64) and op not in (BPF_END, BPF_NEG):
            x = insn.source == BPF_X and insn.src != 10
            dec.append((1, insn.dst, insn.src if x else -1, op == BPF_MOV))
        elif cls in (BPF_JMP, BPF_JMP32) and op not in (BPF_CALL, BPF_EXIT) and \
                insn.source != BPF_X:
            dec.append((0, -1))
        else:
            dec.append((0, 0))
    v.bt_decoded = dec
    return dec


_RETURN = ("return",)  # a segment's outcome: nothing left to trace


def walk_chain(v: Any, start: "VState", bt: Backtrack) -> None:
    """__mark_chain_precision's walk: what `bt` traces, back through the history of
    `start` and of each parent checkpoint, marking the parents' registers and stack
    slots precise (NotSupported where backtrack_insn cannot follow)."""
    st = start
    dec = _decoded(v)
    first = st.first_insn_idx
    last = st.insn_idx
    subseq = -1
    skip_first = True
    log2 = v.log_level & 2
    while True:
        if log2:
            v.verbose(f"mark_precise: frame{bt.frame}: last_idx {last} first_idx {first} "
                      f"subseq_idx {subseq} \n")
        if last < 0:
            raise NotSupported("backtracking past the entry")
        if not _segment(v, st, bt, dec, last, subseq, skip_first, log2):
            return
        skip_first = False
        cp = st.parent
        if cp is None:
            break
        st = cp.state
        for fr in range(bt.frame, -1, -1):
            if fr >= len(st.frames):
                raise NotSupported("parent state has fewer frames")
            f = st.frames[fr]
            m = bt.regs[fr]
            r = 0
            while m:
                if m & 1:
                    reg = f.regs[r]
                    if reg.type is not _SCALAR or reg.precise:
                        bt.regs[fr] &= ~(1 << r)
                    else:
                        reg.precise = True
                        v.precise_marks += 1
                m >>= 1
                r += 1
            for spi in _bits(bt.stack[fr]) if bt.stack[fr] else ():
                if spi >= f.allocated // 8:
                    raise NotSupported("stack slot beyond the allocated stack")
                sp = f.spilled(spi)
                if sp is None or sp.type is not _SCALAR or sp.precise:
                    bt.stack[fr] &= ~(1 << spi)
                else:
                    sp.precise = True
                    v.precise_marks += 1
            if log2:
                from .log import frame_str
                v.verbose(f"mark_precise: frame{fr}: parent state regs={fmt_regs(bt.regs[fr])} "
                          f"stack={fmt_stack(bt.stack[fr])}:" + frame_str(f, None, None) + "\n")
        if bt.empty():
            return
        subseq = first
        last = st.last_insn_idx
        first = st.first_insn_idx
    if not bt.empty():
        mark_all_precise(v, start)


def _segment(v: Any, st: "VState", bt: Backtrack, dec: list, last: int, subseq: int,
             skip_first: bool, log2: int) -> bool:
    """backtrack_insn over the history of `st`, from `last` back to its first insn;
    False when nothing is left to trace. Memoised in `st.bt_memo` (a live state's,
    shared with its copies): the outcome from a point of the history onwards is a
    function of the entries before that point and what is traced there, and a loop's
    repeated checks walk the same history again and again."""
    memo = st.bt_memo if not log2 else None
    pending: list = []
    try:
        more = _segment_walk(v, st, bt, dec, last, subseq, skip_first, log2, memo, pending)
    except NotSupported as e:
        if pending and memo is not None:
            out: tuple = ("unsupported", str(e))
            for key, anchor in pending:
                memo[key] = (anchor, out)
        raise
    if pending and memo is not None:
        out = (bt.frame, tuple(bt.regs), tuple(bt.stack)) if more else _RETURN
        for key, anchor in pending:
            memo[key] = (anchor, out)
    return more


def _segment_walk(v: Any, st: "VState", bt: Backtrack, dec: list, last: int, subseq: int,
                  skip_first: bool, log2: int, memo: "dict | None", pending: list) -> bool:
    hist = st.hist
    h = len(hist)
    i = last
    first_i = st.first_insn_idx
    regs, stack = bt.regs, bt.stack  # lists backtrack_insn updates in place
    hi = hist[h - 1][0] if h else -2  # the insn of the newest entry not yet used
    while True:
        if skip_first:
            skip_first = False
        else:
            ent = hist[h - 1] if hi == i else None
            # an entry that only records the edge (no stack slot, no linked
            # registers) changes nothing backtrack_insn does: the fast path too
            if log2 or (ent is not None and (ent[2] >= 0 or ent[4])):
                backtrack_insn(v, i, subseq, ent, bt)
            else:
                d = dec[i]
                if d[0]:  # ALU: the common cases inline (backtrack_insn's rules)
                    fr = bt.frame
                    m = regs[fr]
                    if m >> d[1] & 1:
                        if d[3]:  # mov
                            m &= ~(1 << d[1])
                        if d[2] >= 0:  # a register source
                            m |= 1 << d[2]
                        regs[fr] = m
                elif d[1] == 0:  # not a conditional jump on an immediate
                    backtrack_insn(v, i, subseq, ent, bt)
        if not (regs[0] or stack[0]) and (bt.frame == 0 or bt.empty()):
            return False
        subseq = i
        if i == first_i and (h == 0 or (h == 1 and hist[0][0] == i)):
            return True
        if hi == i:
            i = hist[h - 1][1]
            h -= 1
            hi = hist[h - 1][0] if h else -2
            if memo is not None and i >= 0:
                # entries hist[:h] are left; the newest of them (a tuple made once)
                # tells this history from another state's that shares the memo
                fr = bt.frame
                # what is traced: in frame 0 the frames above hold nothing (the walk
                # leaves a frame only after moving its bits to the caller's)
                key = (h, i, subseq, 0, regs[0], stack[0]) if fr == 0 else \
                    (h, i, subseq, fr, tuple(regs), tuple(stack))
                anchor = hist[h - 1] if h else None
                got = memo.get(key)
                if got is not None and got[0] is anchor:
                    out = got[1]
                    if out is _RETURN:
                        return False
                    if out[0] == "unsupported":
                        raise NotSupported(out[1])
                    bt.frame = out[0]
                    regs[:] = out[1]
                    stack[:] = out[2]
                    return True
                pending.append((key, anchor))
        else:
            i -= 1
        if i < 0:
            raise NotSupported(f"backtracking idx {i}")


def propagate_precision(v: Any, old: "VState", cur: "VState",
                        live_stack: "list[int] | None" = None) -> None:
    """After a prune: what the explored state needed precise, the current path's
    checkpoints need precise too (`live_stack`: per frame, the slots the prune
    compared; a dead slot's mark is not needed)."""
    if not v.bpf_capable:
        return
    bt = Backtrack(cur.curframe)
    for fr, f in enumerate(old.frames):
        regs = 0
        for i in range(10):
            r = f.regs[i]
            if r.type is _SCALAR and r.precise:
                regs |= 1 << i
        stack = 0
        smask = live_stack[fr] if live_stack is not None and fr < len(live_stack) else -1
        for spi in f.spills:
            if not smask >> spi & 1:
                continue
            sr = f.spilled(spi)
            if sr is not None and sr.type is _SCALAR and sr.precise:
                stack |= 1 << spi
        if v.log_level & 2 and (regs or stack):
            parts = [f"r{i}" for i in _bits(regs)] + [f"fp{-(i + 1) * 8}" for i in _bits(stack)]
            v.verbose(f"frame {fr}: propagating {','.join(parts)}\n")
        bt.regs[fr] = regs
        bt.stack[fr] = stack
    mark_chain_precision(v, cur, -1, bt)


def linked_regs(v: Any, st: "VState", ids: list[int]) -> tuple:
    """collect_linked_regs: the live scalars (registers and spills, every frame) that
    share one of `ids` (without the BPF_ADD_CONST flags)."""
    want = {i & ~ADD_CONST for i in ids if i}
    if not want:
        return ()
    out = []
    live = v.live_masks(st)
    for fr, f in enumerate(st.frames):
        mask = live[fr]
        for j in range(10):
            r = f.regs[j]
            if mask >> j & 1 and r.type is _SCALAR and r.id & ~ADD_CONST in want:
                out.append((fr, False, j))
        for spi in f.spills:
            sr = f.spilled(spi)
            if sr is not None and sr.type is _SCALAR and sr.id & ~ADD_CONST in want:
                out.append((fr, True, spi))
    return tuple(out) if len(out) > 1 else ()
