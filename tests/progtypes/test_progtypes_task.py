"""The task helpers on the VM against the kernel: bpf_get_current_pid_tgid/uid_gid/comm,
the probe-read helpers (user, kernel, legacy compat, and their _str variants) and
bpf_get_attach_cookie / bpf_get_func_ip. The same object (data/tracing/helpers.o) runs
as raw tracepoints in the kernel (BPF_PROG_TEST_RUN runs them in the calling thread,
whose user memory they then read) and on the VM, whose Task gets the same bytes at the
same addresses; the `io` struct the programs write is compared byte for byte.

`Pair` and `GuardedPage` are shared with test_progtypes_strings.py."""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.asm import assemble
from pybpf.errors import InvalidProgram
from pybpf.progtypes import (
    PT_REGS_X86_64,
    Task,
    TestRunError,
    helpers_for,
    run_context,
    syscall_tracepoint,
    test_run,
)
from pybpf.progtypes.task import (
    TASK_SIZE_MAX,
    AddressSpace,
    TaskError,
    kernel_read_allowed,
    strncpy_from_user_nofault,
)
from pybpf.uapi import ProgType
from pybpf.vm import VM, Memory

OBJ = Path(__file__).resolve().parent / "data" / "tracing" / "helpers.o"
# struct io of helpers.c
RET, RES, VALS, DATA, IN, DST, IO_SIZE = 0, 8, 16, 48, 144, 400, 656
BUF = 256
M64 = (1 << 64) - 1
PROBE_HELPERS = ["probe_read_user", "probe_read_user_str", "probe_read_kernel",
                 "probe_read_kernel_str", "probe_read", "probe_read_str"]
# helpers.c's `which` 6-11 read io.in with these
IO_PROBES = {6: 2, 7: 3, 8: 4, 9: 5, 10: 0, 11: 1}


def io_bytes(*, dst: bytes = b"\xaa" * BUF, src: bytes = b"", res: bytes = bytes(8),
             data: list[int] | None = None) -> bytes:
    io = bytearray(IO_SIZE)
    io[RES:RES + 8] = res
    io[IN:IN + len(src)] = src
    io[DST:DST + len(dst)] = dst
    if data is not None:
        io[DATA:DATA + 8 * len(data)] = struct.pack(f"<{len(data)}Q", *data)
    return bytes(io)


class Pair:
    """helpers.o loaded in the kernel and on the VM; `run` test-runs one program on both
    with the same `io` contents and raw_tp arguments and returns both `io`s after."""

    def __init__(self) -> None:
        import pybpf
        spec = pybpf.load(OBJ)
        self.kernel = spec.instantiate("kernel")
        self.vm = spec.instantiate("vm")

    def close(self) -> None:
        self.kernel.close()
        self.vm.close()

    @staticmethod
    def _run(obj: Any, prog: str, args: list[int], io: bytes) -> bytes:
        m = obj.maps[".bss"]
        m.update(0, io)
        ctx = b"".join(struct.pack("<Q", a & M64) for a in args)
        obj.programs[prog].test_run(ctx_in=ctx, repeat=0, data_size_out=0, ctx_size_out=0)
        return bytes(m.lookup(0))

    def vm_handle(self, prog: str) -> VM:
        return self.vm.programs[prog].handle

    def run(self, prog: str, args: list[int], io: bytes | None = None,
            task: Task | None = None) -> tuple[bytes, bytes]:
        io = io if io is not None else io_bytes()
        self.vm_handle(prog).task = task
        return self._run(self.kernel, prog, args, io), self._run(self.vm, prog, args, io)


def ret_of(io: bytes) -> int:
    return struct.unpack_from("<q", io, RET)[0]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
PAGE = 4096


class GuardedPage:
    """One read-write page of this process between two inaccessible pages: reads that
    leave it fault in the kernel as they do on the VM, whose Task maps the same page."""

    def __init__(self) -> None:
        self.mm = mmap.mmap(-1, 3 * PAGE)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.mm))
        for guard in (base, base + 2 * PAGE):
            if _libc.mprotect(guard, PAGE, 0) != 0:
                raise OSError(ctypes.get_errno(), "mprotect")
        self.addr = base + PAGE

    def fill(self, data: bytes) -> None:
        assert len(data) == PAGE
        self.mm[PAGE:2 * PAGE] = data

    def task(self, **kw: Any) -> Task:
        return Task.current(user_memory=[(self.addr, bytes(self.mm[PAGE:2 * PAGE]))], **kw)


