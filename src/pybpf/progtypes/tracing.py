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
import os
import re
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..isa import SIZE_BYTES, InsnKind, classify, decode, jump_target
from ..uapi import ProgType
from ..vm import VM, Memory
from .common import map_region
from .ctx import ANY, DW, ContextAccess, ContextSpec, CtxField, FieldKind, sizes, table
from .errors import TestRunError
from .runbase import RunArgs, TestRunResult
from .task import (Task, is_kernel_side, probe_read_kernel, probe_read_kernel_str,
                   probe_read_user, probe_read_user_str, task_of)

M64 = (1 << 64) - 1

MAX_BPF_FUNC_ARGS = 12
RAW_TP_CTX_MAX = 8 * MAX_BPF_FUNC_ARGS
PERF_MAX_TRACE_SIZE = 8192
BPF_F_TEST_RUN_ON_CPU = 1 << 0
_M = FieldKind.MEMORY

TRACING_HELPER_TYPES = frozenset([ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
                                  ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE])


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

RETVAL = {
    ProgType.KPROBE: "0: the event is not recorded further, 1: it is (perf output)",
    ProgType.TRACEPOINT: "0 or 1, as kprobe",
    ProgType.PERF_EVENT: "0 or 1, as kprobe",
    ProgType.RAW_TRACEPOINT: "ignored by the kernel (reported by test_run)",
    ProgType.RAW_TRACEPOINT_WRITABLE: "ignored by the kernel",
}


# --- raw tracepoints ---------------------------------------------------------------------

def raw_tp_spec() -> ContextSpec:
    """`struct bpf_raw_tracepoint_args { __u64 args[]; }`: any aligned read of up to 12
    arguments (bpf_tracing_ctx_access); no writes."""
    return ContextSpec("struct bpf_raw_tracepoint_args", RAW_TP_CTX_MAX, table([
        (f"args[{i}]", 8 * i, 8, _M, f"argument {i} of the tracepoint", ANY)
        for i in range(MAX_BPF_FUNC_ARGS)]), RETVAL[ProgType.RAW_TRACEPOINT])


# --- kprobes: struct pt_regs ---------------------------------------------------------------

