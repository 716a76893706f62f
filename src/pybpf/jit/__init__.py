"""The LLVM JIT: eBPF bytecode compiled to native code with llvmlite, with the
interpreter's semantics and address model (pybpf.vm).

* `codegen`: BPF to LLVM IR (one function, registers promoted, frames explicit).
* `access`: loads and stores: direct into the frame, else bounds-checked against the
  region table, else Python.
* `runtime_ir`: the region table's check, out-of-line accessors, alias metadata.
* `native`: IR to machine code (MCJIT, tiered by program size) and the in-process cache.
* `machine`: `JitVM`, a VM whose runs are native; helpers, faults and the budget go
  through Python exactly as on the interpreter.
* `fastcall`, `fastcall_ir`: native fast paths for the hot helpers (map lookup,
  update and delete on arrays, the clocks, prandom, csum_diff), tried before the
  callback; `keyindex_ir`: the same on hash maps and LPM tries, over the maps' key
  index (pybpf.maps.keyindex).
* `batch`, `batch_ir`: batch runs: a packet program over a capture's records in one
  native call (the packet set up, the program called, the verdict counted natively).
* `auto`: `AutoVM`, the default engine: interpreter first, native once hot.
* `engine`: which engine ("auto", "interp", "jit") a VM program runs on.
* `layout`: the state, callback and status numbers codegen and runtime share, and
  the layout of the maps' key index native code probes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .machine import JitVM, run
    from .native import DEFAULT_CACHE, JitCache, JitUnavailable, NativeProgram, available

# Loaded when first named, so that the maps can import `layout` (the key index's
# contract) without the JIT's modules.
_LAZY = {"JitVM": "machine", "run": "machine", "DEFAULT_CACHE": "native",
         "JitCache": "native", "JitUnavailable": "native", "NativeProgram": "native",
         "available": "native"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = ["DEFAULT_CACHE", "JitCache", "JitUnavailable", "JitVM", "NativeProgram",
           "available", "run"]
