"""MapTable: the VM maps a program can name.

A program names a map by fd in `lddw rX, map_fd(N)` (BPF_PSEUDO_MAP_FD), by fd and
offset in `map_value(N, off)` (BPF_PSEUDO_MAP_VALUE), or by position in the table
(BPF_PSEUDO_MAP_IDX / _IDX_VALUE, the kernel's fd_array). A VM map's fd is its id, so
the same assembly text (`map_fd({m.fd})`) works for a VM map and a kernel map. Pass the
table as `VM(code, maps=table)` (a list of maps works too); the VM resolves each lddw
once, when it translates the program, and fails with InvalidProgram for an fd the table
does not hold.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from .. import isa
from ..isa import Instruction
from .errors import MapBadFDError, MapNotSupportedError
from .vmbase import VMMap


class MapTable:
    """VM maps by fd, in the order they were added (the fd_array order)."""

    def __init__(self, maps: Iterable[object] = ()) -> None:
        self._by_fd: dict[int, VMMap] = {}
        self._active: dict[int, VMMap] = {}
        for m in maps:
            self.add(m)

    def add(self, m: object) -> int:
        """Add a map (MapBadFDError unless a VM map); returns its fd."""
        if not isinstance(m, VMMap):
            raise MapBadFDError(f"the VM runs VM maps (spec.create('vm')), not {m!r}",
                                op="table")
        self._by_fd[m.fd] = m
        self._active[m.segment] = m
        return m.fd

    def __getitem__(self, fd: int) -> VMMap:
        m = self._by_fd.get(fd)
        if m is None or m.closed:
            held = ", ".join(str(f) for f in self._by_fd) or "none"
            raise MapBadFDError(f"map fd {fd} is not in the VM's map table (fds: {held})",
                                op="lddw")
        return m

    def __contains__(self, fd: object) -> bool:
        return fd in self._by_fd

    def __iter__(self) -> Iterator[VMMap]:
        return iter(list(self._by_fd.values()))

    def __len__(self) -> int:
        return len(self._by_fd)

    def by_index(self, idx: int) -> VMMap:
        maps = list(self._by_fd.values())
        if not 0 <= idx < len(maps):
            raise MapBadFDError(f"map index {idx} is past the table's {len(maps)} maps",
                                op="lddw")
        return maps[idx]

    # --- used by the VM -------------------------------------------------------------------
    def resolve_lddw(self, insn: Instruction) -> int:
        """The value of a map-referencing lddw."""
        src = insn.src
        if src == isa.BPF_PSEUDO_MAP_FD:
            return self[insn.imm].pointer
        if src == isa.BPF_PSEUDO_MAP_VALUE:
            return self[insn.imm].value_address(insn.next_imm & 0xFFFF_FFFF)
        if src == isa.BPF_PSEUDO_MAP_IDX:
            return self.by_index(insn.imm).pointer
        if src == isa.BPF_PSEUDO_MAP_IDX_VALUE:
            return self.by_index(insn.imm).value_address(insn.next_imm & 0xFFFF_FFFF)
        raise MapNotSupportedError(f"lddw with pseudo source {src} (BTF ids) is not "
                                   "supported on the VM", op="lddw")

    def prepare(self) -> list[Any]:
        """Before a run: the Regions of every map and of the maps they hold now (maps
        of maps), and the pointer lookup refreshed to match."""
        active: dict[int, VMMap] = {}
        regions = []
        for m in self._by_fd.values():
            if m.closed:
                continue
            for sub in [m, *m.submaps()]:
                if sub.segment not in active:
                    active[sub.segment] = sub
                    regions.extend(sub.regions())
        self._active = active
        return regions

    def by_pointer(self, ptr: int) -> VMMap | None:
        """The map whose pointer (or memory) `ptr` is in, if the table knows it."""
        return self._active.get(ptr >> 32)
