"""Uprobes in the kernel (pybpf.kernel.attach_uprobe, Program.attach_uprobe / attach())
and the VM compared with them on the same object.

tests/progtypes/data/uprobe/uprobe.o records, on each hit, the whole struct pt_regs,
bpf_get_func_ip, bpf_get_attach_cookie, bpf_get_current_pid_tgid, bpf_get_current_comm
and bpf_probe_read_user of 32 bytes at the first argument. The probed function is
`pybpf_probe_target` in a shared library built here with gcc and called from this
process through ctypes. The VM then runs the same program with the kernel's pt_regs
as ctx, in a Task built from what this process knows about itself (thread id, process
id, /proc comm, the argument buffer, the probed address, the link's cookie), and its
record must equal the kernel's field by field.

What Linux 6.18 answers (measured here, x86-64):

* uprobe: ctx ip = the probed address; bpf_get_func_ip = the probed address too, also
  when the uprobe sits inside the function (symbol + 4), where a kprobe would give 0.
* uretprobe: ctx ip = the return address in the caller; bpf_get_func_ip = the address
  the uprobe sits on (the function's entry), not the return address.
* bpf_get_attach_cookie = the perf link's bpf_cookie, in both.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf.kernel import Link, ProgType, UprobeError, attach_uprobe
from pybpf.kernel.abi import PerfEventAttr
from pybpf.cpus import online_cpus
from pybpf.kernel.link import (
    elf_symbol_offset,
    uprobe_pmu_type,
    uprobe_retprobe_bit,
)
from pybpf.objects.instance import AttachNotSupportedError, parse_uprobe_section
from pybpf.progtypes import Task, run_context

OBJ = Path(__file__).resolve().parents[1] / "progtypes" / "data" / "uprobe" / "uprobe.o"
SYMBOL = "pybpf_probe_target"
NOP = "pybpf_probe_nop"  # takes a pointer it does not dereference
# x86-64 assembly, so the instructions the test relies on are fixed: %rdi is kept to
# the return (the uretprobe reads the same argument), and the uprobe at symbol + 4 sits
# after `imul`, which has made %rsi = a * b.
TARGET_C = f"""
__asm__(
\t".text\\n"
\t".globl {SYMBOL}\\n .type {SYMBOL}, @function\\n"
\t"{SYMBOL}:\\n"
\t"\timul %rdx, %rsi\\n"        /* 4 bytes: 48 0f af f2 */
\t"\tmovsbq (%rdi), %rax\\n"
\t"\tadd %rsi, %rax\\n"
\t"\tret\\n"
\t".size {SYMBOL}, . - {SYMBOL}\\n"
\t".globl {NOP}\\n .type {NOP}, @function\\n"
\t"{NOP}:\\n"
\t"\tlea (%rsi, %rdx), %rax\\n"
\t"\tret\\n"
\t".size {NOP}, . - {NOP}\\n");
"""
PT_REGS_SIZE = 168  # struct pt_regs on x86-64
READ_LEN = 32
M64 = 2**64 - 1
ARG = b"uprobe argument bytes, 32+ long\x00 (and some more)"

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64",
                                reason="uprobe.o reads the x86-64 struct pt_regs")


@dataclass(frozen=True)
class Record:
    """struct record of uprobe.c."""

    regs: bytes
    parm: tuple[int, int, int]
    ip: int
    sp: int
    rc: int
    func_ip: int
    cookie: int
    pid_tgid: int
    comm_ret: int
    comm: bytes
    read_ret: int
    buf: bytes
    hits: int

    @classmethod
    def parse(cls, raw: bytes) -> Record:
        regs = raw[:PT_REGS_SIZE]
        p1, p2, p3, ip, sp, rc, func_ip, cookie, pid_tgid = struct.unpack_from("<9Q", raw, 168)
        (comm_ret,) = struct.unpack_from("<q", raw, 240)
        (read_ret,) = struct.unpack_from("<q", raw, 264)
        (hits,) = struct.unpack_from("<Q", raw, 304)
        return cls(regs, (p1, p2, p3), ip, sp, rc, func_ip, cookie, pid_tgid, comm_ret,
                   raw[248:264], read_ret, raw[272:272 + READ_LEN], hits)


def _record(obj: Any, slot: int) -> Record:
    return Record.parse(bytes(obj.maps["records"][slot.to_bytes(4, "little")]))


@dataclass
class Target:
    path: str
    fn: ctypes._CFuncPtr  # type: ignore[name-defined]
    addr: int  # the function's address in this process
    nop: ctypes._CFuncPtr  # type: ignore[name-defined]
    nop_addr: int

    def call(self, buf: ctypes.Array, a: int, b: int) -> int:  # type: ignore[type-arg]
        return int(self.fn(buf, a, b))


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler for the probed library")
    d = tmp_path_factory.mktemp("uprobe")
    (d / "target.c").write_text(TARGET_C)
    lib = d / "libpybpf_uprobe_target.so"
    subprocess.run([gcc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(d / "target.c")],
                   check=True, capture_output=True)
    dll = ctypes.CDLL(str(lib))
    fn, nop = getattr(dll, SYMBOL), getattr(dll, NOP)
    fn.restype = nop.restype = ctypes.c_long
    fn.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long]
    nop.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long]
    return Target(str(lib), fn, ctypes.cast(fn, ctypes.c_void_p).value or 0,
                  nop, ctypes.cast(nop, ctypes.c_void_p).value or 0)


@pytest.fixture
def kobj(bpf_ok: str) -> Iterator[Any]:
    obj = pybpf.load(OBJ).instantiate("kernel")
    yield obj
    obj.close()


def _mapped_file_offset(path: str, addr: int) -> int:
    """The file offset `addr` maps in this process, from /proc/self/maps."""
    real = os.path.realpath(path)
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and os.path.realpath(parts[5]) == real:
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi:
                return addr - lo + int(parts[2], 16)
    raise AssertionError(f"{addr:#x} is not mapped from {path}")


def _this_task(buf: ctypes.Array, func_ip: int, cookie: int) -> Task:  # type: ignore[type-arg]
    """The task the VM runs in, from this process's own view of itself."""
    tid = threading.get_native_id()
    comm = Path(f"/proc/self/task/{tid}/comm").read_bytes().rstrip(b"\n")
    return Task(pid=tid, tgid=os.getpid(), comm=comm,
                user_memory=[(ctypes.addressof(buf), buf.raw)],
                func_ip=func_ip, attach_cookie=cookie)


