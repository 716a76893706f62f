"""The task a program runs in, and the two address spaces its probe helpers read.

In the kernel, bpf_get_current_pid_tgid/uid_gid/comm describe `current`, and the
probe-read helpers copy from the current process's user memory or from kernel memory
without faulting. On the VM, a `Task` supplies all of that: ids, comm, a user address
space and a kernel address space, each a set of (address, bytes) regions the caller
provides, plus the attach info of tracing helpers (bpf_get_func_ip,
bpf_get_attach_cookie). Give it to a VM as `vm.task`; with none set, the helpers
describe the calling host thread (what BPF_PROG_TEST_RUN answers in the kernel, which
runs the program in the caller's task) with empty address spaces.

The VM's own memory (stack, maps, context) counts as kernel memory, as the stack and
maps of a program in the kernel are. Address rules are x86-64's with 4-level page
tables (arch/x86/mm/maccess.c, lib/strncpy_from_user.c, mm/maccess.c):

* user addresses are [0, TASK_SIZE_MAX); copy_from_user_nofault refuses a range that
  does not end below it (-EFAULT);
* kernel reads refuse any address below TASK_SIZE_MAX + PAGE_SIZE, non-canonical
  addresses and the vsyscall page (-ERANGE) before touching memory;
* a read that meets an unmapped byte fails with -EFAULT, and the helpers then zero
  their whole destination.
"""

from __future__ import annotations

import bisect
import errno
import itertools
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..helpers.access import charge_bytes, destination, write_bytes
from ..helpers.printk import KernelReader, StringReader
from ..helpers.registry import HelperContext, HelperFn, HelperRegistry
from ..isa import M32, M64
from ..maps.spec import PAGE_SIZE
from .errors import ProgTypeError

TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE  # x86-64, 4-level paging: 0x7ffffffff000
VSYSCALL_ADDR = 0xFFFF_FFFF_FF60_0000
TASK_COMM_LEN = 16
EFAULT = errno.EFAULT
ERANGE = errno.ERANGE


class TaskError(ProgTypeError, ValueError):
    """A Task or memory region the kernel could not have (a user region above
    TASK_SIZE_MAX, a kernel region at an address kernel reads refuse, ...)."""


# --- address spaces -----------------------------------------------------------------------

class AddressSpace:
    """Regions of readable memory, (address, bytes) each; reads are byte exact: a range
    is readable when every byte of it lies in some region (adjacent regions join)."""

    def __init__(self, regions: Iterable[tuple[int, bytes | bytearray]] = ()) -> None:
        items = sorted((int(a), bytes(b)) for a, b in regions if len(b))
        for (a1, b1), (a2, _) in itertools.pairwise(items):
            if a1 + len(b1) > a2:
                raise TaskError(f"memory regions at {a1:#x} and {a2:#x} overlap")
        self._starts = [a for a, _ in items]
        self._regions = items

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self._regions)

    def __len__(self) -> int:
        return len(self._regions)

    def __repr__(self) -> str:
        return "AddressSpace(" + ", ".join(f"{a:#x}+{len(b)}" for a, b in self._regions) + ")"

    def prefix(self, addr: int, size: int) -> bytes:
        """The readable bytes at the start of [addr, addr + size): all of them when the
        whole range is mapped, fewer where an unmapped byte is met."""
        out = bytearray()
        while len(out) < size:
            cur = addr + len(out)
            i = bisect.bisect_right(self._starts, cur) - 1
            if i < 0:
                break
            start, data = self._regions[i]
            off = cur - start
            if off >= len(data):
                break
            out += data[off:off + size - len(out)]
        return bytes(out)

    def contains(self, addr: int) -> bool:
        return len(self.prefix(addr, 1)) == 1


def is_user_address(addr: int) -> bool:
    """Below TASK_SIZE_MAX: where x86-64 user mappings live (what `TASK_SIZE` tests)."""
    return 0 <= addr < TASK_SIZE_MAX


