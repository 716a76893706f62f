"""Kernel objects beyond maps and programs: info queries, pinning in bpffs, BTF, id
iteration and fd-by-id, BPF_PROG_QUERY, run-time statistics. (Links: `kernel.link`.)"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import re
import struct
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from . import abi
from .abi import BpfCmd
from .errors import (KernelError, KernelKeyError, btf_error,
                     kernel_error)
from .fd import FD, Owner, fd_of
from .syscall import LOG_DEFAULT_SIZE, bpf, call_with_log, libc

S = TypeVar("S", bound=ctypes.Structure)

DEFAULT_BPFFS = "/sys/fs/bpf"


def _cstr(s: str | bytes | os.PathLike[str]) -> ctypes.Array:
    raw = os.fsencode(s) if not isinstance(s, bytes) else s
    return ctypes.create_string_buffer(raw)


# --- BPF_OBJ_GET_INFO_BY_FD ---------------------------------------------------------------

def obj_get_info_by_fd(obj: "int | FD | Owner", info: S) -> S:
    """Fill `info` (a Bpf*Info structure, possibly with buffer pointers set) for the
    object behind `obj`, and return it."""
    attr = abi.InfoAttr(bpf_fd=fd_of(obj), info_len=ctypes.sizeof(info),
                        info=ctypes.addressof(info))
    bpf(BpfCmd.OBJ_GET_INFO_BY_FD, attr)
    return info


# --- bpffs, BPF_OBJ_PIN / BPF_OBJ_GET -------------------------------------------------------

def _mounts() -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount of this process, from mountinfo."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                               fields[4])
                out.append((point, right.split()[0]))
    except OSError:
        pass
    return out


def fs_type(path: str | os.PathLike[str]) -> str | None:
    """The file system type ("bpf", "tmpfs", ...) that `path` lives on (longest
    matching mount point; the last mount wins on a tie), or None."""
    real = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for point, fstype in _mounts():
        if real == point or real.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= best[0]:
                best = (len(point), fstype)
    return best[1] if best else None


def is_bpffs(path: str | os.PathLike[str]) -> bool:
    """True if `path` is on a BPF file system (where objects can be pinned)."""
    return fs_type(path) == "bpf"


def mount_bpffs(path: str | os.PathLike[str] = DEFAULT_BPFFS, mode: int = 0o700) -> str:
    """Mount a new bpffs instance at `path` (created if missing). Needs CAP_SYS_ADMIN."""
    p = os.fspath(path)
    os.makedirs(p, exist_ok=True)
    lib = libc()
    ret = lib.mount(b"bpf", os.fsencode(p), b"bpf", ctypes.c_ulong(0),
                    f"mode={mode:o}".encode())
    if ret != 0:
        raise kernel_error(ctypes.get_errno(), "mount(bpf)", p)
    return p


def ensure_bpffs(path: str | os.PathLike[str] = DEFAULT_BPFFS) -> str:
    """Make sure `path` is on a bpffs, mounting one there if it is not. Returns the path."""
    if is_bpffs(path):
        return os.fspath(path)
    return mount_bpffs(path)


def unmount(path: str | os.PathLike[str], *, lazy: bool = False) -> None:
    """umount2(path) (MNT_DETACH when `lazy`), for a bpffs this process mounted."""
    ret = libc().umount2(os.fsencode(os.fspath(path)), 2 if lazy else 0)
    if ret != 0:
        raise kernel_error(ctypes.get_errno(), "umount", os.fspath(path))


def obj_pin(obj: "int | FD | Owner", path: str | os.PathLike[str]) -> None:
    """Pin a map, program, link or BTF at `path` (on a bpffs), so it outlives its fds."""
    p = os.fspath(path)
    name = _cstr(p)
    attr = abi.ObjAttr(pathname=ctypes.addressof(name), bpf_fd=fd_of(obj))
    try:
        bpf(BpfCmd.OBJ_PIN, attr, p)
    except KernelError as e:
        if e.errno == _errno.EPERM and not is_bpffs(os.path.dirname(p) or "."):
            raise kernel_error(e.errno, e.cmd, f"{p} is not on a bpffs "
                                               f"(see ensure_bpffs)") from None
        raise


def obj_get(path: str | os.PathLike[str], file_flags: int = 0) -> FD:
    """Open the object pinned at `path`. `file_flags`: 0, BPF_F_RDONLY or BPF_F_WRONLY."""
    p = os.fspath(path)
    name = _cstr(p)
    attr = abi.ObjAttr(pathname=ctypes.addressof(name), file_flags=file_flags)
    return FD(bpf(BpfCmd.OBJ_GET, attr, p), "pinned")


def fd_kind(fd: "int | FD | Owner") -> str:
    """"map", "prog", "link", "btf" (or "unknown") for an fd, from its anon inode name."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd_of(fd)}")
    except OSError:
        return "unknown"
    return {"anon_inode:bpf-map": "map", "anon_inode:bpf-prog": "prog",
            "anon_inode:bpf_link": "link", "anon_inode:bpf-link": "link",  # new / BPF_OBJ_GET
            "anon_inode:btf": "btf"}.get(target, "unknown")


