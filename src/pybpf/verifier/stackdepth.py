"""check_max_stack_depth: after the path walk, every static call chain from the main
program sums its frames' stack depths (rounded up to the JIT's 16 bytes); a chain over
512 bytes is refused, as is a tail call below 256 bytes of callers' stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..isa import Instruction
from ..uapi import ProgType
from .refusal import Refusal

MAX_BPF_STACK = 512
MAX_CALL_FRAMES = 8
BPF_PRIV_STACK_MIN_SIZE = 64
# bpf_enable_priv_stack: the types whose JIT-ed frames of 64 bytes or more move to a
# private per-CPU stack on a kernel whose JIT has one (upstream x86-64 since 6.13; not
# every build: the Linux 6.18.44 here has none). Tracing/LSM/struct_ops need a trampoline
# that cannot attach here; they are treated as having no private stack (the stricter answer).
_PRIV_STACK_TYPES = frozenset({ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
                               ProgType.RAW_TRACEPOINT})
_BPF_FUNC_TAIL_CALL = 12


def round_up_stack_depth(depth: int) -> int:
    """The JIT (always on here) rounds a frame to 16 bytes."""
    return (depth + 15) // 16 * 16


def _callee(pc: int, insn: Instruction | None) -> int | None:
    """The target of a bpf-to-bpf call or of a ld_imm64 of a subprogram (callback)."""
    if insn is None:
        return None
    if insn.opcode == 0x85 and insn.src == 1:  # BPF_PSEUDO_CALL
        return pc + insn.imm + 1
    if insn.opcode == 0x18 and insn.src == 4:  # BPF_PSEUDO_FUNC
        return pc + insn.imm + 1
    return None


def check_max_stack_depth(slots: Sequence[Instruction | None], subprogs: Sequence[int],
                          stack_depth: Mapping[int, int], prog_type: object,
                          private_stack: bool = False) -> None:
    """Walk every call chain from subprogram 0; raise Refusal as the kernel does.
    `private_stack`: the target kernel's JIT moves large frames of tracing programs to a
    private stack (off by default: the stricter answer, right for kernels without it)."""
    n = len(subprogs)
    ends = list(subprogs[1:]) + [len(slots)]

    def subprog_of(pc: int) -> int:
        idx = 0
        for i, s in enumerate(subprogs):
            if s <= pc:
                idx = i
        return idx

    has_tail_call = [any(i is not None and i.opcode == 0x85 and i.src == 0
                         and i.imm == _BPF_FUNC_TAIL_CALL
                         for i in slots[subprogs[k]:ends[k]]) for k in range(n)]
    priv_stack = private_stack and not any(has_tail_call) and prog_type in _PRIV_STACK_TYPES

    done: set[tuple[int, int, int]] = set()  # chains already walked without a refusal

    def walk(idx: int, depth: int, frames: int) -> None:
        if (idx, depth, frames) in done:
            return
        if idx and has_tail_call[idx] and depth >= 256:
            raise Refusal("tail_calls are not allowed when call stack of previous frames "
                          f"is {depth} bytes. Too large")
        depth0 = depth
        own = round_up_stack_depth(stack_depth.get(idx, 0))
        if priv_stack and own >= BPF_PRIV_STACK_MIN_SIZE:
            if own > MAX_BPF_STACK:
                raise Refusal(f"stack size of subprog {idx} is {own}. Too large")
        else:
            depth += own
            if depth > MAX_BPF_STACK:
                raise Refusal(f"combined stack size of {frames} calls is {depth}. Too large")
        for pc in range(subprogs[idx], ends[idx]):
            target = _callee(pc, slots[pc])
            if target is None:
                continue
            if frames >= MAX_CALL_FRAMES:
                raise Refusal(f"the call stack of {frames} frames is too deep !")
            walk(subprog_of(target), depth, frames + 1)
        done.add((idx, depth0, frames))

    walk(0, 0, 1)