# --- the uprobe PMU and symbol resolution ------------------------------------------------

def test_uprobe_pmu() -> None:
    """The uprobe PMU's dynamic type and its retprobe bit (config:0 on Linux)."""
    if not os.path.isdir("/sys/bus/event_source/devices/uprobe"):
        pytest.skip("no uprobe PMU")
    assert uprobe_pmu_type() > 5  # after the fixed PERF_TYPE_* (0..5)
    assert uprobe_retprobe_bit() == 1
    assert PerfEventAttr.config1.offset == 56 and PerfEventAttr.config2.offset == 64


def test_elf_symbol_offset(target: Target) -> None:
    """The file offset pyelftools gives equals the one the loader mapped the function
    from (/proc/self/maps); a missing symbol or file is a UprobeError."""
    assert elf_symbol_offset(target.path, SYMBOL) == _mapped_file_offset(target.path,
                                                                          target.addr)
    with pytest.raises(UprobeError, match="no defined symbol"):
        elf_symbol_offset(target.path, "no_such_function")
    with pytest.raises(UprobeError):
        elf_symbol_offset("/nonexistent/lib.so", SYMBOL)
    with pytest.raises(UprobeError, match="not an ELF"):
        elf_symbol_offset(__file__, SYMBOL)


def test_parse_uprobe_section(target: Target) -> None:
    """Section names as libbpf spells them."""
    assert parse_uprobe_section(f"uprobe/{target.path}:{SYMBOL}") == \
        (target.path, SYMBOL, 0, False)
    assert parse_uprobe_section(f"uprobe.s/{target.path}:{SYMBOL}+0x4") == \
        (target.path, SYMBOL, 4, False)
    assert parse_uprobe_section(f"uretprobe/{target.path}:{SYMBOL}")[3] is True
    for bad in ("uprobe", "uprobe/", f"uprobe/{target.path}", f"uprobe/{target.path}:",
                f"uretprobe/{target.path}:{SYMBOL}+4", f"uprobe/{target.path}:a b"):
        with pytest.raises(AttachNotSupportedError):
            parse_uprobe_section(bad)


# --- kernel vs VM -------------------------------------------------------------------------

CASES = [
    # (program, retprobe, extra offset past the symbol, cookie)
    pytest.param("probe_entry", False, 0, 0x1122334455667788, id="uprobe-entry"),
    pytest.param("probe_entry", False, 4, 0, id="uprobe-sym+4-nocookie"),
    pytest.param("probe_return", True, 0, 0xFFFF_FFFF_FFFF_FFFE, id="uretprobe"),
]


