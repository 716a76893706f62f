"""Errors from bpf(2): one `KernelError` family carrying the errno and the command.

Common errnos get their own subclass, which also derives from the matching Python
built-in (PermissionError, KeyError, ValueError, ...) so callers can catch either.
A failed BPF_PROG_LOAD raises `KernelVerifierError` (with the verifier log), combined
with the errno subclass: `except KernelPermissionError` catches an EACCES from the
verifier too.
"""

from __future__ import annotations

import errno as _errno
from typing import Any, TypeVar, cast

from ..errors import (ENOTSUPP, ErrnoError, RunError, VerifierError,  # noqa: F401
                      errno_name, errno_text)

def _tail(log: str, lines: int) -> str:
    kept = [ln for ln in log.rstrip("\n").splitlines() if ln.strip()]
    tail = kept[-lines:]
    prefix = "... " if len(kept) > lines else ""
    return prefix + " | ".join(tail)


class KernelError(ErrnoError):
    """A bpf(2) command failed. `errno` is the error number, `cmd` the command name
    ("BPF_MAP_CREATE"), `detail` optional context (a path, a key, ...)."""

    def __init__(self, err: int, cmd: str, detail: str = "") -> None:
        self._errno = err
        self.cmd = cmd
        self.detail = detail
        super().__init__(self._message())

    # `errno` is ErrnoError's property, so the OSError-derived subclasses keep it
    # (OSError.__init__ resets its own errno slot).
    def _what(self) -> str:
        return self.cmd

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: "type[KernelError]", state: dict) -> "KernelError":
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    Exception.__init__(obj, obj._message())
    return obj


class KernelPermissionError(KernelError, PermissionError):  # type: ignore[misc]  # errno: ours
    """EPERM / EACCES: missing capability, or (PROG_LOAD) the verifier refused."""


class KernelKeyError(KernelError, KeyError):
    """ENOENT: no such element, id or object (a KeyError too)."""


class KernelExistsError(KernelError):
    """EEXIST: the element or path already exists."""


class KernelTooBigError(KernelError):
    """E2BIG: the map is full, or an attr/program is larger than the kernel accepts."""


class KernelInvalidError(KernelError, ValueError):
    """EINVAL: the kernel rejected an argument (a ValueError too)."""


class KernelNoSpaceError(KernelError):
    """ENOSPC: a user buffer (log, data_out, ...) was too small."""


class KernelBusyError(KernelError):
    """EBUSY / EAGAIN: the object is busy (frozen map being written, ...)."""


class KernelNoDeviceError(KernelError, LookupError):
    """ENODEV / ENXIO: no such network interface or device."""


class NotSupportedError(KernelError):
    """ENOTSUPP (524) / EOPNOTSUPP / ENOSYS: the kernel or this object lacks the feature."""


_ERRNO_CLASSES: dict[int, type[KernelError]] = {
    _errno.EPERM: KernelPermissionError,
    _errno.EACCES: KernelPermissionError,
    _errno.ENOENT: KernelKeyError,
    _errno.EEXIST: KernelExistsError,
    _errno.E2BIG: KernelTooBigError,
    _errno.EINVAL: KernelInvalidError,
    _errno.ENOSPC: KernelNoSpaceError,
    _errno.EBUSY: KernelBusyError,
    _errno.EAGAIN: KernelBusyError,
    _errno.ENODEV: KernelNoDeviceError,
    ENOTSUPP: NotSupportedError,
    _errno.EOPNOTSUPP: NotSupportedError,
    _errno.ENOSYS: NotSupportedError,
}


class KernelVerifierError(KernelError, VerifierError):
    """BPF_PROG_LOAD failed. `log` is the whole verifier log (may be empty if the
    kernel rejected the attr before verifying); `reason` its most telling line."""

    _log_label = "verifier log"

    def __init__(self, err: int, cmd: str = "BPF_PROG_LOAD", log: str = "",
                 detail: str = "") -> None:
        self.log = log
        super().__init__(err, cmd, detail)
        self.log = log  # VerifierError.__init__ (via super) reset it
        self.error, self.pc = self.reason, verifier_error_pc(log)

    @property
    def reason(self) -> str:
        """The verifier's own explanation: the last line that is not a statistics,
        instruction-dump or register-state line (or "" without a log)."""
        return verifier_reason(self.log)

    @property
    def first_line(self) -> str:
        """The first non-empty line of the log."""
        for ln in self.log.splitlines():
            if ln.strip():
                return ln.strip()
        return ""

    def _message(self) -> str:
        msg = super()._message()
        if self.log.strip():
            return f"{msg}; {self._log_label}: {_tail(self.log, 6)}"
        return f"{msg}; no {self._log_label}"