def kernel_read_allowed(addr: int) -> bool:
    """copy_from_kernel_nofault_allowed on x86-64: not a user address nor the guard page
    above them, not the vsyscall page, and canonical for 48-bit virtual addresses."""
    addr &= M64
    if addr < TASK_SIZE_MAX + PAGE_SIZE:
        return False
    if addr & ~(PAGE_SIZE - 1) == VSYSCALL_ADDR:
        return False
    top = addr >> 47
    return top in (0, (1 << 17) - 1)


def user_access_ok(addr: int, size: int) -> bool:
    """x86-64 __access_ok: the whole range [addr, addr + size) ends inside user space."""
    addr &= M64
    end = addr + size
    return end <= M64 and end <= TASK_SIZE_MAX


# --- the task -----------------------------------------------------------------------------

def _host_comm(tid: int) -> bytes:
    try:
        with open(f"/proc/self/task/{tid}/comm", "rb") as f:
            return f.read().rstrip(b"\n")
    except OSError:
        return b""


def _comm_bytes(comm: str | bytes) -> bytes:
    raw = comm.encode() if isinstance(comm, str) else bytes(comm)
    raw = raw.split(b"\0", 1)[0]
    return raw[:TASK_COMM_LEN - 1]  # the kernel keeps 15 characters and a NUL


@dataclass
class Task:
    """The task a program runs in on the VM: `pid` is the thread id (the kernel's
    task->pid), `tgid` the process id; `comm` at most 15 bytes (longer is cut, as
    the kernel does); `user_memory` / `kernel_memory` the regions probe helpers may
    read; `func_ip` what bpf_get_func_ip answers in a kprobe (0: the probe is not at
    a function entry); `attach_cookie` the link's bpf_cookie."""

    pid: int = 0
    tgid: int = 0
    uid: int = 0
    gid: int = 0
    comm: bytes | str = b""
    user_memory: AddressSpace | Iterable[tuple[int, bytes]] = field(default_factory=tuple)
    kernel_memory: AddressSpace | Iterable[tuple[int, bytes]] = field(default_factory=tuple)
    func_ip: int = 0
    attach_cookie: int = 0

    def __post_init__(self) -> None:
        self.comm = _comm_bytes(self.comm)
        if not isinstance(self.user_memory, AddressSpace):
            self.user_memory = AddressSpace(self.user_memory)
        if not isinstance(self.kernel_memory, AddressSpace):
            self.kernel_memory = AddressSpace(self.kernel_memory)
        for addr, data in self.user_memory:
            if not user_access_ok(addr, len(data)):
                raise TaskError(f"user region {addr:#x}+{len(data)} does not lie below "
                                f"TASK_SIZE_MAX ({TASK_SIZE_MAX:#x})")
        for addr, _data in self.kernel_memory:
            if not kernel_read_allowed(addr):
                raise TaskError(f"kernel region at {addr:#x} is at an address kernel "
                                "reads refuse (user range, non-canonical or vsyscall)")
        for name in ("pid", "tgid", "uid", "gid"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFFFF_FFFF:
                raise TaskError(f"{name} {v} is not a 32-bit value")
        self.func_ip &= M64
        self.attach_cookie &= M64

    @classmethod
    def current(cls, **overrides: object) -> Task:
        """The calling host thread: its thread id, process id, real uid and gid and
        comm, with empty address spaces (fields can be overridden)."""
        tid = threading.get_native_id()
        base: dict[str, object] = {"pid": tid, "tgid": os.getpid(), "uid": os.getuid(),
                                   "gid": os.getgid(), "comm": _host_comm(tid)}
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]  # caller's overrides: __post_init__ checks

    @property
    def user_space(self) -> AddressSpace:
        """`user_memory` as the AddressSpace __post_init__ made of it."""
        assert isinstance(self.user_memory, AddressSpace)
        return self.user_memory

    @property
    def kernel_space(self) -> AddressSpace:
        """`kernel_memory` as the AddressSpace __post_init__ made of it."""
        assert isinstance(self.kernel_memory, AddressSpace)
        return self.kernel_memory

    @property
    def pid_tgid(self) -> int:
        """bpf_get_current_pid_tgid: tgid << 32 | pid."""
        return (self.tgid << 32) | self.pid

    @property
    def uid_gid(self) -> int:
        """bpf_get_current_uid_gid: gid << 32 | uid."""
        return (self.gid << 32) | self.uid