# --- BPF_BTF_LOAD ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BtfInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a BTF object."""

    id: int
    btf_size: int
    name: str
    kernel_btf: bool


class BTF(Owner):
    """A loaded BTF object (owns its fd). `log` is the BTF verifier log when asked."""

    def __init__(self, fd: FD, log: str = "") -> None:
        self._fd = fd
        self.log = log

    def info(self) -> BtfInfo:
        name = ctypes.create_string_buffer(256)
        info = abi.BpfBtfInfo(name=ctypes.addressof(name), name_len=256)
        obj_get_info_by_fd(self, info)
        return BtfInfo(info.id, info.btf_size, name.value.decode(errors="replace"),
                       bool(info.kernel_btf))

    @property
    def id(self) -> int:
        return self.info().id

    def __repr__(self) -> str:
        return f"<BTF {'closed' if self.closed else f'fd={self._fd.fd}'}>"


def btf_load(data: bytes, *, log_level: int = 0, log_size: int = LOG_DEFAULT_SIZE,
             btf_flags: int = 0) -> BTF:
    """Load a BTF blob. A rejection raises KernelBTFError with the BTF log (the load
    is retried with a log when log_level is 0, and the log buffer grows until it fits)."""
    blob = ctypes.create_string_buffer(bytes(data), len(data))
    attr = abi.BtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data),
                           btf_flags=btf_flags)

    def set_log(a: Any, addr: int, size: int, level: int) -> None:
        a.btf_log_buf, a.btf_log_size, a.btf_log_level = addr, size, level

    ret, err, log = call_with_log(BpfCmd.BTF_LOAD, attr, log_level=log_level,
                                  log_size=log_size, set_log=set_log,
                                  true_size=lambda a: a.btf_log_true_size)
    if ret < 0:
        raise btf_error(err, log)
    return BTF(FD(ret, "btf"), log)


def btf_int_blob(name: str = "int", size: int = 4, signed: bool = True) -> bytes:
    """A minimal valid BTF blob with one type, [1] INT `name` of `size` bytes."""
    strings = b"\0" + name.encode() + b"\0"
    enc = (abi.BTF_INT_SIGNED if signed else 0) << 24 | (size * 8)
    types = struct.pack("<IIII", 1, abi.BTF_KIND_INT << 24, size, enc)
    return btf_blob(types, strings)


def btf_blob(types: bytes, strings: bytes) -> bytes:
    """Header + type section + string section (strings must start with a NUL)."""
    hdr = struct.pack("<HBBIIIII", abi.BTF_MAGIC, abi.BTF_VERSION, 0, 24,
                      0, len(types), len(types), len(strings))
    return hdr + types + strings


# --- BPF_LINK_CREATE ---------------------------------------------------------------------------


def prog_id_of(prog: "int | FD | Owner") -> int:
    """The id of the program behind an fd (0 if it cannot be read)."""
    try:
        return obj_get_info_by_fd(prog, abi.BpfProgInfo()).id
    except KernelError:
        return 0


# --- id iteration and fd by id -----------------------------------------------------------------

