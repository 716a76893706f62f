"""BPF objects: the ObjectSpec read from an ELF file, and Objects instantiated from it
on a backend (the VM or the kernel).

* `spec`: ObjectSpec and ProgramSpec under their first name; they live in pybpf.spec
  (pure data, below the front ends).
* `instance`: instantiate() and Object/Program, shared by both backends, which it asks
  (pybpf.backend.Backend) instead of naming them.
* `vmbackend`, `kernelbackend`: the two Backends (how a map is made, a program
  loaded, printk and perf output read); neither imports the other side.
"""

from __future__ import annotations

from ..spec import CoreRelo, ExternRef, FuncInfo, GlobalVar, LineInfo, MapRef, ObjectSpec, \
    ProgramSpec

__all__ = ["CoreRelo", "ExternRef", "FuncInfo", "GlobalVar", "LineInfo", "MapRef", "ObjectSpec",
           "ProgramSpec"]
