"""BPF objects: the ObjectSpec read from an ELF file, and Objects instantiated from it
on a backend (the VM or the kernel)."""

from __future__ import annotations

from .spec import CoreRelo, ExternRef, FuncInfo, GlobalVar, LineInfo, MapRef, ObjectSpec, \
    ProgramSpec

__all__ = ["CoreRelo", "ExternRef", "FuncInfo", "GlobalVar", "LineInfo", "MapRef", "ObjectSpec",
           "ProgramSpec"]
