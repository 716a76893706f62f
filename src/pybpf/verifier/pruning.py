"""State pruning (the kernel's is_state_visited and its helpers): checkpoints at prune
points, the explored states a path is compared with, loop detection, and the
precision bookkeeping pruning relies on (instruction history, propagation of precise
marks on a prune, back-edges of loops still being explored)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .precision import (Backtrack, NotSupported, mark_all_imprecise, mark_all_precise,
                        propagate_precision, walk_chain)
from .reg import RegType
from .state import Checkpoint, VState, maybe_looping, states_equal


class PruneMixin:
    """The Verifier's pruning half (a mixin, as BranchMixin and MemMixin)."""

    if TYPE_CHECKING:  # the Verifier's state and methods, which this half reads
        hist_step: int
        insn_processed: int
        jmps_processed: int
        prev_jmps_processed: int
        prev_insn_processed: int
        cur_states: int
        total_states: int
        peak_states: int
        max_states_per_insn: int
        precise_marks: int

        def __getattr__(self, name: str) -> Any: ...

    # -- precision ----------------------------------------------------------------------
    def push_hist(self, frame: int = -1, spi: int = -1, linked: tuple = ()) -> None:
        """push_jmp_history: one entry per instruction; a stack access or linked
        registers found later in the same instruction join its entry."""
        st = self.st
        h = st.hist
        if self.hist_step == self.insn_processed and h and h[-1][0] == st.insn_idx:
            e = h[-1]
            h[-1] = (e[0], e[1], frame if frame >= 0 else e[2], spi if frame >= 0 else e[3],
                     linked or e[4])
            return
        h.append((st.insn_idx, st.prev_insn_idx, frame, spi, linked))
        self.hist_step = self.insn_processed

    def mark_precise(self, regno: int) -> None:
        """mark_chain_precision for a scalar register of the current frame."""
        st = self.st
        frames = st.frames
        if self.bpf_capable and frames[-1].regs[regno].type is RegType.SCALAR:
            bt = Backtrack(len(frames) - 1)
            bt.regs[bt.frame] = 1 << regno
            try:
                walk_chain(self, st, bt)
            except NotSupported:
                mark_all_precise(self, st)

    def update_branch_counts(self, cp: Checkpoint | None) -> None:
        while cp is not None:
            cp.branches -= 1
            if cp.branches:
                break
            if self.backedges and id(cp) in self.backedges:
                self.resolve_backedges(cp)
            cp = cp.parent

    def live_masks(self, st: VState) -> list[int]:
        out = []
        frames = st.frames
        for k in range(len(frames)):
            if k == len(frames) - 1:
                idx = st.insn_idx
            else:
                idx = frames[k + 1].callsite + 1
            out.append(self.prog.live_in[idx] if 0 <= idx < len(self.prog.live_in) else 0x7FF)
        return out

    def stack_masks(self, st: VState) -> list[int]:
        """Per frame, the stack slots that may still be read (stacklive.py): from the
        current insn for the innermost frame, from the call insn for the callers (what
        the callee may read through the pointers it was given included)."""
        out = []
        frames = st.frames
        live = self.prog.stack_live
        for k in range(len(frames)):
            idx = st.insn_idx if k == len(frames) - 1 else frames[k + 1].callsite
            out.append(live[idx] if 0 <= idx < len(live) else -1)
        return out

    def is_state_visited(self, idx: int) -> bool:
        """True when the current state is subsumed by an explored one (prune)."""
        cur = self.st
        force = idx in self.force_checkpoints
        # a new checkpoint only after 2 jumps and 8 instructions (or when forced)
        add_new = force or (self.jmps_processed - self.prev_jmps_processed >= 2 and
                            self.insn_processed - self.prev_insn_processed >= 8)
        lst = self.explored.setdefault(idx, [])
        n = len(lst)
        live = None
        live_stack: list[int] | None = None
        evict = []
        # what the loop below tests for every checkpoint, worked out once
        may_goto = idx in self.may_goto_insns
        callback = idx in self.callback_calls
        near = not force and self.jmps_processed - self.prev_jmps_processed < 20 and \
            self.insn_processed - self.prev_insn_processed < 100
        cb_depth, mg_depth = cur.callback_depth, cur.may_goto_depth
        nframes = len(cur.frames)
        cur_regs = cur.frames[-1].regs
        uninit = self.allow_uninit_stack
        strict = self.explore_alu_limits
        for cp in lst:
            old = cp.state
            if cp.branches:
                # a state of the path being explored: a loop; equal means no progress
                if may_goto and old.may_goto_depth != mg_depth and \
                        states_equal(old, cur, False, uninit, strict_scalars=strict):
                    cp.hit += 1
                    self.loop_hit(cp)
                    return True
                if callback:
                    if states_equal(old, cur, False, uninit, strict_scalars=strict):
                        cp.hit += 1
                        self.loop_hit(cp)
                        return True
                elif old.callback_depth == cb_depth and old.may_goto_depth == mg_depth and \
                        len(old.frames) == nframes:
                    # states_maybe_looping; first the register that differed last time
                    old_regs = old.frames[-1].regs
                    h = cp.loop_hint
                    o, c = old_regs[h], cur_regs[h]
                    if o.var_off.value == c.var_off.value and o.type is c.type:
                        diff = maybe_looping(old_regs, cur_regs)
                        if diff < 0:
                            if states_equal(old, cur, True, uninit):
                                self.fail(f"infinite loop detected at insn {idx}")
                        else:
                            cp.loop_hint = diff
                if near:
                    add_new = False
            else:
                if live is None:
                    live = self.live_masks(cur)
                    live_stack = self.stack_masks(cur)
                if not (old.speculative and not cur.speculative) and \
                        states_equal(old, cur, False, uninit, live,
                                     imprecise_ok=self.bpf_capable and
                                     not (self.backedges and self.incomplete_marks(cp)),
                                     live_stack=live_stack, strict_scalars=strict):
                    cp.hit += 1
                    self.record_arrival(idx)
                    propagate_precision(self, old, cur, live_stack)
                    return True
            if add_new:  # a miss counts only when a state is added (kernel heuristic)
                cp.miss += 1
            k = 64 if force and cp.branches else 3
            if cp.miss > cp.hit * k + k:
                evict.append(cp)
        if evict:
            ids = {id(c) for c in evict}
            lst[:] = [c for c in lst if id(c) not in ids]
            self.cur_states -= len(evict)
        if self.max_states_per_insn < n:
            self.max_states_per_insn = n
        if not add_new:
            return False
        self.total_states += 1
        self.cur_states += 1
        self.peak_states = max(self.peak_states, self.cur_states)
        self.prev_jmps_processed = self.jmps_processed
        self.prev_insn_processed = self.insn_processed
        snap = cur.copy()
        snap.last_insn_idx = cur.prev_insn_idx
        snap.bt_memo = None  # checkpoints keep no memo (their memory would add up)
        cp = Checkpoint(snap, cur.parent, idx)
        cur.parent = cp
        cur.first_insn_idx = idx
        cur.hist = []
        cur.bt_memo = {}
        if self.bpf_capable:
            mark_all_imprecise(cur)
        lst.append(cp)
        return False

    def find_prev_entry(self, cur: VState, idx: int) -> VState | None:
        """find_prev_entry: the most recent state at `idx` on the current path (a loop
        head still being explored) with the same call chain."""
        chain = set()
        cp = cur.parent
        while cp is not None:
            chain.add(id(cp))
            cp = cp.parent
        for cp in reversed(self.explored.get(idx, ())):
            if cp.branches and id(cp) in chain and len(cp.state.frames) == len(cur.frames) \
                    and all(a.callsite == b.callsite
                            for a, b in zip(cp.state.frames, cur.frames)):
                return cp.state
        return None

    def loop_hit(self, cp: Checkpoint) -> None:
        """A state pruned against a loop head still being explored (may_goto, callback
        loops). The head's precision marks are not final: the pruned state is kept as
        a back-edge and the head's marks are propagated again along it when the head is
        done (the kernel's propagate_backedges); until then pruning compares every
        scalar (the kernel's RANGE_WITHIN for states with incomplete marks)."""
        self.record_arrival(self.st.insn_idx)
        propagate_precision(self, cp.state, self.st)
        self.backedges.setdefault(id(cp), (cp, []))[1].append(self.st)

    def incomplete_marks(self, cp: Checkpoint) -> bool:
        """incomplete_read_marks: `cp` lies inside a loop whose head has back-edges
        still to propagate (a callback's body, or a may_goto loop's descendants)."""
        chain = cp.chain()
        for hid, (head, _) in self.backedges.items():
            if hid in chain and (head.insn_idx in self.may_goto_insns or
                                 len(cp.state.frames) > len(head.state.frames) or
                                 cp.insn_idx == head.insn_idx):
                return True
        return False

    def resolve_backedges(self, cp: Checkpoint) -> None:
        """propagate_backedges: the loop head is done; its final precise marks flow
        along every back-edge until nothing changes."""
        _, edges = self.backedges.pop(id(cp))
        while True:
            before = self.precise_marks
            for b in edges:
                propagate_precision(self, cp.state, b)
            if self.precise_marks == before:
                return

    def record_arrival(self, idx: int) -> None:
        """The history entry for reaching `idx`: at jump points and wherever the path
        did not come from the instruction before."""
        prev = self.st.prev_insn_idx
        if idx in self.prog.jmp_points or not (
                prev == idx - 1 or (prev == idx - 2 and self.slots[idx - 1] is None)):
            self.push_hist()