# --- what the helpers need from the running program -----------------------------------

class _Region(Protocol):
    base: int
    buf: bytearray | memoryview


class _Memory(Protocol):
    regions: dict[int, _Region]

    def write(self, addr: int, data: bytes, pc: int = -1) -> None: ...


def task_of(ctx: object) -> Task:
    """The Task of the running program: `vm.task`, else the calling host thread (read
    from /proc once a run, kept in the call context: not once a helper call)."""
    task = getattr(getattr(ctx, "vm", None), "task", None)
    if task is not None:
        return task
    cached = getattr(ctx, "host_task", None)
    if isinstance(cached, Task):
        return cached
    current = Task.current()
    if hasattr(ctx, "host_task"):
        ctx.host_task = current
    return current


def _vm_region(memory: _Memory, addr: int) -> _Region | None:
    region = memory.regions.get(addr >> 32)
    if region is not None and 0 <= addr - region.base < len(region.buf):
        return region
    return None


def in_vm_memory(memory: _Memory, addr: int) -> bool:
    """Is `addr` inside one of the VM's regions (its stack, maps, context)?"""
    return _vm_region(memory, addr) is not None


def kernel_prefix(memory: _Memory, task: Task, addr: int, size: int) -> bytes:
    """The readable start of [addr, addr + size) in kernel memory: the VM's regions,
    then the task's kernel regions."""
    region = _vm_region(memory, addr)
    if region is not None:
        off = addr - region.base
        return bytes(region.buf[off:off + size])
    return task.kernel_space.prefix(addr, size)


def is_kernel_side(memory: _Memory, task: Task, addr: int) -> bool:
    """Does `addr` belong to the kernel side? The VM's own memory does, whatever its
    numeric value; otherwise addresses at or above TASK_SIZE do (the compat rule of
    bpf_probe_read and of %s in bpf_trace_printk)."""
    return in_vm_memory(memory, addr) or not is_user_address(addr)


# --- the nofault copies -------------------------------------------------------------------

def copy_from_kernel_nofault(memory: _Memory, task: Task, addr: int,
                             size: int) -> tuple[int, bytes]:
    """(0, bytes) or (-ERANGE / -EFAULT, b"")."""
    if not in_vm_memory(memory, addr) and not kernel_read_allowed(addr):
        return -ERANGE, b""
    data = kernel_prefix(memory, task, addr, size)
    return (0, data) if len(data) == size else (-EFAULT, b"")


def copy_from_user_nofault(memory: _Memory, task: Task, addr: int,
                           size: int) -> tuple[int, bytes]:
    """(0, bytes) or (-EFAULT, b""); the VM's own memory is not user memory."""
    if in_vm_memory(memory, addr) or not user_access_ok(addr, size):
        return -EFAULT, b""
    data = task.user_space.prefix(addr, size)
    return (0, data) if len(data) == size else (-EFAULT, b"")


def strncpy_from_kernel_nofault(memory: _Memory, task: Task, addr: int,
                                count: int) -> tuple[int, bytes]:
    """(length including the NUL, bytes written to dst) or (-errno, bytes written).
    Byte at a time; at `count` bytes the last one becomes the NUL."""
    if count <= 0:
        return 0, b""
    if not in_vm_memory(memory, addr) and not kernel_read_allowed(addr):
        return -ERANGE, b""
    data = kernel_prefix(memory, task, addr, count)
    nul = data.find(b"\0")
    if nul >= 0:
        return nul + 1, data[:nul + 1]
    if len(data) == count:
        return count, data[:count - 1] + b"\0"
    return -EFAULT, data + b"\0"


