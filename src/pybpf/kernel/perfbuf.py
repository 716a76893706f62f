"""Reading what BPF programs send with bpf_perf_event_output: one BPF-output software
perf event per CPU, its ring buffer mmap'd, the fd stored in a perf_event_array.

`PerfBuffer(cpus)` opens the events; `buf.attach(map)` puts each CPU's fd at the
map's index of that CPU (what BPF_F_CURRENT_CPU selects); `buf.read()` (or
`consume()`) drains the rings into PerfSample(cpu, raw bytes) records, oldest first per
CPU, and adds the kernel's PERF_RECORD_LOST counts to `lost` (per CPU in `lost_by_cpu`).
The raw bytes are what the program sent, then zero padding up to the kernel's 8-byte
record alignment. Waiting (epoll over every CPU's event: `poll(timeout)`, iteration,
`async for`, `add_to_loop`) comes from pybpf.kernel.eventreader. Each event wakes its
reader after `wakeup_events` samples (1: every sample).
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple

from ..cpus import online_cpus
from . import abi
from .abi import (
    PERF_COUNT_SW_BPF_OUTPUT,
    PERF_RECORD_LOST,
    PERF_RECORD_SAMPLE,
    PERF_SAMPLE_RAW,
    PERF_TYPE_SOFTWARE,
)
from .errors import kernel_error
from .eventreader import EventReader, ReaderClosedError, fd_number
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


class PerfSample(NamedTuple):
    """One bpf_perf_event_output sample: the CPU whose ring held it and its raw bytes."""

    cpu: int
    data: bytes


class PerfBuffer(EventReader[PerfSample]):
    """BPF-output perf events with `pages` (a power of two) data pages each, one per CPU
    of `cpus` (default: every online CPU). `callback(sample)` is called for each sample
    consume() takes, `lost_callback(cpu, count)` for each PERF_RECORD_LOST."""

    def __init__(self, cpus: Iterable[int] | None = None, pages: int = 8, *,
                 wakeup_events: int = 1,
                 callback: Callable[[PerfSample], Any] | None = None,
                 lost_callback: Callable[[int, int], Any] | None = None) -> None:
        super().__init__()
        self._rings: list[_Ring] = []
        self.pages = pages
        self.callback = callback
        self.lost_callback = lost_callback
        self.lost_by_cpu: dict[int, int] = {}
        if pages < 1 or pages & (pages - 1):
            self.close()
            raise ValueError(f"pages must be a power of two, not {pages}")
        if wakeup_events < 1:
            self.close()
            raise ValueError(f"wakeup_events must be at least 1, not {wakeup_events}")
        page = mmap.PAGESIZE
        try:
            for cpu in (online_cpus() if cpus is None else cpus):
                attr = abi.PerfEventAttr(type=PERF_TYPE_SOFTWARE,
                                         size=ctypes.sizeof(abi.PerfEventAttr),
                                         config=PERF_COUNT_SW_BPF_OUTPUT, sample_period=1,
                                         sample_type=PERF_SAMPLE_RAW,
                                         wakeup_events=wakeup_events)
                fd = perf_event_open(attr, pid=-1, cpu=cpu)
                try:
                    mem = mmap.mmap(fd.fd, page * (1 + pages), mmap.MAP_SHARED,
                                    mmap.PROT_READ | mmap.PROT_WRITE)
                except OSError as e:
                    fd.close()
                    raise kernel_error(e.errno or 22, "mmap", f"perf buffer of CPU {cpu} "
                                       f"({pages} pages): {e.strerror}") from None
                off, size = struct.unpack_from("<QQ", mem, _DATA_OFF_OFF)
                self._rings.append(_Ring(cpu, fd, mem, off or page, size or page * pages))
                self.lost_by_cpu[cpu] = 0
                self._watch(fd.fd)
        except BaseException:
            self.close()
            raise

    @property
    def lost(self) -> int:
        """Samples the kernel dropped because a ring was full (PERF_RECORD_LOST)."""
        return sum(self.lost_by_cpu.values())

    @property
    def cpus(self) -> list[int]:
        return [r.cpu for r in self._rings]

    def fds(self) -> dict[int, int]:
        """The event fd of each CPU."""
        return {r.cpu: r.fd.fd for r in self._rings}

    def attach(self, perf_map: Any) -> None:
        """Store each CPU's event in `perf_map` (a perf_event_array: a pybpf map,
        whose items can be set, or a kernel map fd) at index cpu."""
        if isinstance(perf_map, int) or not hasattr(perf_map, "__setitem__"):
            from .maps import map_update_elem
            fd = fd_number(perf_map)
            for cpu, efd in self.fds().items():
                map_update_elem(fd, struct.pack("<I", cpu), struct.pack("<I", efd))
            return
        for cpu, efd in self.fds().items():
            perf_map[cpu] = efd

    def read(self) -> list[PerfSample]:
        """Every sample written since the last read (the same as consume())."""
        return self.consume()

    def consume(self) -> list[PerfSample]:
        """Every sample written since the last read, as PerfSample(cpu, raw bytes),
        oldest first per CPU; PERF_RECORD_LOST records add to `lost`."""
        if self.closed:
            raise ReaderClosedError("perf buffer read")
        out: list[PerfSample] = []
        for r in self._rings:
            head = struct.unpack_from("<Q", r.mem, _HEAD_OFF)[0]
            tail = struct.unpack_from("<Q", r.mem, _TAIL_OFF)[0]
            while tail < head:
                rec = self._copy(r, tail, 8)
                rtype, _misc, size = struct.unpack("<IHH", rec)
                if size < 8:  # a corrupt header: drop what is left rather than spin
                    tail = head
                    break
                body = self._copy(r, tail + 8, size - 8)
                if rtype == PERF_RECORD_SAMPLE:
                    (n,) = struct.unpack_from("<I", body)
                    out.append(PerfSample(r.cpu, body[4:4 + n]))
                elif rtype == PERF_RECORD_LOST:
                    count = struct.unpack_from("<QQ", body)[1]
                    self.lost_by_cpu[r.cpu] += count
                    if self.lost_callback is not None:
                        self.lost_callback(r.cpu, count)
                tail += size
            struct.pack_into("<Q", r.mem, _TAIL_OFF, tail)
        if self.callback is not None:
            for sample in out:
                self.callback(sample)
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
        self._close_wait()
        for r in getattr(self, "_rings", []):
            r.mem.close()
            r.fd.close()
        self._rings = []

    def __enter__(self) -> "PerfBuffer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"CPUs {self.cpus}, {self.pages} pages each"
        return f"<PerfBuffer {state}>"
