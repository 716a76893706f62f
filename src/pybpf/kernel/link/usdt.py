"""USDT probes attached: one uprobe per probe site of the file's `.note.stapsdt`
notes (pybpf.kernel.usdt), each carrying as bpf_cookie the id of the argument spec
stored in the program's `__bpf_usdt_specs` map (what usdt.bpf.h's bpf_usdt_arg()
reads), and the semaphore's file offset as the uprobe's reference counter, which the
kernel increments in the traced processes while the probe is attached."""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import struct
from typing import Any

from ..errors import KernelError
from ..fd import FD, Owner
from ..maps import Map, map_get_info
from ..objects import map_get_fd_by_id
from ..progs import prog_get_info
from ..usdt import SPEC_SIZE, UsdtError, UsdtNote, pack_usdt_spec, parse_usdt_args, \
    read_usdt_notes
from .base import Link, LinkInfo
from .uprobe import UprobeLink, attach_uprobe

SPECS_MAP = "__bpf_usdt_specs"  # usdt.bpf.h's maps (the kernel keeps 15 bytes of a name)


def _specs_map(prog: "int | FD | Owner") -> Map | None:
    """The program's __bpf_usdt_specs map, found among the maps it uses."""
    for map_id in prog_get_info(prog, insns=False).map_ids:
        try:
            fd = map_get_fd_by_id(map_id)
        except KernelError:
            continue
        info = map_get_info(fd)
        if SPECS_MAP.startswith(info.name) and info.name and \
                info.value_size == SPEC_SIZE:
            return Map.from_fd(fd)
        fd.close()
    return None


def _store_spec(specs: Map, spec: bytes) -> int:
    """The id of a slot holding `spec`: one already holding the same bytes, else the
    first empty (all-zero) one."""
    empty = None
    for i in range(specs.max_entries):
        cur = specs.lookup(struct.pack("<i", i))
        if cur == spec:
            return i
        if empty is None and not any(cur):
            empty = i
    if empty is None:
        raise UsdtError(_errno.E2BIG, "usdt", f"{SPECS_MAP} is full ({specs.max_entries} "
                        "specs); raise BPF_USDT_MAX_SPEC_CNT")
    specs.update(struct.pack("<i", empty), spec)
    return empty


class UsdtLink(Link):
    """A USDT probe attached: the uprobes of its sites (`sites`), detached together."""

    kind = "usdt"

    def __init__(self, sites: list[UprobeLink], target: str, notes: list[UsdtNote]) -> None:
        self.sites = sites
        self.notes = notes
        self.target = target
        self._fd = sites[0]._fd

    @property
    def is_bpf_link(self) -> bool:
        return all(s.is_bpf_link for s in self.sites)

    def info(self) -> LinkInfo:
        info = self.sites[0].info()
        return LinkInfo(info.type, info.id, info.prog_id, info.extra, "usdt", self.target)

    @property
    def closed(self) -> bool:
        return all(s.closed for s in self.sites)

    def close(self) -> None:
        for s in self.sites:
            s.close()

    def detach(self) -> None:
        self.close()

    def update(self, new_prog: Any, *, old_prog: Any = None) -> None:
        self.sites[0].update(new_prog, old_prog=old_prog)

    def pin(self, path: Any) -> None:
        if len(self.sites) != 1:
            raise self._not_a_link("BPF_OBJ_PIN (a USDT probe of several sites)")
        self.sites[0].pin(path)
        self.pinned_path = self.sites[0].pinned_path

    def __repr__(self) -> str:
        return f"<UsdtLink {self.target} ({len(self.sites)} sites)" \
               f"{' closed' if self.closed else ''}>"


def attach_usdt(prog: "int | FD | Owner", path: str | os.PathLike[str], provider: str,
                name: str, *, pid: int = -1, cookie: int = 0) -> UsdtLink:
    """Attach a USDT program (BPF_PROG_TYPE_KPROBE, written with usdt.bpf.h's
    BPF_USDT) to probe `provider`:`name` of executable or library `path`: every site
    of the probe gets a uprobe (in process `pid`, or -1 every process), the argument
    spec is stored for bpf_usdt_arg() (with `cookie` for bpf_usdt_cookie()), and the
    probe's semaphore is counted up while attached."""
    fspath = os.path.abspath(os.fspath(path))
    notes = [n for n in read_usdt_notes(fspath) if n.provider == provider and n.name == name]
    where = f"usdt {fspath}:{provider}:{name}"
    if not notes:
        raise UsdtError(_errno.ENOENT, "usdt", f"{fspath} has no USDT probe "
                        f"{provider}:{name}")
    specs = _specs_map(prog)
    sites: list[UprobeLink] = []
    try:
        with (specs if specs is not None else contextlib.nullcontext()):
            for note in notes:
                args = parse_usdt_args(note.args)
                spec_id = 0
                if specs is not None:
                    spec_id = _store_spec(specs, pack_usdt_spec(args, cookie))
                elif args or cookie:
                    raise UsdtError(_errno.EINVAL, "usdt", f"{where}: the program has no "
                                    f"{SPECS_MAP} map to read its arguments from (write it "
                                    "with usdt.bpf.h's BPF_USDT)")
                sites.append(attach_uprobe(prog, fspath, note.offset, pid=pid,
                                           cookie=spec_id,
                                           ref_ctr_offset=note.semaphore_offset))
    except BaseException:
        for s in sites:
            s.close()
        raise
    return UsdtLink(sites, where + ("" if pid < 0 else f" pid {pid}"), notes)