# --- the current task -------------------------------------------------------------------

@pytest.mark.kernel
def test_task_ids_and_comm_match_kernel(pair: Pair) -> None:
    """With no task set, the VM answers what the kernel answers for the calling thread:
    pid_tgid, uid_gid and comm cut/padded to 16, 5 and 40 bytes."""
    k, v = pair.run("task_info", [0])
    assert k == v
    pid_tgid, _, r16, r5 = struct.unpack_from("<4Q", k, VALS)
    assert (r16, r5, ret_of(k)) == (0, 0, 0)
    assert pid_tgid == (Task.current().tgid << 32) | threading.get_native_id()
    # nothing is written past each buffer (dst was filled with 0xaa)
    assert k[DST + 16:DST + 32] == b"\xaa" * 16 and k[DST + 37:DST + 64] == b"\xaa" * 27


@pytest.mark.kernel
def test_task_ids_in_another_thread_match_kernel(pair: Pair) -> None:
    """In a second thread with its own comm, pid (the thread id) differs from tgid and
    both backends see the thread's own values."""
    out: dict[str, Any] = {}

    def worker() -> None:
        libc = ctypes.CDLL(None)
        libc.prctl(15, b"pybpf-worker-th-long", 0, 0, 0)  # PR_SET_NAME (cut to 15)
        try:
            out["r"] = pair.run("task_info", [0])
        except BaseException as e:  # noqa: BLE001 - reported in the main thread
            out["e"] = e

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    k, v = out["r"]
    assert k == v
    pid_tgid = struct.unpack_from("<Q", k, VALS)[0]
    assert pid_tgid & 0xFFFF_FFFF != pid_tgid >> 32
    assert k[DST:DST + 16] == b"pybpf-worker-th\0"
    assert k[DST + 32:DST + 37] == b"pybp\0"


@pytest.mark.kernel
def test_task_supplied_by_caller(pair: Pair) -> None:
    """A Task replaces the host thread on the VM."""
    task = Task(pid=7, tgid=5, uid=1000, gid=100, comm="a-very-long-command-name")
    _, v = pair.run("task_info", [0], task=task)
    assert struct.unpack_from("<2Q", v, VALS) == ((5 << 32) | 7, (100 << 32) | 1000)
    assert v[DST:DST + 16] == b"a-very-long-com\0"
    assert v[DST + 32:DST + 37] == b"a-ve\0"
    assert v[DST + 64:DST + 104] == b"a-very-long-com" + bytes(25)


# --- probe reads --------------------------------------------------------------------------

def _probe(pair: Pair, page: GuardedPage, which: int, src: int, size: int,
           off: int = 0, kernel_src: bytes = b"") -> tuple[bytes, bytes]:
    k, v = pair.run("probe", [which, src, size, off], io_bytes(src=kernel_src), page.task())
    name = PROBE_HELPERS[IO_PROBES.get(which, which)]
    assert k == v, (f"{name}(size={size}, src={src:#x}): kernel "
                    f"ret {ret_of(k)} dst {k[DST:DST + size].hex()}, vm ret {ret_of(v)} "
                    f"dst {v[DST:DST + size].hex()}")
    return k, v


@pytest.mark.kernel
@settings(max_examples=150, deadline=None)
@given(content=st.binary(max_size=96), at_end=st.booleans(), gap=st.integers(0, 24),
       rel=st.integers(-24, 120), size=st.one_of(st.integers(0, 40), st.integers(0, BUF)),
       which=st.integers(0, 5))
