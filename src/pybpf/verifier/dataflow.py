"""Backward bit-mask dataflow over the control-flow graph, shared by the register and
stack-slot liveness passes: live[pc] = gen[pc] | (OR of live[s] over successors s) &
~kill[pc], solved by one pass from the end and a worklist for the back-edges."""

from __future__ import annotations

from collections.abc import Sequence


def backward_live(succ: Sequence[Sequence[int]], gen: Sequence[int],
                  kill: Sequence[int]) -> list[int]:
    """The least solution of live[pc] = gen[pc] | (OR live[succ]) & ~kill[pc]."""
    n = len(succ)
    live = [0] * n
    back = []
    for pc in range(n - 1, -1, -1):
        out = 0
        for s in succ[pc]:
            if s <= pc:
                back.append(pc)  # its successor is computed later: visit again
            out |= live[s]
        live[pc] = gen[pc] | (out & ~kill[pc])
    if not back:
        return live
    preds: list[list[int]] = [[] for _ in range(n)]
    for pc in range(n):
        for s in succ[pc]:
            preds[s].append(pc)
    work = back
    while work:
        pc = work.pop()
        out = 0
        for s in succ[pc]:
            out |= live[s]
        new = gen[pc] | (out & ~kill[pc])
        if new != live[pc]:
            live[pc] = new
            work.extend(preds[pc])
    return live
