"""Uprobes / uretprobes (BPF_PROG_TYPE_KPROBE): a perf event of the dynamic "uprobe" PMU
(type from /sys/bus/event_source/devices/uprobe/type, config1 = the file's path,
config2 = the probed file offset, the retprobe bit from its format file), then a perf
link carrying the bpf_cookie.

The perf event of a uprobe with pid = -1 must name a CPU, but its BPF programs run
(from the uprobe's handler, before any perf filtering by CPU) in every process that
maps the file, on every CPU. With pid >= 0 the event is opened on cpu = -1 and the
kernel runs the program only in tasks sharing that process's mm (uprobe_perf_filter),
i.e. in the whole process of `pid`.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from pathlib import Path

from ...cpus import online_cpus
from .. import abi
from ..errors import KernelError
from ..fd import FD, Owner
from ..objects import prog_id_of
from .base import Link
from .perf_event import PerfEventLink, _link_event, perf_event_open

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


def uprobe_ref_ctr_shift() -> int:
    """Where the reference counter (semaphore) offset goes in `config`
    (format/ref_ctr_offset, "config:32-63" -> 32)."""
    path = os.path.join(UPROBE_PMU_DIR, "format", "ref_ctr_offset")
    try:
        text = Path(path).read_text().strip()
    except OSError as e:
        raise UprobeError(e.errno or _errno.ENOENT, "uprobe",
                          f"{path}: {e.strerror} (USDT semaphores need Linux 4.20)") from None
    field, _, bits = text.partition(":")
    low = bits.split("-")[0]
    if field != "config" or not low.isdigit():
        raise UprobeError(_errno.EINVAL, "uprobe", f"{path}: unexpected format {text!r}")
    return int(low)


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
                  cpu: int | None = None, ref_ctr_offset: int = 0) -> UprobeLink:
    """Attach a BPF_PROG_TYPE_KPROBE program as a uprobe (or a uretprobe) on the file
    `path` at file `offset`, or at function `symbol` (+ `offset` when both are given,
    as libbpf's "func+off"). `pid` -1: every process that maps the file (the event is
    opened on `cpu`, default the first online one; the program runs on every CPU);
    `pid` >= 0: only that process. `cookie` is the perf link's bpf_cookie
    (bpf_get_attach_cookie); a nonzero cookie needs BPF_LINK_CREATE (Linux 5.15+).
    `ref_ctr_offset`: the file offset of a USDT semaphore the kernel increments in
    every process the uprobe is in while it is attached (Linux 4.20+)."""
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
    if ref_ctr_offset:
        config |= ref_ctr_offset << uprobe_ref_ctr_shift()
    path_buf = ctypes.create_string_buffer(os.fsencode(fspath))
    attr = abi.PerfEventAttr(type=uprobe_pmu_type(), size=abi.PERF_ATTR_SIZE_VER8,
                             config=config, config1=ctypes.addressof(path_buf),
                             config2=offset, sample_period=1, wakeup_events=1, disabled=1)
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
