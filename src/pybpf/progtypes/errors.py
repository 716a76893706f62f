"""Errors of the program-type layer: invalid context accesses (a VM run fails where the
kernel's verifier would have refused the load) and BPF_PROG_TEST_RUN rejections, which
carry the errno the kernel answers so callers can compare the two backends."""

from __future__ import annotations

import os

from ..errors import ENOTSUPP, MemoryAccessError, PyBPFError, RunError, errno_name

class ProgTypeError(PyBPFError):
    """Base of the errors of pybpf.progtypes."""


class UnsupportedProgType(ProgTypeError):
    """The program type has no model on the VM (yet)."""


class ContextAccessError(MemoryAccessError):
    """A load or store of a program context that the kernel's verifier would reject
    (a field the program type may not read or write, a bad size or alignment)."""

    def __init__(self, pc: int, kind: str, addr: int, size: int, region: str,
                 offset: int, reason: str) -> None:
        self.offset = offset
        self.reason_text = reason
        super().__init__(pc, kind, addr, size, region, f"ctx offset {offset}: {reason}")


class TestRunError(ProgTypeError, RunError):
    """BPF_PROG_TEST_RUN refused the run (or its output did not fit); `errno` is what the
    kernel answers for the same arguments. `result` is the partial result for ENOSPC.
    A RunError, as the kernel's refusals (kernel.KernelTestRunError) are."""

    __test__ = False  # not a pytest class

    def __init__(self, err: int, reason: str, result: object | None = None) -> None:
        self.errno = err
        self.reason = reason
        self.result = result
        text = "Operation not supported" if err == ENOTSUPP else os.strerror(err)
        super().__init__(f"test_run: {text} ({errno_name(err)}): {reason}")

    @property
    def errno_name(self) -> str:
        return errno_name(self.errno)