@pytest.mark.kernel
@pytest.mark.parametrize("prog, retprobe, extra, cookie", CASES)
def test_uprobe_kernel_vs_vm(kobj: Any, target: Target, prog: str, retprobe: bool,
                             extra: int, cookie: int) -> None:
    """One hit in the kernel, then the same program on the VM with the kernel's pt_regs:
    every field of the two records is equal (bpf_get_func_ip, bpf_get_attach_cookie,
    bpf_get_current_pid_tgid, bpf_get_current_comm, bpf_probe_read_user, the ctx reads)."""
    slot = 1 if retprobe else 0
    link = attach_uprobe(kobj.programs[prog].handle, target.path, extra or None,
                         symbol=SYMBOL, retprobe=retprobe, cookie=cookie)
    buf = ctypes.create_string_buffer(ARG, len(ARG))
    a, b = 6, -7
    try:
        ret = target.call(buf, a, b)
    finally:
        link.close()
    assert ret == ARG[0] + a * b
    k = _record(kobj, slot)
    assert k.hits == 1
    probed = target.addr + extra
    # the kernel's own answers, against what this process knows
    assert k.func_ip == probed  # entry, inside the function and uretprobe alike
    assert k.cookie == cookie
    assert k.pid_tgid == (os.getpid() << 32) | threading.get_native_id()
    assert k.read_ret == 0 and k.buf == ARG[:READ_LEN]
    if retprobe:
        assert k.rc == ret and k.ip != probed  # ip: the return address in the caller
    else:
        assert k.ip == probed
        # at symbol + 4 the first instruction (imul %rdx,%rsi) has run: rsi = a * b
        rsi = a if extra == 0 else a * b
        assert k.parm == (ctypes.addressof(buf), rsi & M64, b & M64)

    vobj = pybpf.load(OBJ).instantiate("vm")
    r0 = run_context(vobj.programs[prog].handle, ProgType.KPROBE, k.regs, arch="x86_64",
                     task=_this_task(buf, probed, cookie))
    assert r0 == 0
    v = _record(vobj, slot)
    for name in Record.__dataclass_fields__:
        assert getattr(v, name) == getattr(k, name), name
    assert _record(vobj, 1 - slot).hits == 0 == _record(kobj, 1 - slot).hits


@pytest.mark.kernel
def test_uprobe_unreadable_argument_vs_vm(kobj: Any, target: Target) -> None:
    """A first argument pointing at unmapped memory (address 8, which the function does
    not dereference): the kernel's bpf_probe_read_user fails with -EFAULT and zeroes
    its buffer, and the VM answers the same."""
    link = attach_uprobe(kobj.programs["probe_entry"].handle, target.path, symbol=NOP,
                         cookie=5)
    try:
        assert target.nop(8, 1, 2) == 3
    finally:
        link.close()
    k = _record(kobj, 0)
    assert k.hits == 1 and k.parm[0] == 8 and k.func_ip == target.nop_addr
    assert k.read_ret == -errno.EFAULT and k.buf == bytes(READ_LEN)
    vobj = pybpf.load(OBJ).instantiate("vm")
    buf = ctypes.create_string_buffer(ARG, len(ARG))  # mapped elsewhere: not read
    run_context(vobj.programs["probe_entry"].handle, ProgType.KPROBE, k.regs, arch="x86_64",
                task=_this_task(buf, target.nop_addr, 5))
    assert _record(vobj, 0) == k


# --- detaching, pid filtering, CPUs, section names ------------------------------------------

CHILD = """
import ctypes, sys
fn = getattr(ctypes.CDLL(sys.argv[1]), sys.argv[2])
fn.restype = ctypes.c_long
fn.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long]
print("ready", flush=True)
for line in sys.stdin:
    fn(b"child", 1, 1)
    print("called", flush=True)
"""


