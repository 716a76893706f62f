"""Tracing program types: raw tracepoints (`u64 args[]`), tracepoints (the event's raw
record as its format file lays it out), perf events (`struct bpf_perf_event_data`) and
kprobes (`struct pt_regs` of x86-64 or arm64). Their contexts are read-only memory the
caller supplies; the tables give the kernel's access rules (kernel/trace/bpf_trace.c).

Only raw tracepoints can be test-run in the kernel (ctx_in = the arguments); the others
answer ENOTSUPP, and `test_run` mirrors that. `run_context()` runs any of them on the VM
with caller-supplied context bytes, in a caller-supplied Task (pybpf.progtypes.task).

The tracing-only helpers, as Linux 6.18 answers them:

* bpf_get_func_ip: kprobes only (the probed function's address when the kprobe sits on
  its entry, else 0: `Task.func_ip`); in a uprobe the probed user address (at any
  offset, not only a function entry) and in a uretprobe the same address (where its
  uprobe sits, not the return address in ctx's ip), as tests/kernel/test_kernel_uprobe.py
  measures. The verifier refuses it with ENOTSUPP for raw tracepoints, tracepoints and
  perf events, and so does the VM (no such helper).
* bpf_get_attach_cookie: the link's bpf_cookie (`Task.attach_cookie`), 0 in
  BPF_PROG_TEST_RUN of a raw tracepoint (zeroed run context) and without a link.
* bpf_probe_read / bpf_probe_read_str (legacy): a user read below TASK_SIZE, a kernel
  read above (the VM's own memory counts as kernel memory).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..cpus import online_cpus
from ..isa import M64, SIZE_BYTES, InsnKind, classify, decode, jump_target
from ..uapi import BPF_F_TEST_RUN_ON_CPU, ProgType
from ..vm import VM, Memory
from .common import map_region
from .contexts.tracing import (RAW_TP_CTX_MAX, TRACING_TYPES, TracepointFormat, raw_tp_spec,
                               tracing_spec)
from .ctx import ContextAccess, ContextSpec, CtxField
from .errors import TestRunError
from .runbase import RunArgs, TestRunResult
from .task import (Task, is_kernel_side, probe_read_kernel, probe_read_kernel_str,
                   probe_read_user, probe_read_user_str, task_of)


# the types that get the tracing helpers: those whose context is caller-supplied bytes
TRACING_HELPER_TYPES = TRACING_TYPES


# --- the tracing-only helpers ------------------------------------------------------------

def _probe_read_compat(ctx: Any, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read (legacy, x86-64): a user read below TASK_SIZE, else a kernel read
    (the VM's own memory is kernel memory whatever its address)."""
    if is_kernel_side(ctx.memory, task_of(ctx), src & M64):
        return probe_read_kernel(ctx, dst, size, src)
    return probe_read_user(ctx, dst, size, src)


