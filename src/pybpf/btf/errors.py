"""The BTF layer's exceptions. Everything pybpf.btf raises on bad input is a BTFError, so a
hostile blob can never surface as IndexError, struct.error or RecursionError."""

from __future__ import annotations

from ..errors import PyBPFError


class BTFError(PyBPFError):
    """Malformed BTF or .BTF.ext, a type id or name that does not resolve, or a value that
    does not fit its type. The message names what is wrong and where (type id, offset)."""


class CoreError(BTFError):
    """A CO-RE relocation that cannot be computed at all: a malformed access string, a
    relocation kind that does not apply to its type, or ambiguous candidates. (A field or
    type that merely does not exist in the target is a result, not an error.)"""


class PatchError(CoreError):
    """An instruction that does not have the form a CO-RE relocation expects, or whose
    field cannot hold the relocated value."""

    def __init__(self, insn_idx: int, reason: str) -> None:
        self.insn_idx = insn_idx
        self.reason = reason
        super().__init__(f"insn #{insn_idx}: {reason}")
