"""Errors of the instruction builder: a bad operand when an instruction is made, or a
reference (label, map, function, helper) that cannot be resolved when the object is
linked. Each names the program or function and, where known, the Python source line
of the instruction."""

from __future__ import annotations

from ..errors import PyBPFError


class BuilderError(PyBPFError, ValueError):
    """A builder call that cannot make a valid instruction or object."""


class OperandError(BuilderError):
    """An operand of the wrong kind or out of range (a register, size, immediate, offset)."""


class UndefinedLabelError(BuilderError):
    """A jump to a label that its function does not define."""


class DuplicateLabelError(BuilderError):
    """A label defined twice in one function."""


class UndefinedMapError(BuilderError):
    """An instruction refers to a map the object does not define."""


class UndefinedFunctionError(BuilderError):
    """A call of a sub-program (or a tail-call slot naming a program) that does not exist."""


class UnknownHelperError(BuilderError):
    """A helper call by a name that is no kernel helper."""


class JumpRangeError(BuilderError):
    """A jump or call whose offset does not fit its instruction's field."""
