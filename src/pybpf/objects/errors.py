"""Errors of the objects layer: an object that cannot be instantiated, an attach the
backend cannot do, a global variable that cannot be set. Each message names what it is
about (the program, the map, the variable). The errors about a spec as data live in
pybpf.spec.errors (below the front ends) and are the same classes here."""

from __future__ import annotations

from ..spec.errors import (GlobalValueError, GlobalVarError, ObjectError, ReadOnlyGlobalError,
                           UnknownGlobalError, UnknownProgramTypeError)

__all__ = ["ObjectError", "UnknownProgramTypeError", "AttachNotSupportedError", "GlobalVarError",
           "UnknownGlobalError", "ReadOnlyGlobalError", "GlobalValueError"]


class AttachNotSupportedError(ObjectError):
    """An attach the program's backend or section cannot do (the VM has no kernel hooks;
    a socket filter needs a socket)."""
