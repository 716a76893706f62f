"""Reading what BPF programs send with bpf_perf_event_output: one BPF-output software
perf event per CPU, its ring buffer mmap'd, the fd stored in a perf_event_array.

`PerfBuffer(cpus)` opens the events; `buf.attach(map)` puts each CPU's fd at the
map's index of that CPU (what BPF_F_CURRENT_CPU selects); `buf.read()` drains the
rings into (cpu, raw bytes) samples and counts lost records. The raw bytes are what
the program sent, then zero padding up to the kernel's 8-byte record alignment.
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..cpus import online_cpus
from . import abi
from .abi import (
    PERF_COUNT_SW_BPF_OUTPUT,
    PERF_RECORD_LOST,
    PERF_RECORD_SAMPLE,
    PERF_SAMPLE_RAW,
    PERF_TYPE_SOFTWARE,
)
from .fd import FD
from .link.perf_event import perf_event_open

# struct perf_event_mmap_page: data_head / data_tail / data_offset / data_size
_HEAD_OFF, _TAIL_OFF, _DATA_OFF_OFF, _DATA_SIZE_OFF = 1024, 1032, 1040, 1048


@dataclass
class _Ring:
    cpu: int
    fd: FD
    mem: mmap.mmap
    data_off: int
    data_size: int


@dataclass
class PerfBuffer:
    """BPF-output perf events with `pages` (a power of two) data pages each."""

    cpus: Iterable[int] | None = None
    pages: int = 8
    lost: int = 0
    _rings: list[_Ring] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.pages < 1 or self.pages & (self.pages - 1):
            raise ValueError(f"pages must be a power of two, not {self.pages}")
        page = mmap.PAGESIZE
        try:
            for cpu in (online_cpus() if self.cpus is None else self.cpus):
                attr = abi.PerfEventAttr(type=PERF_TYPE_SOFTWARE,
                                         size=ctypes.sizeof(abi.PerfEventAttr),
                                         config=PERF_COUNT_SW_BPF_OUTPUT, sample_period=1,
                                         sample_type=PERF_SAMPLE_RAW, wakeup_events=1)
                fd = perf_event_open(attr, pid=-1, cpu=cpu)
                mem = mmap.mmap(fd.fd, page * (1 + self.pages), mmap.MAP_SHARED,
                                mmap.PROT_READ | mmap.PROT_WRITE)
                off, size = struct.unpack_from("<QQ", mem, _DATA_OFF_OFF)
                self._rings.append(_Ring(cpu, fd, mem, off or page, size or page * self.pages))
        except BaseException:
            self.close()
            raise

    def fds(self) -> dict[int, int]:
        """The event fd of each CPU."""
        return {r.cpu: r.fd.fd for r in self._rings}

    def attach(self, perf_map: Any) -> None:
        """Store each CPU's event in `perf_map` (a kernel perf_event_array) at index cpu."""
        for cpu, fd in self.fds().items():
            perf_map[cpu] = fd

    def read(self) -> list[tuple[int, bytes]]:
        """Every sample written since the last read, as (cpu, raw bytes), oldest first
        per CPU; PERF_RECORD_LOST records add to `lost`."""
        out: list[tuple[int, bytes]] = []
        for r in self._rings:
            head = struct.unpack_from("<Q", r.mem, _HEAD_OFF)[0]
            tail = struct.unpack_from("<Q", r.mem, _TAIL_OFF)[0]
            while tail < head:
                rec = self._copy(r, tail, 8)
                rtype, _misc, size = struct.unpack("<IHH", rec)
                body = self._copy(r, tail + 8, size - 8)
                if rtype == PERF_RECORD_SAMPLE:
                    (n,) = struct.unpack_from("<I", body)
                    out.append((r.cpu, body[4:4 + n]))
                elif rtype == PERF_RECORD_LOST:
                    self.lost += struct.unpack_from("<QQ", body)[1]
                tail += size
            struct.pack_into("<Q", r.mem, _TAIL_OFF, tail)
        return out

    @staticmethod
    def _copy(r: _Ring, pos: int, n: int) -> bytes:
        start = r.data_off + pos % r.data_size
        end = start + n
        limit = r.data_off + r.data_size
        if end <= limit:
            return bytes(r.mem[start:end])
        return bytes(r.mem[start:limit]) + bytes(r.mem[r.data_off:r.data_off + end - limit])

    def close(self) -> None:
        for r in self._rings:
            r.mem.close()
            r.fd.close()
        self._rings.clear()

    def __enter__(self) -> "PerfBuffer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
