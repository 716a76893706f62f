"""Attaching loaded programs to kernel hooks, in pure Python (no libbpf).

* Tracepoints (BPF_PROG_TYPE_TRACEPOINT): a PERF_TYPE_TRACEPOINT perf event opened
  with perf_event_open(2) for the event id read from tracefs, then BPF_LINK_CREATE
  (attach type BPF_PERF_EVENT) on it, or, on kernels without perf links (< 5.15),
  the ioctls PERF_EVENT_IOC_SET_BPF + PERF_EVENT_IOC_ENABLE.
* Raw tracepoints (BPF_PROG_TYPE_RAW_TRACEPOINT): BPF_RAW_TRACEPOINT_OPEN, which
  returns a link fd.
* Socket filters (BPF_PROG_TYPE_SOCKET_FILTER): setsockopt(SOL_SOCKET, SO_ATTACH_BPF).
* Uprobes / uretprobes (BPF_PROG_TYPE_KPROBE): a perf event of the dynamic "uprobe" PMU
  (type from /sys/bus/event_source/devices/uprobe/type, config1 = the file's path,
  config2 = the probed file offset, the retprobe bit from its format file), then a perf
  link carrying the bpf_cookie.

Every attach returns an owned handle that detaches on close(), at the end of a `with`
block, or when it is garbage-collected (the fds are `FD`s; a socket filter is removed
with SO_DETACH_BPF by a finalizer that holds the socket).

Uprobes follow the same rule: the perf event of a uprobe with pid = -1 must name a CPU,
but its BPF programs run (from the uprobe's handler, before any perf filtering by CPU)
in every process that maps the file, on every CPU. With pid >= 0 the event is opened
on cpu = -1 and the kernel runs the program only in tasks sharing that process's mm
(uprobe_perf_filter), i.e. in the whole process of `pid`.

One perf event is enough for a tracepoint: the kernel keeps the BPF programs of a
tracepoint in one array per event (`trace_event_call.prog_array`) that runs on every
CPU once any perf event of that tracepoint exists, and it refuses the same program
twice on one tracepoint (EEXIST). So, as libbpf does, the event is opened with
pid = -1 on one CPU (the first online one) and the program still sees every CPU.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno as _errno
import fcntl
import os
import platform
import socket
import weakref
from ctypes import c_int32, c_uint16, c_uint32, c_uint64
from pathlib import Path
from typing import Any

from .abi import AttachType, BpfCmd
from .errors import ENOTSUPP, KernelError, NotSupportedError, kernel_error
from .fd import FD, Owner, fd_of
from .objects import FinalizedAttachment, Link, LinkInfo, link_create, link_info_of, prog_id_of
from .syscall import bpf, libc

# --- perf_event_open(2) ---------------------------------------------------------------------

# __NR_perf_event_open per architecture (arch syscall tables; arm64/riscv use the
# asm-generic table).
SYS_PERF_EVENT_OPEN_BY_MACHINE: dict[str, int] = {
    "x86_64": 298, "amd64": 298,
    "aarch64": 241, "arm64": 241, "riscv64": 241, "loongarch64": 241,
    "i386": 336, "i686": 336,
    "armv7l": 364,
    "ppc64le": 319, "ppc64": 319,
    "s390x": 331,
}

PERF_TYPE_TRACEPOINT = 2
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_ATTR_SIZE_VER8 = 136  # sizeof(struct perf_event_attr) since Linux 6.3 (config3)

# ioctl numbers: _IO('$', 0), _IO('$', 1), _IOW('$', 8, __u32)
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408

# setsockopt(SOL_SOCKET, ...) (asm-generic/socket.h; the same on x86 and arm64)
SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27  # = SO_DETACH_FILTER

# bit positions in perf_event_attr's flag word
_ATTR_DISABLED = 1 << 0


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr (include/uapi/linux/perf_event.h), 136 bytes (VER8).
    The bit-field word is one `flags` u64 (bit 0 = disabled, 1 = inherit, ...)."""

    _fields_ = [
        ("type", c_uint32),
        ("size", c_uint32),
        ("config", c_uint64),
        ("sample_period", c_uint64),  # union with sample_freq
        ("sample_type", c_uint64),
        ("read_format", c_uint64),
        ("flags", c_uint64),
        ("wakeup_events", c_uint32),  # union with wakeup_watermark
        ("bp_type", c_uint32),
        ("config1", c_uint64),  # union with bp_addr, kprobe_func, uprobe_path
        ("config2", c_uint64),  # union with bp_len, kprobe_addr, probe_offset
        ("branch_sample_type", c_uint64),
        ("sample_regs_user", c_uint64),
        ("sample_stack_user", c_uint32),
        ("clockid", c_int32),
        ("sample_regs_intr", c_uint64),
        ("aux_watermark", c_uint32),
        ("sample_max_stack", c_uint16),
        ("reserved_2", c_uint16),
        ("aux_sample_size", c_uint32),
        ("aux_action", c_uint32),
        ("sig_data", c_uint64),
        ("config3", c_uint64),
    ]


