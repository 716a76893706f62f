"""Errors about an object as data: a program whose type is unknown, a global variable
that does not exist or a value that does not fit it. The objects layer re-exports them
(pybpf.objects.errors) beside its own, so one ObjectError covers a spec and an Object."""

from __future__ import annotations

from ..errors import PyBPFError


class ObjectError(PyBPFError):
    """An object that cannot be instantiated (an unresolvable reference, an unsupported
    construct, a pinned map that cannot be reused); the message names it."""


class UnknownProgramTypeError(ObjectError):
    """A program whose section is no known SEC() name and whose type was not set."""


class GlobalVarError(ObjectError):
    """A global variable that does not exist, or a value that does not fit it; `name` is
    the variable. The unknown-name error is also a KeyError, the bad-value one a
    ValueError, as they were before this class."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownGlobalError(GlobalVarError, KeyError):
    """No global variable of that name."""


class ReadOnlyGlobalError(GlobalVarError, PermissionError):
    """A `.rodata`/`.kconfig` variable written after the object was loaded."""


class GlobalValueError(GlobalVarError, ValueError):
    """A value of the wrong size, or an int that does not fit the variable."""
