"""Kprobes and kretprobes (BPF_PROG_TYPE_KPROBE on kernel functions): a perf event of
the dynamic "kprobe" PMU (type from /sys/bus/event_source/devices/kprobe/type,
config1 = the function's name, config2 = the offset in it, the retprobe bit from the
PMU's format), with the program on it through a perf link; and kprobe.multi
(BPF_LINK_CREATE, BPF_TRACE_KPROBE_MULTI, Linux 5.18+): one link on many functions
through fprobe, named by a glob over the traceable functions."""

from __future__ import annotations

import ctypes
import errno as _errno
import fnmatch
import os
import struct
from typing import Iterable, Sequence

from ...cpus import online_cpus
from .. import abi
from ..abi import AttachType
from ..errors import KernelError, NotSupportedError, kernel_error
from ..fd import Owner
from ..objects import prog_id_of
from ..tracefs import tracefs_root
from .base import Link, link_create
from .netbase import kernel_feature
from .perf_event import PerfEventLink, _link_event, perf_event_open
from .uprobe import UprobeError, _pmu_format_bit, _pmu_type

KPROBE_PMU_DIR = "/sys/bus/event_source/devices/kprobe"
BPF_F_KPROBE_MULTI_RETURN = 1


def kprobe_pmu_type() -> int:
    """The perf PMU type of kprobes; NotSupportedError naming the missing PMU directory
    when the kernel has none (CONFIG_KPROBES / CONFIG_KPROBE_EVENTS off)."""
    try:
        return _pmu_type(KPROBE_PMU_DIR)
    except UprobeError as e:
        raise NotSupportedError(e.errno, "kprobe",
                                f"this kernel has no kprobe PMU ({KPROBE_PMU_DIR}/type: "
                                f"{os.strerror(e.errno)}); kprobes need CONFIG_KPROBES and "
                                "CONFIG_KPROBE_EVENTS") from None


class KprobeLink(PerfEventLink):
    """A kprobe / kretprobe attachment: `function`, `offset`, `retprobe`, `cookie`."""

    def __init__(self, events: list, links: list[Link], target: str, *, function: str,
                 offset: int, retprobe: bool, cookie: int) -> None:
        super().__init__(events, links, target)
        self.function, self.offset = function, offset
        self.retprobe, self.cookie = retprobe, cookie


def attach_kprobe(prog: "int | Owner", function: str, offset: int = 0, *,
                  retprobe: bool = False, cookie: int = 0) -> KprobeLink:
    """Attach a kprobe program at kernel function `function` (+ `offset`), or with
    `retprobe` at its return, as a perf event of the kprobe PMU with a perf link
    carrying `cookie`. Runs on every CPU, in every task."""
    if not function or offset < 0:
        raise ValueError("a kprobe needs a function name and a non-negative offset")
    if retprobe and offset:
        raise ValueError("kretprobes take no offset")
    kind = "kretprobe" if retprobe else "kprobe"
    where = function + (f"+{offset:#x}" if offset else "")
    ptype = kprobe_pmu_type()
    config = _pmu_format_bit(KPROBE_PMU_DIR, "retprobe") if retprobe else 0
    name = ctypes.create_string_buffer(function.encode())
    attr = abi.PerfEventAttr(type=ptype, size=abi.PERF_ATTR_SIZE_VER8, config=config,
                             config1=ctypes.addressof(name), config2=offset,
                             sample_period=1, wakeup_events=1, disabled=1)
    try:
        event = perf_event_open(attr, pid=-1, cpu=online_cpus()[0])
    except KernelError as e:
        if e.errno in (_errno.ENOENT, _errno.EINVAL):
            raise kernel_error(e.errno, e.cmd, f"{kind} {where}: no such probe-able kernel "
                               "function (see /proc/kallsyms; inlined and notrace "
                               "functions cannot be probed)") from None
        raise
    links = _link_event(prog, event, None, cookie)
    handle = KprobeLink([event], links, f"{kind} {where}", function=function, offset=offset,
                        retprobe=retprobe, cookie=cookie)
    handle._prog_id = prog_id_of(prog)
    return handle


def traceable_functions() -> list[str]:
    """The kernel functions fprobe (kprobe.multi) can attach to: tracefs's
    available_filter_functions (module functions carry " [module]", dropped here);
    where that file cannot be read (lockdown refuses it), the text symbols of
    /proc/kallsyms, which the kernel then checks at attach time."""
    path = os.path.join(tracefs_root(), "available_filter_functions")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.split()[0] for line in f if line.strip()]
    except OSError as e:
        first = e
    try:
        with open("/proc/kallsyms", encoding="utf-8", errors="replace") as f:
            return [parts[2] for parts in (line.split() for line in f)
                    if len(parts) >= 3 and parts[1] in "tT" and len(parts) == 3]
    except OSError:
        raise NotSupportedError(first.errno or _errno.ENOENT, "kprobe.multi",
                                f"{path}: {first.strerror}, and /proc/kallsyms cannot be "
                                "read either") from None