assert ctypes.sizeof(PerfEventAttr) == PERF_ATTR_SIZE_VER8


def sys_perf_event_open_number(machine: str | None = None) -> int | None:
    """perf_event_open(2)'s syscall number on `machine` (default: this one)."""
    return SYS_PERF_EVENT_OPEN_BY_MACHINE.get((machine or platform.machine()).lower())


def perf_event_open(attr: PerfEventAttr, pid: int = -1, cpu: int = 0, group_fd: int = -1,
                    flags: int = PERF_FLAG_FD_CLOEXEC) -> FD:
    """perf_event_open(2); the new event's owned fd, or the KernelError for errno."""
    nr = sys_perf_event_open_number()
    if nr is None:
        raise NotSupportedError(_errno.ENOSYS, "perf_event_open",
                                f"unknown syscall number on {platform.machine()}")
    lib = libc()
    while True:
        ret = lib.syscall(ctypes.c_long(nr), ctypes.c_void_p(ctypes.addressof(attr)),
                          ctypes.c_int(pid), ctypes.c_int(cpu), ctypes.c_int(group_fd),
                          ctypes.c_ulong(flags))
        if ret >= 0:
            return FD(ret, "perf_event")
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            raise kernel_error(err, "perf_event_open", f"type {attr.type} config {attr.config}")


def online_cpus() -> list[int]:
    """The online CPUs (/sys/devices/system/cpu/online), e.g. [0, 1]."""
    try:
        text = Path("/sys/devices/system/cpu/online").read_text().strip()
    except OSError:
        return list(range(os.cpu_count() or 1))
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


# --- tracefs ---------------------------------------------------------------------------------

TRACEFS_ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


class TracefsError(KernelError):
    """tracefs is not mounted (and cannot be), or has no such event."""


def _mount_tracefs() -> None:
    """Mount tracefs at /sys/kernel/tracing (needs CAP_SYS_ADMIN); errors are ignored,
    the caller reports what is still missing."""
    if os.path.isdir("/sys/kernel/tracing"):
        libc().mount(b"tracefs", b"/sys/kernel/tracing", b"tracefs", ctypes.c_ulong(0), None)


def tracefs_root() -> str:
    """Where tracefs is: /sys/kernel/tracing (mounted there if needed), else the
    debugfs path /sys/kernel/debug/tracing."""
    for root in TRACEFS_ROOTS:
        if os.path.isdir(os.path.join(root, "events")):
            return root
    _mount_tracefs()
    for root in TRACEFS_ROOTS:
        if os.path.isdir(os.path.join(root, "events")):
            return root
    raise TracefsError(_errno.ENOENT, "tracefs",
                       "tracefs is not mounted at /sys/kernel/tracing or "
                       "/sys/kernel/debug/tracing and could not be mounted")


def tracepoint_id(category: str, name: str) -> int:
    """The id of tracepoint category:name (tracefs events/<category>/<name>/id)."""
    if not category or not name or "/" in category + name or ".." in (category, name):
        raise TracefsError(_errno.EINVAL, "tracefs", f"bad tracepoint name {category}:{name}")
    path = os.path.join(tracefs_root(), "events", category, name, "id")
    try:
        return int(Path(path).read_text().strip())
    except FileNotFoundError:
        raise TracefsError(_errno.ENOENT, "tracefs",
                           f"no tracepoint {category}:{name} ({path})") from None
    except OSError as e:
        raise TracefsError(e.errno or _errno.EIO, "tracefs", f"{path}: {e.strerror}") from None


# --- handles -----------------------------------------------------------------------------------

