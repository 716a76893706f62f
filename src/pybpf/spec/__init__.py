"""The Spec layer: an object as data (ObjectSpec, ProgramSpec, maps, globals, BTF),
what every front end produces (pybpf.elf from bytes, pybpf.builder from Python) and
every backend instantiates. Deterministic and machine-independent; it sits below the
front ends and the objects layer, so both import it and neither imports the other."""

from __future__ import annotations

from .objectspec import (
                         CoreRelo,
                         ExternRef,
                         FuncInfo,
                         GlobalVar,
                         LineInfo,
                         MapRef,
                         ObjectSpec,
                         ProgramSpec,
                         ProgramTypeError,
                         program_type,
)

__all__ = ["CoreRelo", "ExternRef", "FuncInfo", "GlobalVar", "LineInfo", "MapRef", "ObjectSpec",
           "ProgramSpec", "ProgramTypeError", "program_type"]