def resolve_kprobe_pattern(pattern: str, functions: Iterable[str] | None = None) -> list[str]:
    """The traceable functions a glob (`*`, `?`, `[...]`) matches, sorted and unique."""
    names = traceable_functions() if functions is None else functions
    return sorted({n for n in names if fnmatch.fnmatchcase(n, pattern)})


# the prefix of a system call's kernel function per architecture (its syscall wrapper)
SYSCALL_PREFIXES = {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_",
                    "s390x": "__s390x_sys_", "riscv64": "__riscv_sys_",
                    "loongarch64": "sys_", "ppc64le": "sys_"}


def syscall_kprobe_function(name: str) -> str:
    """The kernel function a kprobe on system call `name` goes to, as libbpf's ksyscall
    picks it: the architecture's wrapper (__x64_sys_<name>) where /proc/kallsyms has
    it, else sys_<name>."""
    prefix = SYSCALL_PREFIXES.get(os.uname().machine, "sys_")
    wanted = prefix + name
    try:
        with open("/proc/kallsyms", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == wanted:
                    return wanted
    except OSError:
        pass
    return "sys_" + name


class KprobeMultiLink(Link):
    """One kprobe.multi link over `functions`."""

    kind = "kprobe_multi"

    def __init__(self, link: Link, functions: Sequence[str], retprobe: bool) -> None:
        kind = "kretprobe.multi" if retprobe else "kprobe.multi"
        shown = ",".join(functions[:3]) + (",..." if len(functions) > 3 else "")
        super().__init__(link._fd, "kprobe_multi", f"{kind} {shown} ({len(functions)})")
        self.functions = list(functions)
        self.retprobe = retprobe


def attach_kprobe_multi(prog: "int | Owner", functions: "str | Sequence[str]", *,
                        retprobe: bool = False,
                        cookies: Sequence[int] | None = None) -> KprobeMultiLink:
    """Attach a kprobe.multi program (loaded with expected attach type
    TRACE_KPROBE_MULTI) to many kernel functions at once: `functions` a glob pattern
    ("tcp_*", resolved in available_filter_functions) or a list of names; `retprobe`
    at their returns; `cookies` one bpf_cookie per function."""
    names = resolve_kprobe_pattern(functions) if isinstance(functions, str) \
        else list(functions)
    kind = "kretprobe.multi" if retprobe else "kprobe.multi"
    if not names:
        raise kernel_error(_errno.ENOENT, "kprobe.multi",
                           f"{kind} {functions!r} matches no traceable kernel function")
    if cookies is not None and len(cookies) != len(names):
        raise ValueError(f"{len(cookies)} cookies for {len(names)} functions")
    bufs = [ctypes.create_string_buffer(n.encode()) for n in names]
    syms = (ctypes.c_uint64 * len(names))(*(ctypes.addressof(b) for b in bufs))
    cookie_arr = (ctypes.c_uint64 * len(names))(*cookies) if cookies else None
    extra = struct.pack("<IIQQQ", BPF_F_KPROBE_MULTI_RETURN if retprobe else 0, len(names),
                        ctypes.addressof(syms), 0,
                        ctypes.addressof(cookie_arr) if cookie_arr is not None else 0)
    what = f"{kind} on {len(names)} functions ({names[0]}{', ...' if len(names) > 1 else ''})"
    try:
        link = link_create(prog, 0, AttachType.TRACE_KPROBE_MULTI, extra=extra, detail=what)
    except KernelError as e:
        if e.errno in (_errno.EOPNOTSUPP, _errno.ENOSYS) or (
                e.errno == _errno.EINVAL and not kernel_feature("kprobe_multi_link")):
            raise NotSupportedError(e.errno, e.cmd, f"{what}: the kernel refuses kprobe.multi "
                                    f"links ({os.strerror(e.errno)}); they need Linux 5.18 "
                                    "with CONFIG_FPROBE") from None
        if e.errno == _errno.ESRCH:
            raise kernel_error(e.errno, e.cmd, f"{what}: a function is not traceable "
                               "(not in available_filter_functions)") from None
        raise
    finally:
        del bufs
    return KprobeMultiLink(link, names, retprobe)