class PerfEventLink(Link):
    """A program attached to perf events: the events' fds and, where BPF_LINK_CREATE
    worked, the links. close() (or `with`, or gc) detaches: the links are closed first,
    then the events (closing an event detaches an ioctl-attached program). With a
    link it is a BPF link (info, pin); attached by ioctl it is not."""

    kind = "perf_event"

    def __init__(self, events: list[FD], links: list[Link], target: str) -> None:
        self.events = events
        self.links = links
        self.target = target
        self._fd = links[0]._fd if links else events[0]
        self._prog_id = 0

    @property
    def is_bpf_link(self) -> bool:
        return bool(self.links)

    def info(self) -> LinkInfo:
        if self.links:
            info = self.links[0].info()
            return dataclasses.replace(info, target=self.target)
        return LinkInfo(0, 0, self._prog_id, bytes(48), self.kind, self.target)

    def detach(self) -> None:
        if self.links:
            self.links[0].detach()
        else:
            self.close()

    def update(self, new_prog: Any, *, old_prog: Any = None) -> None:
        raise NotSupportedError(_errno.EOPNOTSUPP, "BPF_LINK_UPDATE",
                                f"a perf event link ({self.target}) cannot change its "
                                "program: detach and attach the new one")

    def pin(self, path: Any) -> None:
        if not self.links:
            raise self._not_a_link("BPF_OBJ_PIN")
        Link.pin(self, path)

    @property
    def uses_links(self) -> bool:
        """True if attached by BPF_LINK_CREATE, False if by PERF_EVENT_IOC_SET_BPF."""
        return bool(self.links)

    @property
    def closed(self) -> bool:
        return all(e.closed for e in self.events)

    def close(self) -> None:
        for link in self.links:
            link.close()
        for ev in self.events:
            ev.close()

    def __enter__(self) -> "PerfEventLink":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        how = "link" if self.links else "ioctl"
        return f"<PerfEventLink {self.target} via {how}{' closed' if self.closed else ''}>"


class RawTracepointLink(Link):
    """The link BPF_RAW_TRACEPOINT_OPEN returns; closing it detaches the program."""

    kind = "raw_tracepoint"

    def __init__(self, fd: FD, name: str, kind: str = "raw_tracepoint") -> None:
        super().__init__(fd, kind, name)

    def __repr__(self) -> str:
        return f"<RawTracepointLink {self.target}{' closed' if self.closed else ''}>"


def _detach_socket(sock: socket.socket) -> None:
    if sock.fileno() < 0:
        return  # the socket is closed, and its filter with it
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_BPF, 0)
    except OSError:
        pass


class SocketFilter(FinalizedAttachment):
    """A program attached to a socket with SO_ATTACH_BPF. close() (or `with`, or gc)
    removes it with SO_DETACH_BPF, unless the socket is already closed. Not a BPF
    link: it has no id and cannot be pinned; update() swaps the program atomically
    (SO_ATTACH_BPF replaces the socket's filter)."""

    kind = "socket_filter"

    def __init__(self, sock: socket.socket, prog_id: int = 0) -> None:
        self.socket = sock
        self.target = f"socket fd {sock.fileno()}"
        self._prog_id = prog_id
        self._finalizer = weakref.finalize(self, _detach_socket, sock)

    @property
    def fd(self) -> int:
        return self.socket.fileno()

    def fileno(self) -> int:
        return self.socket.fileno()

    def info(self) -> LinkInfo:
        return LinkInfo(0, 0, self._prog_id, bytes(48), self.kind, self.target)

    def update(self, new_prog: Any, *, old_prog: Any = None) -> None:
        if self.closed:
            raise kernel_error(_errno.EBADF, "setsockopt(SO_ATTACH_BPF)", "detached")
        if old_prog is not None and prog_id_of(old_prog) != self._prog_id:
            raise kernel_error(_errno.EPERM, "setsockopt(SO_ATTACH_BPF)",
                               f"{self.target} does not run the program given as old_prog")
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, fd_of(new_prog))
        except OSError as e:
            raise kernel_error(e.errno or _errno.EINVAL, "setsockopt(SO_ATTACH_BPF)",
                               self.target) from None
        self._prog_id = prog_id_of(new_prog)

    def pin(self, path: Any) -> None:
        raise self._not_a_link("BPF_OBJ_PIN")

    def __enter__(self) -> "SocketFilter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SocketFilter on fd {self.socket.fileno()}{' closed' if self.closed else ''}>"