def test_probe_read_user_memory_matches_kernel(pair: Pair, page: GuardedPage, content: bytes,
                                               at_end: bool, gap: int, rel: int, size: int,
                                               which: int) -> None:
    """Reads of this process's memory: the content sits at the start or the end of a
    page between guard pages; reads start anywhere around it, cross into the guards,
    find or miss a NUL. Return value and all 256 dst bytes must be equal."""
    start = PAGE - gap - len(content) if at_end else gap
    data = bytearray(b"\x01\x02\x03\x04\x05\x06\x07\x08" * (PAGE // 8))
    data[start:start + len(content)] = content
    page.fill(bytes(data))
    _probe(pair, page, which, page.addr + start + rel, size)


SPECIAL = [0, 1, 0x1000, TASK_SIZE_MAX - 8, TASK_SIZE_MAX, TASK_SIZE_MAX + PAGE,
           0x0000_8000_0000_0000, 0x8000_0000_0000_0000, 0xFFFF_8000_0000_0000,
           0xFFFF_FFFF_FF60_0000, 0xFFFF_FFFF_FF60_0008, M64 - 7]


@pytest.mark.kernel
@pytest.mark.parametrize("which", range(6), ids=PROBE_HELPERS)
@pytest.mark.parametrize("src", SPECIAL, ids=[hex(a) for a in SPECIAL])
@pytest.mark.parametrize("size", [0, 1, 8, 100])
def test_probe_read_bad_addresses_match_kernel(pair: Pair, page: GuardedPage, which: int,
                                               src: int, size: int) -> None:
    """NULL, low pages, the top of user space, non-canonical, the kernel's guard hole,
    the vsyscall page: -EFAULT or -ERANGE (size 0 too) and dst as the kernel leaves it."""
    page.fill(bytes(PAGE))
    if src < TASK_SIZE_MAX and _mapping_of(src) is not None:
        # e.g. the [uprobes] page the kernel maps just below TASK_SIZE_MAX once a
        # uprobe has fired in this process: a forked child has no such page (it is
        # not copied), so the kernel side runs there
        k = _kernel_probe_in_child(pair, [which, src, size, 0])
        pair.vm_handle("probe").task = page.task()
        v = Pair._run(pair.vm, "probe", [which, src, size, 0], io_bytes())
        assert k == v
        assert ret_of(k) in (0, -14, -34)
        return
    k, _ = _probe(pair, page, which, src, size)
    assert ret_of(k) in (0, -14, -34)


def _kernel_probe_in_child(pair: Pair, args: list[int]) -> bytes:
    """The kernel's `io` after a test run of `probe` made by a forked child process."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(w, Pair._run(pair.kernel, "probe", args, io_bytes()))
        finally:
            os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    assert out, "the child produced no result"
    return out


def _mapping_of(addr: int) -> str | None:
    """The /proc/self/maps line of the mapping holding `addr`, if any."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= addr < hi:
            return line
    return None


@pytest.mark.kernel
@settings(max_examples=100, deadline=None)
@given(src=st.binary(max_size=BUF), off=st.integers(0, 127), size=st.integers(0, 129),
       which=st.integers(6, 11))
def test_probe_read_kernel_memory_matches_kernel(pair: Pair, page: GuardedPage, src: bytes,
                                                 off: int, size: int, which: int) -> None:
    """All six probe reads of the program's own map value (kernel memory in the kernel,
    the VM's memory on the VM): the kernel variants read it, the user ones fail with
    -EFAULT (probe_read_user of size 0 too, the range not being a user range;
    probe_read_user_str of size 0 returns 0 before looking)."""
    k, _ = _probe(pair, page, which, 0, size, off, src)
    if which == 10 or (which == 11 and size):
        assert ret_of(k) == -14


@pytest.mark.kernel
def test_probe_read_user_str_word_masking(pair: Pair, page: GuardedPage) -> None:
    """strncpy_from_user copies whole words: the bytes after the NUL in the last word
    are written as zeros, those after that word are left alone."""
    data = bytearray(b"\xee" * PAGE)
    data[0:11] = b"0123456789\0"
    page.fill(bytes(data))
    k, _ = _probe(pair, page, 1, page.addr, 64)
    assert ret_of(k) == 11
    assert k[DST:DST + 24] == b"0123456789" + bytes(6) + b"\xaa" * 8


# --- attach cookie and func ip ---------------------------------------------------------------

@pytest.mark.kernel
def test_attach_cookie_raw_tp_test_run(pair: Pair) -> None:
    """BPF_PROG_TEST_RUN of a raw tracepoint runs with a zeroed run context: cookie 0;
    a Task gives the VM the cookie of an attached link."""
    k, v = pair.run("cookie", [0], io_bytes())
    assert k == v
    assert struct.unpack_from("<Q", k, VALS)[0] == 0
    _, v = pair.run("cookie", [0], io_bytes(), Task.current(attach_cookie=0xC00C1E))
    assert struct.unpack_from("<Q", v, VALS)[0] == 0xC00C1E


GET_FUNC_IP = "r1 = r1\ncall 173\nexit"


@pytest.mark.kernel
@pytest.mark.parametrize("pt", [ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE,
                                ProgType.TRACEPOINT, ProgType.PERF_EVENT, ProgType.KPROBE])
def test_get_func_ip_only_for_kprobes(pt: ProgType) -> None:
    """The verifier refuses bpf_get_func_ip (ENOTSUPP) outside kprobes (and tracing
    programs); the VM's registries of those types lack it, so the VM refuses the load."""
    from pybpf.kernel import KernelError, prog_load
    from tests.conftest import kernel_available
    if not kernel_available()[0]:
        pytest.skip("bpf(2) unavailable")
    code = assemble(GET_FUNC_IP)
    if pt == ProgType.KPROBE:
        prog_load(pt, code, "GPL").close()
        VM(code, helpers=helpers_for(pt))
        return
    with pytest.raises(KernelError) as e:
        prog_load(pt, code, "GPL")
    assert e.value.errno_name == "ENOTSUPP"
    with pytest.raises(InvalidProgram, match="unknown helper 173"):
        VM(code, helpers=helpers_for(pt))


# --- VM-only semantics: tasks given to kprobe / tracepoint contexts -----------------------

KPROBE_READ = """
r6 = r1
r1 = r10
r1 += -16
r2 = 16
r3 = *(u64 *)(r6 +112)
call bpf_probe_read_user_str
r7 = r0
r1 = r6
call bpf_get_func_ip
r8 = r0
r1 = r6
call bpf_get_attach_cookie
r0 += r8
r0 += r7
r1 = *(u64 *)(r10 -16)
r0 += r1
exit
"""


def test_kprobe_context_with_task() -> None:
    """A kprobe on the VM: its first argument points into the task's user memory;
    bpf_get_func_ip gives Task.func_ip and bpf_get_attach_cookie Task.attach_cookie."""
    vm = VM(assemble(KPROBE_READ), helpers=helpers_for(ProgType.KPROBE))
    addr = 0x7F00_0000_1000
    task = Task(pid=3, tgid=3, comm="t", user_memory=[(addr, b"AB\0junk")],
                func_ip=0xFFFF_FFFF_8100_0000, attach_cookie=5)
    regs = PT_REGS_X86_64.pack(param1=addr)
    r0 = run_context(vm, ProgType.KPROBE, regs, arch="x86_64", task=task)
    assert r0 == (0xFFFF_FFFF_8100_0000 + 5 + 3 + int.from_bytes(b"AB\0", "little")) & M64
    assert vm.task is None  # the task was for that run only
    # no task: func_ip 0 (no kprobe on a function entry), cookie 0, nothing mapped
    r0 = run_context(vm, ProgType.KPROBE, regs, arch="x86_64")
    assert r0 == (-14) & M64


def test_tracepoint_context_with_task() -> None:
    """A tracepoint program whose record carries a user pointer (sys_enter args[1]) reads
    a string from the task's memory with bpf_probe_read_user_str and the legacy
    bpf_probe_read_str; comm and pid come from the task."""
    fmt = syscall_tracepoint("sys_enter")
    addr = 0x5555_0000_0000
    task = Task(pid=9, tgid=8, uid=1, gid=2, comm="cat",
                user_memory=[(addr, b"/etc/passwd\0")])
    src = """
    r6 = r1
    r1 = r10
    r1 += -32
    r2 = 32
    r3 = *(u64 *)(r6 +24)
    call bpf_probe_read_str
    r7 = r0
    call bpf_get_current_pid_tgid
    r0 += r7
    exit
    """
    vm = VM(assemble(src), helpers=helpers_for(ProgType.TRACEPOINT))
    rec = fmt.pack(id=257, args=[0, addr, 0, 0, 0, 0])
    assert run_context(vm, ProgType.TRACEPOINT, rec, tracepoint=fmt, task=task) == \
        (8 << 32) + 9 + 12


def test_raw_tp_test_run_with_task() -> None:
    """progtypes.test_run(task=...) runs a raw tracepoint in that task."""
    vm = VM(assemble("call bpf_get_current_uid_gid\nexit"),
            helpers=helpers_for(ProgType.RAW_TRACEPOINT))
    r = test_run(vm, ProgType.RAW_TRACEPOINT, ctx_in=bytes(8), repeat=0, ctx_size_out=0,
                 task=Task(uid=42, gid=7))
    assert r.retval == 42
    with pytest.raises(TestRunError):
        test_run(vm, ProgType.RAW_TRACEPOINT, ctx_in=bytes(8), repeat=1, task=Task())


def test_kernel_regions_and_address_rules() -> None:
    """Kernel regions are readable by probe_read_kernel and the legacy probe_read; the
    same address given as user memory is refused by Task; x86-64 address classes."""
    kaddr = 0xFFFF_8881_0000_0000
    task = Task(kernel_memory=[(kaddr, b"kernel!\0")])
    src = f"""
    r1 = r10
    r1 += -8
    r2 = 8
    r3 = {kaddr} ll
    call bpf_probe_read
    r0 = *(u64 *)(r10 -8)
    exit
    """
    vm = VM(assemble(src), helpers=helpers_for(ProgType.KPROBE))
    assert run_context(vm, ProgType.KPROBE, PT_REGS_X86_64.pack(), arch="x86_64",
                       task=task) == int.from_bytes(b"kernel!\0", "little")
    with pytest.raises(TaskError):
        Task(user_memory=[(kaddr, b"x")])
    with pytest.raises(TaskError):
        Task(kernel_memory=[(0x1000, b"x")])
    with pytest.raises(TaskError):
        Task(user_memory=[(0x1000, b"abcd"), (0x1002, b"x")])
    with pytest.raises(TaskError):
        Task(pid=1 << 32)
    assert not kernel_read_allowed(TASK_SIZE_MAX + PAGE - 1)
    assert kernel_read_allowed(TASK_SIZE_MAX + PAGE) is False  # non-canonical
    assert kernel_read_allowed(0xFFFF_8000_0000_0000)
    assert not kernel_read_allowed(0xFFFF_FFFF_FF60_0010)  # vsyscall page
    assert kernel_read_allowed(0xFFFF_FFFF_FF60_1000)


def test_address_space_joins_adjacent_regions() -> None:
    space = AddressSpace([(0x2000, b"ab"), (0x1FFE, b"xy"), (0x3000, b"z")])
    assert space.prefix(0x1FFE, 10) == b"xyab"
    assert space.prefix(0x2FFF, 2) == b""
    assert space.contains(0x3000) and not space.contains(0x3001)


def test_user_str_reaching_count_and_faults() -> None:
    """strncpy_from_user_nofault: a string cut at `count` keeps count - 1 bytes and a
    NUL; an unmapped byte before the NUL is -EFAULT; count 0 reads nothing."""
    task = Task(user_memory=[(0x10000, b"abcdefghijkl")])
    mem = Memory()
    assert strncpy_from_user_nofault(mem, task, 0x10000, 5) == (5, b"abcd\0")
    assert strncpy_from_user_nofault(mem, task, 0x10000, 20)[0] == -14
    assert strncpy_from_user_nofault(mem, task, 0x10000, 12) == (12, b"abcdefghijk\0")
    assert strncpy_from_user_nofault(mem, task, 0x99999, 0) == (0, b"")


def test_default_task_is_the_calling_thread() -> None:
    import os
    t = Task.current()
    assert (t.pid, t.tgid, t.uid, t.gid) == (threading.get_native_id(), os.getpid(),
                                             os.getuid(), os.getgid())
    assert 0 < len(t.comm) <= 15
