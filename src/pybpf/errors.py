"""Exception classes, one family per layer. Every error pybpf raises on bad input
derives from PyBPFError, so callers (and the CLI) can report it without a traceback."""

from __future__ import annotations

import errno as _errno
import os
from typing import Any

ENOTSUPP = 524  # the kernel's internal "not supported", which bpf(2) leaks to user space

_ERRNO_NAMES = {**{v: k for k, v in vars(_errno).items()
                   if k.startswith("E") and isinstance(v, int)}, ENOTSUPP: "ENOTSUPP"}
_ERRNO_NAMES.update(_errno.errorcode)  # the canonical name (EAGAIN, not EWOULDBLOCK)


def errno_name(err: int) -> str:
    """The symbolic name of an errno ("EACCES"), or "E<n>" for an unknown one."""
    return _ERRNO_NAMES.get(err, f"E{err}")


def errno_text(err: int) -> str:
    """Human text for an errno, including the kernel-only ENOTSUPP."""
    if err == ENOTSUPP:
        return "Operation not supported by the kernel"
    return os.strerror(err)


class PyBPFError(Exception):
    """Base of every error pybpf raises for bad input or a failed operation."""


class ErrnoError(PyBPFError):
    """A failure that stands for a kernel errno, the same number on both backends (the
    kernel's answer, or what the VM models it to be). Subclasses set `_errno` and say
    what failed through `_what()`."""

    _errno: int = _errno.EINVAL
    detail: str = ""

    @property
    def errno(self) -> int:
        return self._errno

    @property
    def errno_name(self) -> str:
        return errno_name(self._errno)

    def _what(self) -> str:
        return ""

    def _message(self) -> str:
        what = self._what()
        msg = f"{what + ': ' if what else ''}{errno_text(self._errno)} ({self.errno_name})"
        return f"{msg}: {self.detail}" if self.detail else msg

    def __str__(self) -> str:
        return self._message()


class BytecodeError(PyBPFError):
    """Bytecode that cannot be decoded or loaded; `pc` is the 8-byte slot index."""

    def __init__(self, pc: int, reason: str) -> None:
        self.pc = pc
        self.reason = reason
        super().__init__(f"{reason} at pc {pc}")


class InvalidInstruction(BytecodeError):
    """One instruction is malformed: unknown opcode, bad register, non-zero reserved field."""


class InvalidProgram(BytecodeError):
    """The instructions are well-formed but the program is not loadable (bad jump, ...)."""


class AsmError(PyBPFError):
    """Assembly text that cannot be assembled; names the line and column (1-based)."""

    def __init__(self, line: int, column: int, reason: str, text: str = "") -> None:
        self.line = line
        self.column = column
        self.reason = reason
        self.text = text
        super().__init__(f"line {line}, column {column}: {reason}")


class RunError(PyBPFError):
    """A program's (test) run failed, on either backend: the VM's run-time faults
    (VMRuntimeError), a refused BPF_PROG_TEST_RUN on the VM (progtypes.TestRunError) or
    in the kernel (kernel.KernelTestRunError). One class to catch for a test
    parametrised over backends; `errno`, where there is one, is the kernel's."""


class RegionTooLargeError(RunError):
    """Memory for the VM past its largest region (pybpf.vm.MAX_REGION_SIZE, 2 GiB: each
    region sits in the middle of its own 4 GiB segment)."""


class VMRuntimeError(RunError):
    """A program failed while running on the VM interpreter."""

    def __init__(self, pc: int, reason: str) -> None:
        self.pc = pc
        self.reason = reason
        super().__init__(f"{reason} at pc {pc}")


class MemoryAccessError(VMRuntimeError):
    """A load or store outside every region, or into a read-only one."""

    def __init__(self, pc: int, kind: str, addr: int, size: int, region: str | None,
                 detail: str = "") -> None:
        self.kind = kind
        self.addr = addr
        self.size = size
        self.region = region
        where = f"region {region}" if region else "no region"
        extra = f": {detail}" if detail else ""
        super().__init__(pc, f"invalid {kind} of {size} bytes at {addr:#x} ({where}){extra}")


class InstructionLimitExceeded(VMRuntimeError):
    """The program executed more instructions than its budget allows."""


class HelperError(VMRuntimeError):
    """A helper call failed (unknown helper, or the helper rejected its arguments)."""


class VerifierError(PyBPFError):
    """A program the verifier refused, on either backend (pybpf's verifier, or the
    kernel's: pybpf.kernel.KernelVerifierError derives from it too). `log` is the
    verifier log, `pc` the instruction of the first error (None if unknown), `error` the
    kernel's wording of that error line."""

    def __init__(self, error: str, pc: int | None = None, log: str = "", *,
                 source: Any = None, path: tuple[Any, ...] = ()) -> None:
        # `source`: the source line of insn `pc` from BTF line info (.file .line .text),
        # `path`: the branch decisions that reached it ((insn, taken) each), when known
        self.error = error
        self.pc = pc
        self.log = log
        self.source = source
        self.line: int | None = getattr(source, "line", None)
        self.path = path
        where = f" at insn {pc}" if pc is not None else ""
        at = f"\n  at {source}" if source is not None else ""
        super().__init__(f"verifier refused the program{where}: {error}{at}")