# --- attaching ---------------------------------------------------------------------------------

def _ioctl(fd: FD, request: int, arg: int) -> None:
    try:
        fcntl.ioctl(fd.fd, request, arg)
    except OSError as e:
        raise kernel_error(e.errno or _errno.EINVAL, "ioctl(perf_event)",
                           f"request {request:#x}") from None


def _link_event(prog: "int | FD | Owner", event: FD, use_link: bool | None,
                cookie: int = 0) -> list[Link]:
    """Attach `prog` to the open perf `event` and enable it: through BPF_LINK_CREATE
    (with the link's bpf_cookie), or where the kernel has no perf links and no cookie
    is asked for, PERF_EVENT_IOC_SET_BPF. On failure the event is closed."""
    links: list[Link] = []
    try:
        if use_link is not False:
            try:
                links.append(link_create(prog, event, AttachType.PERF_EVENT, bpf_cookie=cookie))
            except KernelError as e:
                # EINVAL/EOPNOTSUPP: no perf link on this kernel; anything else is real
                if use_link or cookie or e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP,
                                                         ENOTSUPP):
                    raise
        if not links:
            _ioctl(event, PERF_EVENT_IOC_SET_BPF, fd_of(prog))
        _ioctl(event, PERF_EVENT_IOC_ENABLE, 0)
    except BaseException:
        for link in links:
            link.close()
        event.close()
        raise
    return links


def attach_perf_event(prog: "int | FD | Owner", event: FD, *, use_link: bool | None = None,
                      target: str = "perf_event") -> PerfEventLink:
    """Attach a program to an open perf event (which takes ownership of `event`) and
    enable it. `use_link`: True = BPF_LINK_CREATE only, False = the ioctls only,
    None = the link, falling back to the ioctls where the kernel has no perf links."""
    handle = PerfEventLink([event], _link_event(prog, event, use_link), target)
    handle._prog_id = prog_id_of(prog)
    return handle


def attach_tracepoint(prog: "int | FD | Owner", category: str, name: str, *,
                      use_link: bool | None = None, cpu: int | None = None) -> PerfEventLink:
    """Attach a BPF_PROG_TYPE_TRACEPOINT program to tracepoint category:name (all CPUs,
    all processes). `cpu` picks the CPU the perf event is opened on (default: the first
    online one; the program runs on every CPU either way)."""
    tp_id = tracepoint_id(category, name)
    attr = PerfEventAttr(type=PERF_TYPE_TRACEPOINT, size=PERF_ATTR_SIZE_VER8, config=tp_id,
                         sample_period=1, sample_type=PERF_SAMPLE_RAW, wakeup_events=1,
                         flags=_ATTR_DISABLED)
    event = perf_event_open(attr, pid=-1, cpu=online_cpus()[0] if cpu is None else cpu)
    return attach_perf_event(prog, event, use_link=use_link, target=f"{category}:{name}")


class RawTracepointOpenAttr(ctypes.Structure):
    """The raw_tracepoint member of union bpf_attr: { u64 name; u32 prog_fd; u32 pad;
    u64 cookie; }."""

    _fields_ = [("name", c_uint64), ("prog_fd", c_uint32), ("pad", c_uint32),
                ("cookie", c_uint64)]


def attach_raw_tracepoint(prog: "int | FD | Owner", name: str, *,
                          cookie: int = 0) -> RawTracepointLink:
    """Attach a BPF_PROG_TYPE_RAW_TRACEPOINT program to raw tracepoint `name`
    (e.g. "sys_enter") with BPF_RAW_TRACEPOINT_OPEN."""
    buf = ctypes.create_string_buffer(name.encode())
    attr = RawTracepointOpenAttr(name=ctypes.addressof(buf), prog_fd=fd_of(prog), cookie=cookie)
    fd = bpf(BpfCmd.RAW_TRACEPOINT_OPEN, attr, f"raw tracepoint {name}")
    return RawTracepointLink(FD(fd, "link"), name)