def _probe_read_compat_str(ctx: Any, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_str (legacy): the user or kernel string read, chosen as
    bpf_probe_read chooses."""
    if is_kernel_side(ctx.memory, task_of(ctx), src & M64):
        return probe_read_kernel_str(ctx, dst, size, src)
    return probe_read_user_str(ctx, dst, size, src)


def _get_attach_cookie(ctx: Any, *_: int) -> int:
    """bpf_get_attach_cookie(ctx): the bpf_cookie of the link the program runs from
    (`Task.attach_cookie`); 0 without one, as in BPF_PROG_TEST_RUN of a raw
    tracepoint, whose run context is zeroed."""
    return task_of(ctx).attach_cookie & M64


def _get_func_ip_kprobe(ctx: Any, *_: int) -> int:
    """bpf_get_func_ip(ctx) in a kprobe: the probed function's address when the kprobe
    sits on its entry (`Task.func_ip`), else 0; in a u[ret]probe the probed user
    address (the caller sets `Task.func_ip` to it). The verifier refuses the helper for
    tracepoints, raw tracepoints and perf events (ENOTSUPP), so only kprobes get it."""
    return task_of(ctx).func_ip & M64


# Helpers only the tracing types have, by name without `bpf_`, alike for all of them;
# `type_helpers` adds the per-type ones (helpersets registers them for
# TRACING_HELPER_TYPES).
HELPERS: dict[str, Callable[..., int]] = {
    "probe_read": _probe_read_compat,
    "probe_read_str": _probe_read_compat_str,
    "get_attach_cookie": _get_attach_cookie,
}
KPROBE_HELPERS: dict[str, Callable[..., int]] = {"get_func_ip": _get_func_ip_kprobe}


def type_helpers(prog_type: ProgType) -> dict[str, Callable[..., int]]:
    """The tracing helpers of one type: HELPERS, plus bpf_get_func_ip for kprobes."""
    if ProgType(prog_type) == ProgType.KPROBE:
        return {**HELPERS, **KPROBE_HELPERS}
    return dict(HELPERS)

# --- running ----------------------------------------------------------------------------------

class MemoryContext(ContextAccess):
    """A read-only context of caller-supplied bytes checked against a spec."""

    def __init__(self, spec: ContextSpec, data: bytes, name: str = "ctx") -> None:
        super().__init__(spec, name)
        self.memory = bytearray(data)

    def read_value(self, f: CtxField) -> int:  # pragma: no cover - all fields are MEMORY
        raise AssertionError(f.name)

    def write_value(self, f: CtxField, value: int, size: int) -> None:  # pragma: no cover
        raise AssertionError(f.name)


@contextmanager
def running_in(vm: VM, task: Task | None) -> Iterator[VM]:
    """Let `vm` run in `task` for the duration (None: keep the VM's own `vm.task`)."""
    if task is None:
        yield vm
        return
    old = vm.task
    vm.task = task
    try:
        yield vm
    finally:
        vm.task = old


def run_context(vm: VM, prog_type: ProgType, ctx: bytes, *, arch: str | None = None,
                tracepoint: TracepointFormat | None = None, task: Task | None = None) -> int:
    """Run a tracing program once on the VM with `ctx` as its context bytes (the region
    is as long as `ctx`; reads beyond it fail like any out-of-bounds access); r0.
    `task` is the task it runs in (ids, comm, the memory its probe helpers read,
    func_ip and attach cookie; default: `vm.task`, else the calling host thread)."""
    spec = tracing_spec(prog_type, arch=arch, tracepoint=tracepoint)
    access = MemoryContext(spec, ctx, f"ctx({spec.struct})")
    memory = Memory()
    buf = bytearray(ctx)
    base = map_region(memory, access.region_name, buf, access)
    access.memory = buf  # the region's bytes: the program's stores are the context's
    with running_in(vm, task):
        return vm.execute(memory, base).r0


def max_ctx_offset(code: bytes) -> int:
    """The highest end of a context access in the program, as the verifier records it
    (prog->aux->max_ctx_offset): a forward pass tracking registers that hold the
    context pointer (r1 at entry) plus a constant through moves and constant adds.
    Pointers spilled to the stack and sub-programs are not followed."""
    insns = decode(code)
    pcs: list[int] = []
    pc = 0
    for i in insns:
        pcs.append(pc)
        pc += i.slots
    by_pc = dict(zip(pcs, insns))
    # per register: its offset from the context pointer, None when not a context pointer
    start: tuple[int | None, ...] = tuple([None, 0] + [None] * 9)
    states: dict[int, tuple[int | None, ...]] = {0: start}
    work = [0]
    best = 0
    while work:
        pc = work.pop()
        st = list(states[pc])
        insn = by_pc.get(pc)
        if insn is None:
            continue
        kind = classify(insn)
        nxt: list[int | None] = [pc + insn.slots]
        cls = insn.opcode & 7
        if kind == InsnKind.LDX:
            base = st[insn.src]
            if base is not None:
                best = max(best, base + insn.off + SIZE_BYTES[insn.size])
            st[insn.dst] = None
        elif kind in (InsnKind.ST, InsnKind.STX, InsnKind.ATOMIC):
            base = st[insn.dst]
            if base is not None:
                best = max(best, base + insn.off + SIZE_BYTES[insn.size])
            if kind == InsnKind.ATOMIC:
                st[0] = None
                st[insn.src] = None
        elif kind == InsnKind.ALU:
            op = insn.opcode & 0xF0
            is64 = cls == 7
            src_x = insn.opcode & 0x08
            if op == 0xB0 and is64 and src_x and not insn.off:  # mov64 reg
                st[insn.dst] = st[insn.src]
            elif op in (0x00, 0x10) and is64 and not src_x \
                    and (d := st[insn.dst]) is not None:
                st[insn.dst] = d + (insn.imm if op == 0x00 else -insn.imm)
            else:
                st[insn.dst] = None
        elif kind in (InsnKind.LDDW, InsnKind.ENDIAN, InsnKind.LD_ABS, InsnKind.LD_IND):
            st[insn.dst if kind != InsnKind.LD_ABS and kind != InsnKind.LD_IND else 0] = None
        elif kind in (InsnKind.CALL, InsnKind.CALLX):
            for r in range(6):
                st[r] = None
        elif kind == InsnKind.EXIT:
            nxt = []
        elif kind in (InsnKind.JA, InsnKind.JCOND, InsnKind.MAY_GOTO):
            tgt = jump_target(insn, pc)
            nxt = [tgt] if kind == InsnKind.JA else [pc + 1, tgt]
        new = tuple(st)
        for n in nxt:
            if n is None or n not in by_pc:
                continue
            old = states.get(n)
            merged = new if old is None else tuple(a if a == b else None
                                                   for a, b in zip(old, new))
            if merged != old:
                states[n] = merged
                work.append(n)
    return best


def test_run_raw_tp(vm: VM, code: bytes | None, args: RunArgs,
                    task: Task | None = None) -> TestRunResult:
    """bpf_prog_test_run_raw_tp on the VM: ctx_in is the argument array; no data, no
    ctx_out, no repeat; only the return value comes back. The program runs in `task`
    (default: `vm.task`, else the calling host thread, as in the kernel)."""
    if args.has_data_in or args.has_data_out or args.has_ctx_out or args.repeat or \
            args.batch_size:
        raise TestRunError(errno.EINVAL, "raw_tracepoint test runs take only ctx_in "
                                         "(no data, ctx_out or repeat)")
    need = max_ctx_offset(code) if code is not None else 0
    n = len(args.ctx_in)
    if n < need or n > RAW_TP_CTX_MAX:
        raise TestRunError(errno.EINVAL, f"ctx_size_in {n} outside [{need}, "
                                         f"{RAW_TP_CTX_MAX}]")
    on_cpu = bool(args.flags & BPF_F_TEST_RUN_ON_CPU)
    if not on_cpu and args.cpu:
        raise TestRunError(errno.EINVAL, "cpu without BPF_F_TEST_RUN_ON_CPU")
    if on_cpu and args.cpu not in online_cpus():
        raise TestRunError(errno.ENXIO, f"cpu {args.cpu} is not online")
    access = MemoryContext(raw_tp_spec(), args.ctx_in, "ctx(raw_tp args)")
    memory = Memory()
    buf = bytearray(args.ctx_in)
    base = map_region(memory, access.region_name, buf, access) if n else 0
    if n:
        access.memory = buf  # the region's bytes
    with running_in(vm, task):
        r0 = vm.execute(memory, base).r0
    return TestRunResult(r0 & 0xFFFF_FFFF, b"", b"", 0)