@dataclass(frozen=True)
class PtRegsLayout:
    """`struct pt_regs` of one architecture: register names in order (8 bytes each unless
    noted), the size, and which registers hold the function arguments, return value,
    stack and instruction pointer (the PT_REGS_* macros)."""

    arch: str
    fields: tuple[tuple[str, int, int], ...]  # (name, offset, size)
    size: int
    params: tuple[str, ...]
    ret: str
    sp: str
    ip: str

    def offset(self, name: str) -> int:
        for n, off, _ in self.fields:
            if n == name:
                return off
        raise KeyError(name)

    def pack(self, **regs: int) -> bytes:
        """pt_regs bytes with the named registers set (`param1`..`param6`, `ret`, `sp`,
        `ip` are accepted as aliases)."""
        out = bytearray(self.size)
        for name, value in regs.items():
            if name.startswith("param"):
                name = self.params[int(name[5:]) - 1]
            elif name in ("ret", "sp", "ip"):
                name = getattr(self, name)
            for n, off, size in self.fields:
                if n == name:
                    out[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(
                        size, "little")
                    break
            else:
                raise KeyError(f"no register {name} in {self.arch} pt_regs")
        return bytes(out)


def _regs(names: list[str]) -> tuple[tuple[str, int, int], ...]:
    return tuple((n, 8 * i, 8) for i, n in enumerate(names))


PT_REGS_X86_64 = PtRegsLayout(
    "x86_64",
    _regs(["r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx",
           "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss"]),
    168, ("di", "si", "dx", "cx", "r8", "r9"), "ax", "sp", "ip")

PT_REGS_ARM64 = PtRegsLayout(
    "arm64",
    _regs([f"x{i}" for i in range(31)] + ["sp", "pc", "pstate", "orig_x0"])
    + (("syscallno", 280, 4), ("pmr", 284, 4), ("sdei_ttbr1", 288, 8),
       ("stackframe.fp", 296, 8), ("stackframe.lr", 304, 8), ("stackframe.type", 312, 8),
       ("lockdep_hardirqs", 320, 8), ("exit_rcu", 328, 8)),
    336, ("x0", "x1", "x2", "x3", "x4", "x5"), "x0", "sp", "pc")

PT_REGS = {"x86_64": PT_REGS_X86_64, "arm64": PT_REGS_ARM64, "aarch64": PT_REGS_ARM64}


def pt_regs(arch: str | None = None) -> PtRegsLayout:
    """The pt_regs layout of `arch` (default: this machine's)."""
    arch = arch or os.uname().machine
    try:
        return PT_REGS[arch]
    except KeyError:
        raise ValueError(f"no pt_regs layout for {arch} (have: x86_64, arm64)") from None


def kprobe_spec(arch: str | None = None) -> ContextSpec:
    """kprobe/uprobe context: struct pt_regs, any aligned read inside it
    (kprobe_prog_is_valid_access), no writes."""
    layout = pt_regs(arch)
    return ContextSpec("struct pt_regs", layout.size, table([
        (n, off, size, _M, f"{layout.arch} register {n}",
         sizes(*[s for s in (1, 2, 4, 8) if s <= size]))
        for n, off, size in layout.fields]), RETVAL[ProgType.KPROBE])


def perf_event_spec(arch: str | None = None) -> ContextSpec:
    """struct bpf_perf_event_data: regs (8-byte reads), then sample_period and addr
    (narrow reads) (pe_prog_is_valid_access); no writes."""
    layout = pt_regs(arch)
    rows = [(f"regs.{n}", off, size, _M, f"{layout.arch} register {n}", DW)
            for n, off, size in layout.fields if size == 8]
    base = layout.size
    rows += [("sample_period", base, 8, _M, "perf_sample_data->period", ANY),
             ("addr", base + 8, 8, _M, "perf_sample_data->addr", ANY)]
    return ContextSpec("struct bpf_perf_event_data", base + 16, table(rows),
                       RETVAL[ProgType.PERF_EVENT])


def perf_event_data(arch: str | None = None, *, sample_period: int = 0, addr: int = 0,
                    **regs: int) -> bytes:
    """The bytes of a bpf_perf_event_data."""
    return pt_regs(arch).pack(**regs) + struct.pack("<QQ", sample_period, addr)


# --- tracepoints ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TpField:
    """One field of a tracepoint record (from the event's format file)."""

    type: str
    name: str
    offset: int
    size: int
    signed: bool


@dataclass(frozen=True)
class TracepointFormat:
    """A tracepoint's record layout: what a BPF_PROG_TYPE_TRACEPOINT program's context
    points to."""

    name: str
    id: int
    fields: tuple[TpField, ...]
    source: str = "builtin"

    @property
    def size(self) -> int:
        return max(f.offset + f.size for f in self.fields)

    def field(self, name: str) -> TpField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def pack(self, **values: int | bytes | list[int]) -> bytes:
        """The record with fields set by name (arrays from a list of ints, `common_type`
        defaults to the event id)."""
        out = bytearray(self.size)
        values.setdefault("common_type", self.id)
        for name, v in values.items():
            f = self.field(name)
            if isinstance(v, (bytes, bytearray)):
                out[f.offset:f.offset + len(v)] = v[:f.size]
            elif isinstance(v, list):
                elem = f.size // len(v) if v else f.size
                m = re.search(r"\[(\d+)\]", f.type + f.name)
                if m:
                    elem = f.size // int(m.group(1))
                for i, x in enumerate(v):
                    out[f.offset + i * elem:f.offset + (i + 1) * elem] = \
                        (x & ((1 << (8 * elem)) - 1)).to_bytes(elem, "little")
            else:
                out[f.offset:f.offset + f.size] = (v & ((1 << (8 * f.size)) - 1)).to_bytes(
                    f.size, "little")
        return bytes(out)

    def spec(self) -> ContextSpec:
        """The access rules (tp_prog_is_valid_access: aligned reads from offset 8, past
        the common header) with this event's fields named."""
        rows = []
        for f in self.fields:
            if f.offset < 8:
                rows.append((f.name, f.offset, f.size, _M, f"{f.type} (common header)"))
            else:
                rows.append((f.name, f.offset, f.size, _M, f.type,
                             sizes(*[s for s in (1, 2, 4, 8) if s <= f.size])))
        return ContextSpec(f"tracepoint {self.name}", max(self.size, 8), table(rows),
                           RETVAL[ProgType.TRACEPOINT])


_FIELD_RE = re.compile(r"field:(?P<decl>[^;]+);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                       r"\s*signed:(?P<signed>\d+);")


def parse_format(text: str, source: str = "text") -> TracepointFormat:
    """Parse a tracefs `format` file."""
    name = re.search(r"^name:\s*(\S+)", text, re.M)
    ident = re.search(r"^ID:\s*(\d+)", text, re.M)
    fields = []
    for m in _FIELD_RE.finditer(text):
        decl = m.group("decl").strip()
        fm = re.match(r"(?P<type>.*?)(?P<name>[A-Za-z_]\w*)(?P<arr>\[\d*\])?$", decl)
        if not fm:
            continue
        ftype = (fm.group("type").strip() + (fm.group("arr") or "")).strip()
        fields.append(TpField(ftype, fm.group("name"), int(m.group("off")),
                              int(m.group("size")), m.group("signed") == "1"))
    return TracepointFormat(name.group(1) if name else "?", int(ident.group(1)) if ident else 0,
                            tuple(fields), source)


_COMMON = (TpField("unsigned short", "common_type", 0, 2, False),
           TpField("unsigned char", "common_flags", 2, 1, False),
           TpField("unsigned char", "common_preempt_count", 3, 1, False),
           TpField("int", "common_pid", 4, 4, True))

# The layouts of raw_syscalls:sys_enter / sys_exit on 64-bit kernels (used where tracefs
# cannot be read; the ids are this system's at the time of writing and vary by kernel).
SYS_ENTER = TracepointFormat("sys_enter", 0, _COMMON + (
    TpField("long", "id", 8, 8, True), TpField("unsigned long[6]", "args", 16, 48, False)))
SYS_EXIT = TracepointFormat("sys_exit", 0, _COMMON + (
    TpField("long", "id", 8, 8, True), TpField("long", "ret", 16, 8, True)))

TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def tracepoint_format(category: str, event: str,
                      roots: tuple[str, ...] = TRACEFS) -> TracepointFormat | None:
    """The format of tracepoint `category:event` read from tracefs, or None."""
    for root in roots:
        p = Path(root) / "events" / category / event / "format"
        try:
            return parse_format(p.read_text(), str(p))
        except OSError:
            continue
    return None


def syscall_tracepoint(which: str = "sys_enter",
                       roots: tuple[str, ...] = TRACEFS) -> TracepointFormat:
    """raw_syscalls:sys_enter or sys_exit: from tracefs if readable, else the built-in
    64-bit layout (common header; `long id`; `unsigned long args[6]` or `long ret`)."""
    if which not in ("sys_enter", "sys_exit"):
        raise ValueError("which must be sys_enter or sys_exit")
    fmt = tracepoint_format("raw_syscalls", which, roots)
    return fmt if fmt is not None else (SYS_ENTER if which == "sys_enter" else SYS_EXIT)


def tracepoint_spec(fmt: TracepointFormat | None = None) -> ContextSpec:
    """Tracepoint access rules; without a format, the generic rule: aligned reads of
    [8, PERF_MAX_TRACE_SIZE)."""
    if fmt is not None:
        return fmt.spec()
    return ContextSpec("tracepoint record", PERF_MAX_TRACE_SIZE, table([
        ("common", 0, 8, _M, "struct trace_entry (not readable)"),
        ("record", 8, PERF_MAX_TRACE_SIZE - 8, _M, "event fields", ANY)]),
        RETVAL[ProgType.TRACEPOINT])


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


def context_spec(prog_type: ProgType, *, arch: str | None = None,
                 tracepoint: TracepointFormat | None = None) -> ContextSpec:
    if prog_type in (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE):
        return raw_tp_spec()
    if prog_type == ProgType.KPROBE:
        return kprobe_spec(arch)
    if prog_type == ProgType.PERF_EVENT:
        return perf_event_spec(arch)
    if prog_type == ProgType.TRACEPOINT:
        return tracepoint_spec(tracepoint)
    raise ValueError(f"{prog_type!r} is not a tracing type")


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
    spec = context_spec(prog_type, arch=arch, tracepoint=tracepoint)
    access = MemoryContext(spec, ctx, f"ctx({spec.struct})")
    memory = Memory()
    base = map_region(memory, access.region_name, bytearray(ctx), access)
    access.memory = memory.regions[base >> 32].buf  # type: ignore[assignment]
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
    State = tuple
    start: State = tuple([None, 0] + [None] * 9)
    states: dict[int, State] = {0: start}
    work = [0]
    best = 0
    while work:
        pc = work.pop()
        st = list(states[pc])
        insn = by_pc.get(pc)
        if insn is None:
            continue
        kind = classify(insn)
        nxt = [pc + insn.slots]
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
            elif op in (0x00, 0x10) and is64 and not src_x and st[insn.dst] is not None:
                st[insn.dst] += insn.imm if op == 0x00 else -insn.imm
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
        new: State = tuple(st)
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


def _online_cpus() -> set[int]:
    try:
        text = Path("/sys/devices/system/cpu/online").read_text().strip()
        out: set[int] = set()
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
        return out
    except (OSError, ValueError):
        return set(range(os.cpu_count() or 1))


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
    if on_cpu and args.cpu not in _online_cpus():
        raise TestRunError(errno.ENXIO, f"cpu {args.cpu} is not online")
    access = MemoryContext(raw_tp_spec(), args.ctx_in, "ctx(raw_tp args)")
    memory = Memory()
    base = map_region(memory, access.region_name, bytearray(args.ctx_in) or bytearray(0),
                      access) if n else 0
    if n:
        access.memory = memory.regions[base >> 32].buf  # type: ignore[assignment]
    with running_in(vm, task):
        r0 = vm.execute(memory, base).r0
    return TestRunResult(r0 & 0xFFFF_FFFF, b"", b"", 0)
