"""ObjectSpec and its parts, kept under their first name: they live in pybpf.spec."""

from __future__ import annotations

from ..spec import (CoreRelo, ExternRef, FuncInfo, GlobalVar, LineInfo, MapRef, ObjectSpec,
                    ProgramSpec, ProgramTypeError, program_type)

__all__ = ["CoreRelo", "ExternRef", "FuncInfo", "GlobalVar", "LineInfo", "MapRef", "ObjectSpec",
           "ProgramSpec", "ProgramTypeError", "program_type"]