def attach_tracing(prog: "int | FD | Owner", target: str = "", *,
                   cookie: int = 0) -> RawTracepointLink:
    """Attach a BTF-typed program (tp_btf, fentry, fexit, fmod_ret, lsm) to the target
    it was loaded for (its attach_btf_id) with BPF_RAW_TRACEPOINT_OPEN and no name;
    `target` only labels the link."""
    attr = RawTracepointOpenAttr(name=0, prog_fd=fd_of(prog), cookie=cookie)
    fd = bpf(BpfCmd.RAW_TRACEPOINT_OPEN, attr, f"BTF target {target}" if target else "")
    link = RawTracepointLink(FD(fd, "link"), target, kind="tracing")
    # tp_btf programs get a raw_tracepoint link, fentry/fexit/lsm a tracing one
    link.kind = link_info_of(link).kind
    return link


def attach_socket(prog: "int | FD | Owner", sock: socket.socket) -> SocketFilter:
    """Attach a socket filter program to `sock` (any socket: UDP, TCP, AF_PACKET...)
    with setsockopt(SOL_SOCKET, SO_ATTACH_BPF, prog fd)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, fd_of(prog))
    except OSError as e:
        raise kernel_error(e.errno or _errno.EINVAL, "setsockopt(SO_ATTACH_BPF)",
                           f"socket fd {sock.fileno()}") from None
    return SocketFilter(sock, prog_id_of(prog))


# --- uprobes ----------------------------------------------------------------------------------

UPROBE_PMU_DIR = "/sys/bus/event_source/devices/uprobe"


class UprobeError(KernelError):
    """No uprobe PMU, or a file / symbol a uprobe cannot be placed on."""


def _pmu_type(pmu_dir: str) -> int:
    path = os.path.join(pmu_dir, "type")
    try:
        return int(Path(path).read_text().strip())
    except OSError as e:
        raise UprobeError(e.errno or _errno.ENOENT, "uprobe",
                          f"no uprobe PMU ({path}: {e.strerror}); the kernel needs "
                          "CONFIG_UPROBE_EVENTS") from None


def _pmu_format_bit(pmu_dir: str, name: str) -> int:
    """The bit a one-bit PMU format field sets in `config` ("config:0" -> 1 << 0)."""
    path = os.path.join(pmu_dir, "format", name)
    try:
        text = Path(path).read_text().strip()
    except OSError as e:
        raise UprobeError(e.errno or _errno.ENOENT, "uprobe", f"{path}: {e.strerror}") from None
    field, _, bits = text.partition(":")
    if field != "config" or not bits.isdigit():
        raise UprobeError(_errno.EINVAL, "uprobe", f"{path}: unexpected format {text!r}")
    return 1 << int(bits)


def uprobe_pmu_type() -> int:
    """The perf PMU type of uprobes (dynamic: /sys/bus/event_source/devices/uprobe/type)."""
    return _pmu_type(UPROBE_PMU_DIR)


def uprobe_retprobe_bit() -> int:
    """The `config` bit that makes a uprobe PMU event a uretprobe (format/retprobe)."""
    return _pmu_format_bit(UPROBE_PMU_DIR, "retprobe")


def elf_symbol_offset(path: str | os.PathLike[str], symbol: str) -> int:
    """The file offset of function `symbol` in ELF file `path` (an executable or shared
    library), as uprobes want it: the symbol's virtual address mapped through the
    PT_LOAD segment holding it (vaddr - p_vaddr + p_offset). .symtab is searched
    first, then .dynsym; a defined symbol is needed (not an undefined import)."""
    from elftools.common.exceptions import ELFError as PyELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            value: int | None = None
            for secname in (".symtab", ".dynsym"):
                sec = elf.get_section_by_name(secname)
                if not isinstance(sec, SymbolTableSection):
                    continue
                for sym in sec.get_symbol_by_name(symbol) or ():
                    if sym["st_shndx"] != "SHN_UNDEF" and sym["st_value"]:
                        value = sym["st_value"]
                        break
                if value is not None:
                    break
            if value is None:
                raise UprobeError(_errno.ENOENT, "uprobe",
                                  f"{path}: no defined symbol {symbol!r}")
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD":
                    continue
                if seg["p_vaddr"] <= value < seg["p_vaddr"] + seg["p_memsz"]:
                    return value - seg["p_vaddr"] + seg["p_offset"]
    except OSError as e:
        raise UprobeError(e.errno or _errno.EIO, "uprobe", f"{path}: {e.strerror}") from None
    except PyELFError as e:
        raise UprobeError(_errno.ENOEXEC, "uprobe", f"{path}: not an ELF file ({e})") from None
    raise UprobeError(_errno.ENOENT, "uprobe",
                      f"{path}: symbol {symbol!r} at {value:#x} lies in no PT_LOAD segment")


class UprobeLink(PerfEventLink):
    """A uprobe / uretprobe attachment; `path`, `offset` (in the file), `pid`,
    `retprobe` and `cookie` say where and with what bpf_cookie."""

    def __init__(self, events: list[FD], links: list[Link], target: str, *, path: str,
                 offset: int, pid: int, retprobe: bool, cookie: int) -> None:
        super().__init__(events, links, target)
        self.path = path
        self.offset = offset
        self.pid = pid
        self.retprobe = retprobe
        self.cookie = cookie

    def __repr__(self) -> str:
        how = "link" if self.links else "ioctl"
        pid = "all" if self.pid < 0 else self.pid
        return (f"<UprobeLink {self.target} pid={pid} via {how}"
                f"{' closed' if self.closed else ''}>")


def attach_uprobe(prog: "int | FD | Owner", path: str | os.PathLike[str],
                  offset: int | None = None, *, symbol: str | None = None, pid: int = -1,
                  retprobe: bool = False, cookie: int = 0,
                  cpu: int | None = None) -> UprobeLink:
    """Attach a BPF_PROG_TYPE_KPROBE program as a uprobe (or a uretprobe) on the file
    `path` at file `offset`, or at function `symbol` (+ `offset` when both are given,
    as libbpf's "func+off"). `pid` -1: every process that maps the file (the event is
    opened on `cpu`, default the first online one; the program runs on every CPU);
    `pid` >= 0: only that process. `cookie` is the perf link's bpf_cookie
    (bpf_get_attach_cookie); a nonzero cookie needs BPF_LINK_CREATE (Linux 5.15+)."""
    fspath = os.fsdecode(os.path.abspath(os.fspath(path)))
    where = f"{fspath}:{offset:#x}" if offset is not None else fspath
    if symbol is not None:
        where = f"{fspath}:{symbol}" + (f"+{offset:#x}" if offset else "")
        offset = elf_symbol_offset(fspath, symbol) + (offset or 0)
    if offset is None or offset < 0:
        raise UprobeError(_errno.EINVAL, "uprobe",
                          f"{fspath}: give a symbol or a non-negative file offset")
    if not os.path.isfile(fspath):
        raise UprobeError(_errno.ENOENT, "uprobe", f"{fspath}: no such file")
    config = uprobe_retprobe_bit() if retprobe else 0
    path_buf = ctypes.create_string_buffer(os.fsencode(fspath))
    attr = PerfEventAttr(type=uprobe_pmu_type(), size=PERF_ATTR_SIZE_VER8, config=config,
                         config1=ctypes.addressof(path_buf), config2=offset,
                         sample_period=1, wakeup_events=1, flags=_ATTR_DISABLED)
    if pid < 0:
        event = perf_event_open(attr, pid=-1, cpu=online_cpus()[0] if cpu is None else cpu)
    else:
        event = perf_event_open(attr, pid=pid, cpu=-1 if cpu is None else cpu)
    del path_buf  # perf_event_open copied the path (strndup_user): no need to keep it
    kind = "uretprobe" if retprobe else "uprobe"
    links = _link_event(prog, event, None, cookie)
    handle = UprobeLink([event], links, f"{kind} {where}", path=fspath, offset=offset,
                        pid=pid, retprobe=retprobe, cookie=cookie)
    handle._prog_id = prog_id_of(prog)
    return handle


__all__ = [
    "PERF_EVENT_IOC_DISABLE",
    "PERF_EVENT_IOC_ENABLE",
    "PERF_EVENT_IOC_SET_BPF",
    "PERF_TYPE_TRACEPOINT",
    "SO_ATTACH_BPF",
    "SO_DETACH_BPF",
    "PerfEventAttr",
    "PerfEventLink",
    "RawTracepointLink",
    "SocketFilter",
    "TracefsError",
    "UprobeError",
    "UprobeLink",
    "attach_perf_event",
    "attach_raw_tracepoint",
    "attach_socket",
    "attach_tracepoint",
    "attach_uprobe",
    "elf_symbol_offset",
    "online_cpus",
    "perf_event_open",
    "sys_perf_event_open_number",
    "tracefs_root",
    "tracepoint_id",
    "uprobe_pmu_type",
    "uprobe_retprobe_bit",
]