def strncpy_from_user_nofault(memory: _Memory, task: Task, addr: int,
                              count: int) -> tuple[int, bytes]:
    """(length including the NUL, bytes written to dst) or (-EFAULT, bytes written),
    as strncpy_from_user: whole words while at least 8 bytes may still be copied and
    the word is mapped (the bytes after a NUL in the last word are written as zeros),
    then byte at a time; a string reaching `count` is cut and NUL-terminated. Computed
    on one read of the mapped prefix, so the work is bulk whatever `count` is."""
    if count <= 0:
        return 0, b""
    addr &= M64
    if in_vm_memory(memory, addr) or addr >= TASK_SIZE_MAX:
        return -EFAULT, b""
    limit = min(count, TASK_SIZE_MAX - addr)
    data = task.user_space.prefix(addr, limit)  # one slice per region, not byte at a time
    nul = data.find(b"\0")
    words = len(data) // 8 * 8  # the whole mapped words the word loop copies
    if 0 <= nul < words:
        # the word holding the NUL is written whole, with zeros after the NUL
        return nul + 1, data[:nul] + bytes(8 - nul % 8)
    if nul >= 0:
        return nul + 1, data[:nul + 1]
    if len(data) < limit or limit < count:
        return -EFAULT, data  # an unmapped byte, or the end of user space, before a NUL
    return count, data[:count - 1] + b"\0"


# --- the helpers of the current task and the probe reads ----------------------------------

def format_memory(ctx: HelperContext) -> tuple[StringReader, KernelReader]:
    """The string and kernel-byte readers of the printf helpers for one call: %s reads
    user memory below TASK_SIZE and kernel memory above it (the VM's memory is kernel
    memory), as bpf_trace_copy_string does on x86-64."""
    task = task_of(ctx)
    mem: Any = ctx.memory

    def read_str(ptype: str, addr: int, bufsz: int) -> tuple[int, bytes]:
        if ptype == "k" or (ptype == "s" and is_kernel_side(mem, task, addr)):
            return strncpy_from_kernel_nofault(mem, task, addr, bufsz)
        return strncpy_from_user_nofault(mem, task, addr, bufsz)

    def read_kernel(addr: int, size: int) -> bytes | None:
        err, data = copy_from_kernel_nofault(mem, task, addr, size)
        return data if err == 0 else None

    return read_str, read_kernel


def _task(ctx: HelperContext) -> Task:
    return task_of(ctx)


def _mem(ctx: HelperContext) -> Any:
    """The VM's Memory (its regions decide what is kernel memory)."""
    return ctx.memory


def _vm_task(ctx: HelperContext) -> Any:
    return getattr(getattr(ctx, "vm", None), "task", None)


def _get_current_pid_tgid(ctx: HelperContext, *_: int) -> int:
    """bpf_get_current_pid_tgid: tgid << 32 | pid of the VM's task (default: the
    calling host thread, as BPF_PROG_TEST_RUN answers in the kernel)."""
    task = _vm_task(ctx)
    if task is None:
        return (os.getpid() << 32) | threading.get_native_id()
    return int(task.pid_tgid)


def _get_current_uid_gid(ctx: HelperContext, *_: int) -> int:
    """bpf_get_current_uid_gid: gid << 32 | uid (real ids) of the VM's task."""
    task = _vm_task(ctx)
    if task is None:
        return (os.getgid() << 32) | os.getuid()
    return int(task.uid_gid)


def _get_current_comm(ctx: HelperContext, buf: int, size: int, *_: int) -> int:
    """bpf_get_current_comm(buf, size): the task's comm, cut to size - 1 bytes and
    padded with NULs to `size` (strscpy_pad); returns 0."""
    n = size & M32
    if n:
        destination(ctx, buf, n)
        charge_bytes(ctx, n)
        comm = _task(ctx).comm
        assert isinstance(comm, bytes)  # Task.__post_init__ made it bytes
        text = comm[:n - 1]
        write_bytes(ctx, buf, text + bytes(n - len(text)))
    return 0