def _next_id(cmd: int, start_id: int) -> int | None:
    attr = abi.GetIdAttr(start_id=start_id)
    try:
        bpf(cmd, attr)
    except KernelKeyError:
        return None
    return attr.next_id


def prog_get_next_id(start_id: int = 0) -> int | None:
    """The id of the next loaded program after `start_id`, None at the end."""
    return _next_id(BpfCmd.PROG_GET_NEXT_ID, start_id)


def map_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BpfCmd.MAP_GET_NEXT_ID, start_id)


def btf_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BpfCmd.BTF_GET_NEXT_ID, start_id)


def link_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(BpfCmd.LINK_GET_NEXT_ID, start_id)


def _iter_ids(next_fn: Callable[[int], int | None]) -> Iterator[int]:
    cur = 0
    while True:
        nxt = next_fn(cur)
        if nxt is None:
            return
        yield nxt
        cur = nxt


def prog_ids() -> Iterator[int]:
    """The ids of every loaded program (needs CAP_SYS_ADMIN)."""
    return _iter_ids(prog_get_next_id)


def map_ids() -> Iterator[int]:
    return _iter_ids(map_get_next_id)


def btf_ids() -> Iterator[int]:
    return _iter_ids(btf_get_next_id)


def link_ids() -> Iterator[int]:
    return _iter_ids(link_get_next_id)


def _fd_by_id(cmd: int, obj_id: int, kind: str, open_flags: int = 0) -> FD:
    attr = abi.GetIdAttr(start_id=obj_id, open_flags=open_flags)
    return FD(bpf(cmd, attr, f"{kind} id {obj_id}"), kind)


def prog_get_fd_by_id(prog_id: int) -> FD:
    """A new fd for the program with this id (KernelKeyError if there is none)."""
    return _fd_by_id(BpfCmd.PROG_GET_FD_BY_ID, prog_id, "prog")


def map_get_fd_by_id(map_id: int, open_flags: int = 0) -> FD:
    return _fd_by_id(BpfCmd.MAP_GET_FD_BY_ID, map_id, "map", open_flags)


def btf_get_fd_by_id(btf_id: int) -> FD:
    return _fd_by_id(BpfCmd.BTF_GET_FD_BY_ID, btf_id, "btf")


def link_get_fd_by_id(link_id: int) -> FD:
    return _fd_by_id(BpfCmd.LINK_GET_FD_BY_ID, link_id, "link")


# --- BPF_PROG_QUERY --------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgQuery:
    """What BPF_PROG_QUERY reports for one hook: the programs attached in order, the
    link of each (0 where attached without one), and the hook's revision."""

    prog_ids: list[int]
    link_ids: list[int]
    attach_flags: int
    revision: int


def prog_query(target: "int | FD | Owner", attach_type: int, *, max_progs: int = 64,
               detail: str = "") -> ProgQuery:
    """BPF_PROG_QUERY: the programs on hook `attach_type` of `target` (a cgroup or
    netns fd, or an ifindex for tcx/netkit), growing the id buffers until they fit."""
    while True:
        progs = (ctypes.c_uint32 * max_progs)()
        links = (ctypes.c_uint32 * max_progs)()
        attr = abi.ProgQueryAttr(target_fd=fd_of(target), attach_type=attach_type,
                                 prog_ids=ctypes.addressof(progs), prog_cnt=max_progs,
                                 link_ids=ctypes.addressof(links))
        try:
            bpf(BpfCmd.PROG_QUERY, attr, detail)
        except KernelError as e:
            if e.errno == _errno.ENOSPC and max_progs < 1 << 16:
                max_progs *= 4
                continue
            raise
        n = min(attr.prog_cnt, max_progs)
        return ProgQuery(list(progs[:n]), list(links[:n]), attr.attach_flags, attr.revision)


# --- BPF_ENABLE_STATS ------------------------------------------------------------------------

def enable_stats(stats_type: int = abi.BPF_STATS_RUN_TIME) -> FD:
    """Turn on run_time_ns / run_cnt accounting for every program while the returned
    fd stays open (BPF_ENABLE_STATS)."""
    return FD(bpf(BpfCmd.ENABLE_STATS, abi.EnableStatsAttr(type=stats_type)), "stats")
