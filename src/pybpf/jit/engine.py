"""Which engine runs a VM program: "auto" (the default: the interpreter first, native
code once the program is hot, pybpf.jit.auto), "interp" (pybpf.vm's translation to
Python) or "jit" (pybpf.jit's native code from the first run). One place decides, so
the API, the object loader and the CLI agree."""

from __future__ import annotations

from typing import Any

from ..errors import PyBPFError
from ..vm import VM

ENGINES = ("auto", "interp", "jit")
# "auto" rather than "jit": compiling costs 10-300 ms of CPU a program, which a program
# loaded to run once (a test, one packet) never wins back; "auto" compiles what runs
# enough for it to pay, and stays on the interpreter where llvmlite does not load.
DEFAULT_ENGINE = "auto"


class EngineError(PyBPFError):
    """An engine name that is not one of ENGINES."""


def resolve(engine: str | None) -> str:
    """The engine `engine` names (None: the default)."""
    if engine is None:
        return DEFAULT_ENGINE
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    return engine


def vm_class(engine: str | None) -> type[VM]:
    """The VM class of an engine: JitVM for "jit" (JitUnavailable where llvmlite does
    not load), AutoVM for "auto" (which loads llvmlite only once a program is hot, and
    stays on the interpreter without it), VM for "interp"."""
    name = resolve(engine)
    if name == "jit":
        from .machine import JitVM
        from .native import _target_machine
        _target_machine()  # JitUnavailable, clearly, before anything is loaded
        return JitVM
    if name == "auto":
        from .auto import AutoVM
        return AutoVM
    return VM


def make_vm(code: Any, *, engine: str | None = None, **kw: Any) -> VM:
    """A loaded program on the chosen engine (the arguments are VM's)."""
    return vm_class(engine)(code, **kw)


def run(code: bytes, mem: bytes | None = None, *, engine: str | None = None,
        **kw: Any) -> int:
    """pybpf.vm.run on the chosen engine ("auto" is the interpreter here: one run is
    never hot)."""
    if resolve(engine) == "jit":
        from .machine import run as jit_run
        vm_class("jit")
        return jit_run(code, mem, **kw)
    from ..vm import run as vm_run
    return vm_run(code, mem, **kw)