def _probe_dst(ctx: HelperContext, dst: int, size: int) -> None:
    """Before a probe read: its destination must hold `size` bytes (checked before any
    byte is read or allocated), and the copy is charged."""
    destination(ctx, dst, size)
    charge_bytes(ctx, size)


def _probe_result(ctx: HelperContext, dst: int, size: int, ret: int, data: bytes) -> int:
    """Write what a probe-read helper leaves in dst: the bytes read, or zeros over all
    `size` bytes when it failed."""
    if ret < 0:
        write_bytes(ctx, dst, bytes(size))
    else:
        write_bytes(ctx, dst, data)
    return ret & M64


def probe_read_user(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_user(dst, size, src): copy from the task's user memory; -EFAULT
    (dst zeroed) when any byte is unmapped or the range leaves user space."""
    n = size & M32
    _probe_dst(ctx, dst, n)
    ret, data = copy_from_user_nofault(_mem(ctx), _task(ctx), src & M64, n)
    return _probe_result(ctx, dst, n, ret, data)


def probe_read_kernel(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_kernel(dst, size, src): copy from kernel memory (the VM's own
    memory and the task's kernel regions); -ERANGE for a user or non-canonical address,
    -EFAULT for an unmapped byte; dst zeroed on failure."""
    n = size & M32
    _probe_dst(ctx, dst, n)
    ret, data = copy_from_kernel_nofault(_mem(ctx), _task(ctx), src & M64, n)
    return _probe_result(ctx, dst, n, ret, data)


def probe_read_user_str(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_user_str(dst, size, src): copy a NUL-terminated string of at most
    size bytes (NUL included); returns its length with the NUL, -EFAULT (dst zeroed)."""
    n = size & M32
    _probe_dst(ctx, dst, n)
    ret, data = strncpy_from_user_nofault(_mem(ctx), _task(ctx), src & M64, n)
    return _probe_result(ctx, dst, n, ret, data)


def probe_read_kernel_str(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """bpf_probe_read_kernel_str(dst, size, src): as the user variant from kernel
    memory, byte at a time; -ERANGE / -EFAULT with dst zeroed."""
    n = size & M32
    _probe_dst(ctx, dst, n)
    ret, data = strncpy_from_kernel_nofault(_mem(ctx), _task(ctx), src & M64, n)
    return _probe_result(ctx, dst, n, ret, data)


TASK_HELPERS: dict[str, HelperFn] = {
    "get_current_pid_tgid": _get_current_pid_tgid,
    "get_current_uid_gid": _get_current_uid_gid,
    "get_current_comm": _get_current_comm,
    "probe_read_user": probe_read_user,
    "probe_read_user_str": probe_read_user_str,
    "probe_read_kernel": probe_read_kernel,
    "probe_read_kernel_str": probe_read_kernel_str,
}


def register_task_helpers(reg: HelperRegistry) -> HelperRegistry:
    """Add bpf_get_current_{pid_tgid,uid_gid,comm} and bpf_probe_read_{user,kernel}[_str]
    to `reg`, all reading the VM's `task`."""
    reg.register_named(TASK_HELPERS)
    return reg


__all__ = [
    "PAGE_SIZE",
    "TASK_COMM_LEN",
    "TASK_SIZE_MAX",
    "AddressSpace",
    "Task",
    "TaskError",
    "copy_from_kernel_nofault",
    "copy_from_user_nofault",
    "format_memory",
    "in_vm_memory",
    "is_kernel_side",
    "is_user_address",
    "register_task_helpers",
    "kernel_read_allowed",
    "strncpy_from_kernel_nofault",
    "strncpy_from_user_nofault",
    "task_of",
    "user_access_ok",
]
