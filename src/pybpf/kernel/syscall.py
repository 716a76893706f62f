"""The raw bpf(2) system call through libc's `syscall()` (ctypes, no C extension).

`bpf(cmd, attr)` passes a ctypes attr Structure by address with its own size and
turns a -1 return into the matching KernelError. Everything else in pybpf.kernel is
built on it.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
import platform
import sys
from typing import Any, Callable

from .abi import BpfCmd
from .errors import KernelError, NotSupportedError, kernel_error

# __NR_bpf per architecture (arch/*/include/uapi/asm/unistd*.h, syscall tables).
SYS_BPF_BY_MACHINE: dict[str, int] = {
    "x86_64": 321,
    "amd64": 321,
    "aarch64": 280,
    "arm64": 280,
    "riscv64": 280,
    "loongarch64": 280,
    "i386": 357,
    "i686": 357,
    "armv7l": 386,
    "ppc64le": 361,
    "ppc64": 361,
    "s390x": 351,
    "mips64": 5315,
}


def sys_bpf_number(machine: str | None = None) -> int | None:
    """The bpf(2) syscall number on `machine` (default: this one), None if unknown."""
    return SYS_BPF_BY_MACHINE.get((machine or platform.machine()).lower())


@functools.lru_cache(maxsize=1)
def libc() -> ctypes.CDLL:
    """The process's libc (lazily opened once), with errno capture."""
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    return lib


def _check_platform() -> int:
    if not sys.platform.startswith("linux"):
        raise NotSupportedError(_errno.ENOSYS, "bpf", f"bpf(2) needs Linux, not {sys.platform}")
    nr = sys_bpf_number()
    if nr is None:
        raise NotSupportedError(_errno.ENOSYS, "bpf",
                                f"unknown bpf(2) syscall number on {platform.machine()}")
    return nr


def cmd_name(cmd: int) -> str:
    """"BPF_MAP_CREATE" for 0, ... ("BPF_CMD_<n>" for a number the ABI does not know)."""
    try:
        return "BPF_" + BpfCmd(cmd).name
    except ValueError:
        return f"BPF_CMD_{cmd}"


@functools.lru_cache(maxsize=1)
def _syscall() -> tuple[Callable[..., int], ctypes.c_long]:
    """libc's syscall() and bpf(2)'s number as a C long, found once (the platform
    checks raise every time until they pass: a raise is not cached)."""
    nr = _check_platform()
    return libc().syscall, ctypes.c_long(nr)


def bpf_raw(cmd: int, attr: Any) -> tuple[int, int]:
    """Call bpf(cmd, &attr, sizeof(attr)); return (result, errno) without raising.
    EINTR is retried."""
    return _call_retrying(*_prepare(cmd, attr))


def _prepare(cmd: int, attr: Any) -> tuple[Callable[..., int], tuple[Any, ...]]:
    """The syscall function and its C arguments for bpf(cmd, &attr, sizeof(attr))."""
    call, nr = _syscall()
    return call, (nr, ctypes.c_long(cmd), ctypes.c_void_p(ctypes.addressof(attr)),
                  ctypes.c_ulong(ctypes.sizeof(attr)))


def _call_retrying(call: Callable[..., int], args: tuple[Any, ...]) -> tuple[int, int]:
    """call(*args) until it is not interrupted: (result, 0) or (result, errno)."""
    while True:
        ret = call(*args)
        if ret >= 0:
            return ret, 0
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            return ret, err


class PreparedCall:
    """One bpf(2) command on one attr whose C arguments are built once, for calls
    repeated on the same attr (test runs over a capture). The attr must outlive it."""

    __slots__ = ("cmd", "_call", "_args")

    def __init__(self, cmd: int, attr: Any) -> None:
        self.cmd = cmd
        self._call, self._args = _prepare(cmd, attr)

    def __call__(self) -> tuple[int, int]:
        """bpf(2) as bpf_raw(): (result, errno), EINTR retried."""
        return _call_retrying(self._call, self._args)

    @property
    def raw(self) -> tuple[Callable[..., int], tuple[Any, ...]]:
        """(function, arguments): `function(*arguments)` is the bare system call, with
        no errno read and no EINTR retry (for loops that check a result of -1
        themselves and then call retry())."""
        return self._call, self._args

    def retry(self) -> tuple[int, int]:
        """After the bare call returned -1: (result, errno) as __call__ gives them,
        the call repeated while it was interrupted (EINTR)."""
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            return -1, err
        return _call_retrying(self._call, self._args)


def bpf(cmd: int, attr: Any, detail: str = "") -> int:
    """Call bpf(2); return its non-negative result or raise the KernelError for errno."""
    ret, err = bpf_raw(cmd, attr)
    if ret < 0:
        raise kernel_error(err, cmd_name(cmd), detail)
    return ret


LOG_MIN_SIZE = 128  # the kernel refuses a smaller log buffer with log_level > 0
LOG_MAX_SIZE = (0xFFFF_FFFF >> 2)  # ... and a larger one (UINT_MAX >> 2)
LOG_DEFAULT_SIZE = 64 * 1024


def _decode_log(buf: ctypes.Array) -> str:
    return buf.value.decode("utf-8", errors="replace")


def call_with_log(cmd: int, attr: Any, *, log_level: int, log_size: int,
                  set_log: Callable[[Any, int, int, int], None],
                  true_size: Callable[[Any], int],
                  max_log_size: int = LOG_MAX_SIZE) -> tuple[int, int, str]:
    """Run a loading command (PROG_LOAD, BTF_LOAD) that can write a log, and get the
    whole log: on ENOSPC (the log did not fit) retry with the size the kernel reports
    (log_true_size), or double, until it fits. With log_level 0 a failed load is
    retried once at level 1 so the error still carries the log.

    `set_log(attr, addr, size, level)` fills the log fields; `true_size(attr)` reads
    the kernel's needed size. Returns (result, errno, log); result < 0 on failure."""
    if log_level == 0:
        set_log(attr, 0, 0, 0)
        ret, err = bpf_raw(cmd, attr)
        if ret >= 0:
            return ret, 0, ""
        first_err = err
        log_level = 1
    else:
        first_err = 0
    size = min(max(log_size, LOG_MIN_SIZE), max_log_size)
    while True:
        buf = ctypes.create_string_buffer(size)
        set_log(attr, ctypes.addressof(buf), size, log_level)
        ret, err = bpf_raw(cmd, attr)
        if ret >= 0:
            # (With first_err set this is a load that failed without a log and then
            # passed with one, which should not happen; the object is kept.)
            return ret, 0, _decode_log(buf)
        if err == _errno.ENOSPC and size < max_log_size:
            need = true_size(attr)
            size = min(need if need > size else size * 2, max_log_size)
            continue
        # The errno of the real (log-less) attempt wins over the retry's.
        return ret, first_err or err, _decode_log(buf)


__all__ = ["SYS_BPF_BY_MACHINE", "sys_bpf_number", "libc", "cmd_name", "bpf_raw", "bpf",
           "PreparedCall", "call_with_log", "KernelError"]
