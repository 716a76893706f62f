"""The tracing program types' contexts as data: raw tracepoint arguments, struct pt_regs
of x86-64 and arm64 (kprobe/uprobe), struct bpf_perf_event_data, and tracepoint
records described by their tracefs format files."""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...uapi import ProgType
from ..ctx import ANY, DW, ContextSpec, FieldKind, sizes, table

MAX_BPF_FUNC_ARGS = 12
RAW_TP_CTX_MAX = 8 * MAX_BPF_FUNC_ARGS
PERF_MAX_TRACE_SIZE = 8192
_M = FieldKind.MEMORY

# the program types whose context is caller-supplied bytes (no test run builds it)
TRACING_TYPES = frozenset([ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
                           ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE])

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
        rows: list[tuple] = []
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
    return _generic_tracepoint_spec()


@lru_cache(maxsize=None)
def _generic_tracepoint_spec() -> ContextSpec:
    return ContextSpec("tracepoint record", PERF_MAX_TRACE_SIZE, table([
        ("common", 0, 8, _M, "struct trace_entry (not readable)"),
        ("record", 8, PERF_MAX_TRACE_SIZE - 8, _M, "event fields", ANY)]),
        RETVAL[ProgType.TRACEPOINT])


def tracing_spec(prog_type: ProgType, *, arch: str | None = None,
                 tracepoint: TracepointFormat | None = None) -> ContextSpec:
    """The context table of tracing type `prog_type` (pt_regs of `arch`, default this
    machine's; a tracepoint's record as `tracepoint` describes it, else the generic rule)."""
    if prog_type in (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE):
        return raw_tp_spec()
    if prog_type == ProgType.KPROBE:
        return kprobe_spec(arch)
    if prog_type == ProgType.PERF_EVENT:
        return perf_event_spec(arch)
    if prog_type == ProgType.TRACEPOINT:
        return tracepoint_spec(tracepoint)
    raise ValueError(f"{prog_type!r} is not a tracing type")