class KernelBTFError(KernelVerifierError):
    """BPF_BTF_LOAD failed; `log` is the BTF verifier log."""

    _log_label = "BTF log"

    def __init__(self, err: int, cmd: str = "BPF_BTF_LOAD", log: str = "",
                 detail: str = "") -> None:
        super().__init__(err, cmd, log, detail)


class KernelTestRunError(KernelError, RunError):
    """BPF_PROG_TEST_RUN failed: a RunError, as the VM's test-run errors are, so one
    `pytest.raises(pybpf.RunError)` holds on both backends; also the errno's class
    (KernelTestRunInvalidError is a KernelInvalidError, ...)."""

    def __init__(self, err: int, cmd: str = "BPF_PROG_TEST_RUN", detail: str = "") -> None:
        super().__init__(err, cmd, detail)


_K = TypeVar("_K", bound="KernelError")


def _combined(base: type[_K]) -> dict[int, type[_K]]:
    """For each errno class, a subclass of both `base` and it, e.g.
    KernelVerifierPermissionError. Built once at import and published as module
    attributes (so they pickle)."""
    out: dict[int, type[_K]] = {}
    made: dict[type, type[_K]] = {}
    for err, cls in _ERRNO_CLASSES.items():
        if cls not in made:
            name = base.__name__.removesuffix("Error") + cls.__name__.removeprefix("Kernel")
            made[cls] = cast("type[_K]", type(name, (base, cls), {
                "__doc__": f"{base.__name__} that is also a {cls.__name__}.",
                "__module__": __name__, "__qualname__": name}))
            globals()[name] = made[cls]
        out[err] = made[cls]
    return out


_VERIFIER_CLASSES = _combined(KernelVerifierError)
_BTF_CLASSES = _combined(KernelBTFError)
_TEST_RUN_CLASSES = _combined(KernelTestRunError)

_STAT_PREFIXES = ("processed ", "verification time", "stack depth", "max_states_per_insn",
                  "mark_read", "peak_states", "Validating ", "Func#", "func#",
                  "last_idx", "regs=", "parent didn't", "from ", "; ")


def verifier_reason(log: str) -> str:
    """The line of a verifier log that says why it failed: the last line that is not
    statistics, an instruction dump ("12: (b7) r0 = 0") or a register state."""
    for ln in reversed(log.splitlines()):
        s = ln.strip()
        if not s or s.startswith(_STAT_PREFIXES):
            continue
        head = s.split(":", 1)[0]
        if head.isdigit():  # "12: (b7) r0 = 0" or "12: R0=..." state lines
            continue
        if s.startswith(("R", "frame")) and "=" in s.split()[0]:
            continue
        return s
    return ""


def verifier_error_pc(log: str) -> int | None:
    """The instruction the verifier stopped at: that of the last "N: (op) ..." line
    before the reason line (None without one)."""
    reason, pc = verifier_reason(log), None
    for ln in log.splitlines():
        s = ln.strip()
        head = s.split(":", 1)[0]
        if head.isdigit() and s[len(head) + 1:].lstrip().startswith("("):
            pc = int(head)
        elif reason and s == reason:
            return pc
    return pc


def kernel_error(err: int, cmd: str, detail: str = "") -> KernelError:
    """The most specific KernelError for `err`."""
    return _ERRNO_CLASSES.get(err, KernelError)(err, cmd, detail)


def verifier_error(err: int, log: str, cmd: str = "BPF_PROG_LOAD",
                   detail: str = "") -> KernelVerifierError:
    """A KernelVerifierError that is also the errno's class."""
    cls = _VERIFIER_CLASSES.get(err, KernelVerifierError)
    return cls(err, cmd, log, detail)


def prog_test_run_error(err: int, detail: str = "") -> KernelTestRunError:
    """A KernelTestRunError that is also the errno's class."""
    cls = _TEST_RUN_CLASSES.get(err, KernelTestRunError)
    return cls(err, "BPF_PROG_TEST_RUN", detail)


def btf_error(err: int, log: str, detail: str = "") -> KernelBTFError:
    """A KernelBTFError that is also the errno's class."""
    cls = _BTF_CLASSES.get(err, KernelBTFError)
    return cls(err, "BPF_BTF_LOAD", log, detail)
