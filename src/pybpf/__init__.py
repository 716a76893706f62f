"""pybpf: the eBPF platform in Python.

The stable entry points: `assemble`, `disassemble` and `run`. The layers beneath
(`isa`, `asm`, `vm`, `helpers`, `kernel`) are importable on their own.
"""

from __future__ import annotations

from .errors import (AsmError, BytecodeError, InvalidInstruction, InvalidProgram,
                     MemoryAccessError, PyBPFError, RunError, VerifierError, VMRuntimeError)

TYPE_CHECKING = False  # as typing's, without importing typing (and re) at import time
if TYPE_CHECKING:
    from .maps import MapSpec
    from .spec import ObjectSpec

__version__ = "0.1.0"


def assemble(text: str, syntax: str = "kernel") -> bytes:
    """Assemble text in the kernel's syntax (default) or the conformance syntax."""
    from .asm import assemble as _assemble
    return _assemble(text, syntax=syntax)


def disassemble(code: bytes, syntax: str = "kernel") -> str:
    """Disassemble bytecode, one instruction a line."""
    from .asm import disassemble as _disassemble
    return _disassemble(code, syntax=syntax)


def load(path: "str | bytes") -> "ObjectSpec":
    """Read a BPF ELF object (clang -target bpf, libbpf conventions) into an ObjectSpec;
    `spec.instantiate(backend)` then gives an Object on the VM or in the kernel."""
    from .elf import load as _load
    return _load(path)


def run(code: "bytes | str", mem: bytes | None = None, *, backend: str = "vm",
        syntax: str | None = None, verify: bool = False,
        prog_type: "int | str" = "socket_filter", engine: str | None = None) -> int:
    """Run a program with r1 = pointer to a copy of `mem` and r2 = len(mem)
    (r1 = r2 = 0 without mem); returns r0 as an unsigned 64-bit int.

    `code` is bytecode (bytes-like) or assembly text (str, in `syntax`: "kernel" or
    "conformance", detected from the text when None); anything else is a TypeError.
    backend "vm" is the interpreter; "kernel" runs the same bytes through
    BPF_PROG_TEST_RUN and returns the full 64-bit r0.

    The instruction-set entry point (the conformance vectors' semantics) runs unverified;
    `verify=True` first runs pybpf's verifier on the program as one of `prog_type` (a
    ProgType or its name; r1 is that type's context to the verifier) and raises
    VerifierError (.log .pc .error) if it refuses. `engine` ("auto", "interp" or "jit",
    the VM only) chooses how the VM runs it (default "auto", pybpf.jit.engine: for one
    run that is the interpreter; "jit" compiles it first)."""
    code = _bytecode(code, syntax)
    if verify:
        from .isa import decode
        from .uapi import ProgType
        from .verifier import verify as _verify
        if isinstance(prog_type, str):
            key = prog_type.upper().removeprefix("BPF_PROG_TYPE_")
            if key not in ProgType.__members__:
                raise ValueError(f"pybpf.run: unknown program type {prog_type!r}")
            prog_type = ProgType[key]
        result = _verify(decode(code), prog_type, log_level=1)
        result.raise_for_refusal()
    if mem is not None and not isinstance(mem, (bytes, bytearray, memoryview)):
        raise TypeError(f"pybpf.run: mem must be bytes, not {type(mem).__name__}")
    from .backend import get_backend
    if engine is not None:
        if backend != "vm":
            raise ValueError(f"pybpf.run: engine= chooses how the VM runs a program; the "
                             f"{backend} backend has its own")
        from .objects.vmbackend import VMBackend
        return VMBackend().run_raw(code, mem, engine=engine)
    return get_backend(backend).run_raw(code, mem)


def _bytecode(code: object, syntax: str | None) -> bytes:
    """Bytecode from what run() takes: bytes as they are, text assembled."""
    if isinstance(code, str):
        return assemble(code, syntax or ("conformance" if "%r" in code else "kernel"))
    if isinstance(code, (bytes, bytearray, memoryview)):
        return bytes(code)
    from .isa import Instruction
    if isinstance(code, (list, tuple)) and code and \
            all(isinstance(i, Instruction) for i in code):
        from .isa import encode
        return encode(list(code))
    raise TypeError(f"pybpf.run takes bytecode (bytes) or assembly text (str), not "
                    f"{type(code).__name__}; an object file is run with "
                    "pybpf.load(path).instantiate() or `pybpf run FILE.o`")


def __getattr__(name: str) -> object:
    """What is imported when first asked for, so `import pybpf` stays light: ObjectSpec
    and MapSpec (the spec layer, with the uapi tables), the front ends BPF (BCC-style),
    compile_c and compile_python (restricted Python to an ObjectSpec)."""
    if name == "ObjectSpec":
        from .spec import ObjectSpec
        return ObjectSpec
    if name == "MapSpec":
        from .maps import MapSpec
        return MapSpec
    if name == "BPF":
        from .bcc import BPF
        return BPF
    if name == "compile_c":
        from .frontend.c import compile_c
        return compile_c
    if name == "compile_python":
        from .frontend.python import compile_program
        return compile_program
    raise AttributeError(f"module 'pybpf' has no attribute {name!r}")


__all__ = ["load", "ObjectSpec", "assemble", "disassemble", "run", "PyBPFError", "AsmError",
           "BytecodeError", "InvalidInstruction", "InvalidProgram", "RunError", "VMRuntimeError",
           "MemoryAccessError", "MapSpec", "VerifierError"]