class Child:
    """Another process that maps the library and calls the function on request."""

    def __init__(self, target: Target) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, target.path, SYMBOL],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "ready\n"

    def call(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "called\n"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(5)


def _call(target: Target, n: int = 1) -> None:
    buf = ctypes.create_string_buffer(ARG, len(ARG))
    for _ in range(n):
        target.call(buf, 1, 2)


@pytest.mark.kernel
def test_uprobe_detach_stops_hits(kobj: Any, target: Target, fd_count: Any) -> None:
    """Hits count while attached, not after close(); no fd is left behind."""
    before = fd_count()
    link = attach_uprobe(kobj.programs["probe_entry"].handle, target.path, symbol=SYMBOL)
    assert link.uses_links and link.offset == elf_symbol_offset(target.path, SYMBOL)
    assert isinstance(link, Link) and link.is_bpf_link  # a Link, as every attach returns
    info = link.info()
    assert info.kind == "perf_event" and info.prog_id == kobj.programs["probe_entry"].handle.id
    assert info.target == f"uprobe {target.path}:{SYMBOL}"
    _call(target, 3)
    assert _record(kobj, 0).hits == 3
    link.close()
    assert link.closed and fd_count() == before
    _call(target, 2)
    assert _record(kobj, 0).hits == 3


@pytest.mark.kernel
def test_uprobe_pid_filter(kobj: Any, target: Target) -> None:
    """pid = a process: only that process's calls hit (from any of its threads);
    pid = -1: every process's."""
    handle = kobj.programs["probe_entry"].handle
    child = Child(target)
    try:
        with attach_uprobe(handle, target.path, symbol=SYMBOL, pid=os.getpid()):
            _call(target, 1)
            child.call()
            # another thread of this process: the filter is by process (mm), not thread
            t = threading.Thread(target=_call, args=(target,))
            t.start()
            t.join()
        rec = _record(kobj, 0)
        assert rec.hits == 2 and rec.pid_tgid >> 32 == os.getpid()
        assert rec.pid_tgid & 0xFFFF_FFFF == t.native_id != os.getpid()
        with attach_uprobe(handle, target.path, symbol=SYMBOL, pid=child.proc.pid):
            _call(target, 2)
            assert _record(kobj, 0).hits == 2
            child.call()
        rec = _record(kobj, 0)
        assert rec.hits == 3 and rec.pid_tgid >> 32 == child.proc.pid
        assert rec.comm_ret == 0 and rec.buf[:6] == b"child\0"
        with attach_uprobe(handle, target.path, symbol=SYMBOL, pid=-1):
            child.call()
            assert _record(kobj, 0).hits == 4
            _call(target)
        rec = _record(kobj, 0)
        assert rec.hits == 5 and rec.pid_tgid >> 32 == os.getpid()
    finally:
        child.close()


@pytest.mark.kernel
def test_uprobe_all_cpus(kobj: Any, target: Target) -> None:
    """pid = -1 opens the event on one CPU, yet the program runs on every CPU."""
    cpus = online_cpus()
    old = os.sched_getaffinity(0)
    link = attach_uprobe(kobj.programs["probe_entry"].handle, target.path, symbol=SYMBOL)
    try:
        for cpu in cpus:
            os.sched_setaffinity(0, {cpu})
            _call(target)
    finally:
        os.sched_setaffinity(0, old)
        link.close()
    assert _record(kobj, 0).hits == len(cpus)


@pytest.mark.kernel
def test_program_attach_from_section(bpf_ok: str, target: Target) -> None:
    """Program.attach() on SEC("uprobe/<path>:<function>") and SEC("uretprobe/..."), and
    Program.attach_uprobe(); Program.detach() stops the hits."""
    spec = pybpf.load(OBJ)
    spec.programs["probe_entry"].section = f"uprobe/{target.path}:{SYMBOL}+0x4"
    spec.programs["probe_return"].section = f"uretprobe/{target.path}:{SYMBOL}"
    obj = spec.instantiate("kernel")
    try:
        entry, ret = obj.programs["probe_entry"], obj.programs["probe_return"]
        le, lr = entry.attach(), ret.attach()
        assert (le.offset, le.retprobe) == (elf_symbol_offset(target.path, SYMBOL) + 4, False)
        assert lr.retprobe is True
        _call(target)
        e, r = _record(obj, 0), _record(obj, 1)
        assert (e.hits, r.hits) == (1, 1)
        assert e.func_ip == e.ip == target.addr + 4 and r.func_ip == target.addr
        entry.detach()
        ret.detach()
        assert le.closed and lr.closed
        # the section says uretprobe: attach_uprobe follows it unless told otherwise
        lr2 = ret.attach_uprobe(target.path, SYMBOL, cookie=9)
        assert lr2.retprobe is True
        _call(target)
        assert _record(obj, 0).hits == 1 and _record(obj, 1).cookie == 9
    finally:
        obj.close()


def test_uprobe_attach_errors(target: Target) -> None:
    """The VM has no uprobes; a bare SEC("uprobe") names no target."""
    vobj = pybpf.load(OBJ).instantiate("vm")
    with pytest.raises(AttachNotSupportedError, match="kernel backend"):
        vobj.programs["probe_entry"].attach_uprobe(target.path, SYMBOL)
    with pytest.raises(AttachNotSupportedError, match="attach_uprobe"):
        vobj.programs["probe_entry"].attach()


@pytest.mark.kernel
def test_uprobe_bad_target(kobj: Any, target: Target) -> None:
    handle = kobj.programs["probe_entry"].handle
    with pytest.raises(UprobeError, match="no defined symbol"):
        attach_uprobe(handle, target.path, symbol="no_such_function")
    with pytest.raises(UprobeError, match="no such file"):
        attach_uprobe(handle, "/nonexistent/lib.so", 0x1000)
    with pytest.raises(UprobeError, match="symbol or a non-negative"):
        attach_uprobe(handle, target.path)
