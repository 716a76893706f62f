"""What is loaded in the kernel, as bpftool reads it: every program, map and BTF object
by id (BPF_*_GET_NEXT_ID, BPF_*_GET_FD_BY_ID), each one's BPF_OBJ_GET_INFO_BY_FD with
the arrays it points to (func and line info, map ids, raw BTF), and the fields only
/proc/PID/fdinfo has (memlock, frozen). Objects that vanish while listed are skipped."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, TypeVar

from . import abi
from .errors import KernelError, KernelKeyError
from .fd import FD, Owner, fd_of
from .maps import MapInfo, map_get_info
from .objects import (BtfInfo, btf_get_fd_by_id, btf_ids, map_get_fd_by_id, map_ids,
                      obj_get, obj_get_info_by_fd, prog_get_fd_by_id, prog_ids)
from .progs import ProgInfo, prog_get_info

T = TypeVar("T")

# struct bpf_line_info / bpf_func_info as the kernel returns them
LINE_INFO_REC_SIZE = 16
FUNC_INFO_REC_SIZE = 8


def fdinfo(fd: "int | FD | Owner") -> dict[str, str]:
    """/proc/self/fdinfo of a bpf fd as a dict ("memlock": "4096", "frozen": "1", ...)."""
    out: dict[str, str] = {}
    try:
        with open(f"/proc/self/fdinfo/{fd_of(fd)}", encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep:
                    out[key.strip()] = value.strip()
    except OSError:
        pass
    return out


def _int_field(d: dict[str, str], key: str) -> int | None:
    try:
        return int(d[key], 0)
    except (KeyError, ValueError):
        return None


def boot_ns_to_wallclock(ns: int) -> int:
    """A CLOCK_BOOTTIME timestamp (a program's load_time) as seconds since the epoch,
    as bpftool's loaded_at."""
    real = time.clock_gettime(time.CLOCK_REALTIME)
    boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    return int(real - boot + ns / 1e9)


# --- programs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LineRecord:
    """struct bpf_line_info: the instruction, the BTF string offsets of its source file
    and line text, and line << 10 | column."""

    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int

    @property
    def line_num(self) -> int:
        return self.line_col >> 10

    @property
    def column(self) -> int:
        return self.line_col & 0x3FF


@dataclass(frozen=True)
class ProgDetail:
    """A loaded program as bpftool shows it: its info, the fdinfo-only memlock, and the
    BTF func and line info records (insn offsets in the xlated program)."""

    info: ProgInfo
    memlock: int | None
    func_info: list[tuple[int, int]] = field(default_factory=list)  # (insn_off, FUNC id)
    line_info: list[LineRecord] = field(default_factory=list)
    jited_func_lens: list[int] = field(default_factory=list)

    @property
    def loaded_at(self) -> int:
        return boot_ns_to_wallclock(self.info.load_time)


def _btf_records(fd: "int | FD | Owner") -> tuple[list[tuple[int, int]], list[LineRecord],
                                                   list[int]]:
    """The func info, line info and jited function lengths of a program."""
    first = obj_get_info_by_fd(fd, abi.BpfProgInfo())
    nf, nl, nj = first.nr_func_info, first.nr_line_info, first.nr_jited_func_lens
    if not (nf or nl or nj):
        return [], [], []
    i = abi.BpfProgInfo()
    fbuf = (ctypes.c_uint32 * max(2 * nf, 1))()
    lbuf = (ctypes.c_uint32 * max(4 * nl, 1))()
    jbuf = (ctypes.c_uint32 * max(nj, 1))()
    if nf:
        i.nr_func_info, i.func_info_rec_size = nf, FUNC_INFO_REC_SIZE
        i.func_info = ctypes.addressof(fbuf)
    if nl:
        i.nr_line_info, i.line_info_rec_size = nl, LINE_INFO_REC_SIZE
        i.line_info = ctypes.addressof(lbuf)
    if nj:
        i.nr_jited_func_lens, i.jited_func_lens = nj, ctypes.addressof(jbuf)
    obj_get_info_by_fd(fd, i)
    nf, nl, nj = min(nf, i.nr_func_info), min(nl, i.nr_line_info), \
        min(nj, i.nr_jited_func_lens)
    funcs = [(fbuf[2 * k], fbuf[2 * k + 1]) for k in range(nf)]
    lines = [LineRecord(*lbuf[4 * k:4 * k + 4]) for k in range(nl)]
    return funcs, lines, list(jbuf[:nj])


def prog_detail(fd: "int | FD | Owner", *, insns: bool = False) -> ProgDetail:
    """Everything bpftool shows of the program behind `fd` (with `insns`, its xlated
    and jited code and its func and line info)."""
    info = prog_get_info(fd, insns=insns)
    memlock = _int_field(fdinfo(fd), "memlock")
    if not insns:
        return ProgDetail(info, memlock)
    funcs, lines, lens = _btf_records(fd)
    return ProgDetail(info, memlock, funcs, lines, lens)


def prog_detail_by_id(prog_id: int, *, insns: bool = False) -> ProgDetail:
    """The program with this id (KernelKeyError naming it when there is none)."""
    with prog_get_fd_by_id(prog_id) as fd:
        return prog_detail(fd, insns=insns)


def _each(ids: Iterator[int], get: Callable[[int], T]) -> Iterator[T]:
    """get(id) for each id, skipping the objects that went away in between."""
    for obj_id in ids:
        try:
            yield get(obj_id)
        except KernelKeyError:
            continue


def iter_progs(*, insns: bool = False) -> Iterator[ProgDetail]:
    """Every loaded program, by id (needs CAP_SYS_ADMIN)."""
    return _each(prog_ids(), lambda i: prog_detail_by_id(i, insns=insns))


# --- maps ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class MapDetail:
    """A map as bpftool shows it: its info and the fdinfo-only fields (memlock, frozen,
    and for a prog array the type of program that owns it)."""

    info: MapInfo
    memlock: int | None
    frozen: bool | None
    owner_prog_type: int | None = None
    owner_jited: bool | None = None


def map_detail(fd: "int | FD | Owner") -> MapDetail:
    d = fdinfo(fd)
    frozen = _int_field(d, "frozen")
    jited = _int_field(d, "owner_jited")
    return MapDetail(map_get_info(fd), _int_field(d, "memlock"),
                     None if frozen is None else bool(frozen),
                     _int_field(d, "owner_prog_type"), None if jited is None else bool(jited))


def map_detail_by_id(map_id: int) -> MapDetail:
    with map_get_fd_by_id(map_id) as fd:
        return map_detail(fd)


def iter_maps() -> Iterator[MapDetail]:
    """Every map, by id (needs CAP_SYS_ADMIN)."""
    return _each(map_ids(), map_detail_by_id)


# --- BTF ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BtfDetail:
    """A BTF object in the kernel: its info and (when asked) its raw blob."""

    info: BtfInfo
    data: bytes = field(default=b"", repr=False)


def btf_detail(fd: "int | FD | Owner", *, data: bool = False) -> BtfDetail:
    """BPF_OBJ_GET_INFO_BY_FD of a BTF fd; with `data`, the raw BTF too (a second
    query, with a buffer of the size the first reported)."""
    name = ctypes.create_string_buffer(256)
    i = obj_get_info_by_fd(fd, abi.BpfBtfInfo(name=ctypes.addressof(name), name_len=256))
    blob = b""
    if data and i.btf_size:
        buf = ctypes.create_string_buffer(i.btf_size)
        j = obj_get_info_by_fd(fd, abi.BpfBtfInfo(btf=ctypes.addressof(buf),
                                                   btf_size=i.btf_size))
        blob = buf.raw[:min(j.btf_size, i.btf_size)]
    return BtfDetail(BtfInfo(i.id, i.btf_size, name.value.decode(errors="replace"),
                             bool(i.kernel_btf)), blob)


def btf_detail_by_id(btf_id: int, *, data: bool = False) -> BtfDetail:
    with btf_get_fd_by_id(btf_id) as fd:
        return btf_detail(fd, data=data)


def iter_btfs() -> Iterator[BtfDetail]:
    """Every BTF object (vmlinux, modules, programs' and maps'), by id."""
    return _each(btf_ids(), btf_detail_by_id)


# --- cgroups ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CgroupAttachment:
    """One program on one hook of a cgroup (BPF_PROG_QUERY): its id, the attach type and
    the attach flags (BPF_F_ALLOW_MULTI / BPF_F_ALLOW_OVERRIDE; 0 for none or effective)."""

    prog_id: int
    attach_type: int
    attach_flags: int


def cgroup_attachments(cgroup_fd: "int | FD | Owner", attach_types: "list[int]", *,
                       effective: bool = False) -> list[CgroupAttachment]:
    """The programs attached to a cgroup, for each attach type in order (the types the
    kernel does not take for cgroups are skipped). `effective`: those that run for it,
    inherited ones included (BPF_F_QUERY_EFFECTIVE)."""
    from .abi import BpfCmd
    from .syscall import bpf_raw
    out = []
    for at in attach_types:
        size = 64
        while True:
            progs = (ctypes.c_uint32 * size)()
            flags = (ctypes.c_uint32 * size)()
            attr = abi.ProgQueryAttr(target_fd=fd_of(cgroup_fd), attach_type=at,
                                     query_flags=abi.BPF_F_QUERY_EFFECTIVE if effective else 0,
                                     prog_ids=ctypes.addressof(progs), prog_cnt=size)
            if not effective:
                attr.prog_attach_flags = ctypes.addressof(flags)
            ret, err = bpf_raw(BpfCmd.PROG_QUERY, attr)
            if ret < 0 and err == _errno.ENOSPC and size < 1 << 16:
                size *= 4
                continue
            break
        if ret < 0:
            if err in (_errno.EPERM, _errno.EACCES):
                from .errors import kernel_error
                raise kernel_error(err, "BPF_PROG_QUERY", "cgroup programs")
            continue  # not a cgroup attach type (EINVAL), or not supported here
        n = min(attr.prog_cnt, size)
        for k in range(n):
            f = 0 if effective else (flags[k] or attr.attach_flags)
            out.append(CgroupAttachment(progs[k], at, f))
    return out


# --- pinned objects ----------------------------------------------------------------------------

def pinned_fd(path: str | os.PathLike[str], kind: str) -> FD:
    """The object pinned at `path`, which must be a `kind` ("prog", "map"): a KernelError
    naming the path otherwise."""
    from .errors import kernel_error
    from .objects import fd_kind
    fd = obj_get(path)
    got = fd_kind(fd)
    if got != kind:
        fd.close()
        raise kernel_error(_errno.EINVAL, "BPF_OBJ_GET",
                           f"{os.fspath(path)} is a pinned {got}, not a {kind}")
    return fd


__all__ = ["LINE_INFO_REC_SIZE", "FUNC_INFO_REC_SIZE", "BtfDetail", "CgroupAttachment",
           "KernelError", "cgroup_attachments",
           "LineRecord", "MapDetail", "ProgDetail", "boot_ns_to_wallclock", "btf_detail",
           "btf_detail_by_id", "fdinfo", "iter_btfs", "iter_maps", "iter_progs", "map_detail",
           "map_detail_by_id", "pinned_fd", "prog_detail", "prog_detail_by_id"]
