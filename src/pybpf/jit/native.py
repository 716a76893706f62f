"""LLVM IR to native code with llvmlite (MCJIT, -O2), and the in-process cache of
compiled programs keyed by the program's bytes and the values its lddw resolve to."""

from __future__ import annotations

import ctypes
import functools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from ..cfg import ControlFlowGraph
from ..errors import PyBPFError
from .codegen import module_ir
from .fastcall import register_symbols


class JitUnavailable(PyBPFError):
    """llvmlite cannot produce native code on this host."""


ENTRY_TYPE = ctypes.PYFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)  # keeps the GIL
REPEAT_TYPE = ctypes.PYFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)


@functools.lru_cache(maxsize=1)
def _llvm() -> Any:
    try:
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
    except (ImportError, RuntimeError, OSError) as e:
        raise JitUnavailable(f"llvmlite cannot load: {e}") from None
    return llvm


def _new_target_machine(level: int = 2) -> Any:
    llvm = _llvm()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(opt=level, jit=True)


@functools.lru_cache(maxsize=1)
def _target_machine() -> Any:
    """The host's target machine for optimising and printing (never given to an
    engine: an MCJIT engine owns and frees the one it is created with)."""
    return _new_target_machine()


def available() -> bool:
    """Whether the JIT works here (llvmlite loads and targets this host)."""
    try:
        _target_machine()
    except JitUnavailable:
        return False
    return True


@dataclass(eq=False)
class NativeProgram:
    """A compiled program: its entry point (`entry(state_address) -> status`), the IR,
    and the engine that owns the code (kept alive as long as this object)."""

    entry: Callable[[int], int]
    address: int
    repeat: Callable[[int, int], int]  # @bpf_repeat(state, n): n runs in native code
    ir: str
    compile_ms: float
    level: int
    _engine: Any = field(repr=False)
    _module: Any = field(repr=False)

    def _optimised(self) -> Any:
        """The IR optimised again in a module of its own (the engine owns the one it
        compiled): what `pybpf jit dump` prints."""
        llvm = _llvm()
        mod = llvm.parse_assembly(self.ir)
        _optimise(llvm, _target_machine(), mod, self.level)
        return mod

    def assembly(self) -> str:
        """The native code as assembly (x86-64 AT&T syntax on this host)."""
        tm = _target_machine() if self.level == 2 else _new_target_machine(self.level)
        return str(tm.emit_assembly(self._optimised()))

    def optimized_ir(self) -> str:
        return str(self._optimised())


def _optimise(llvm: Any, tm: Any, mod: Any, level: int = 2) -> None:
    """A short pipeline rather than -O2's: inline the memory accessors, promote the
    register allocas (SROA), tidy the control flow and (at level 2) fold. -O2's full
    pipeline costs 5-10x the time on branchy programs for little gain on BPF code."""
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
    mpm = llvm.create_new_module_pass_manager()
    mpm.add_always_inliner_pass()
    mpm.add_sroa_pass()
    if level >= 2:
        mpm.add_instruction_combine_pass()
    mpm.add_simplify_cfg_pass()
    mpm.add_global_dead_code_eliminate_pass()  # the accessors, inlined everywhere
    mpm.run(mod, pb)


# Machine code generation at -O2 costs ~0.3 ms of CPU an instruction (instruction
# selection and the greedy register allocator); past this size the fast path (-O0:
# fast instruction selection and register allocation, ~10x quicker) is used, as a big
# program's compile time would otherwise outweigh its runs.
O2_MAX_INSNS = 512


def codegen_level(insns: int) -> int:
    """The machine code optimisation level for a program of `insns` slots."""
    return 2 if insns <= O2_MAX_INSNS else 0


def compile_ir(ir: str, level: int = 2) -> NativeProgram:
    """Optimise and compile a module whose entry is @bpf_main (machine code at -O`level`)."""
    llvm = _llvm()
    tm = _target_machine()
    register_symbols(llvm)  # the C functions the helper fast paths call
    t0 = time.process_time()
    try:
        mod = llvm.parse_assembly(ir)
        mod.verify()
    except RuntimeError as e:  # a codegen bug, not the program's fault
        raise JitUnavailable(f"internal error: LLVM refused the generated IR: {e}") from None
    _optimise(llvm, tm, mod, level)
    engine = llvm.create_mcjit_compiler(mod, _new_target_machine(level))
    engine.finalize_object()
    address = engine.get_function_address("bpf_main")
    ms = (time.process_time() - t0) * 1000  # CPU time: the host is shared
    repeat = REPEAT_TYPE(engine.get_function_address("bpf_repeat"))
    return NativeProgram(ENTRY_TYPE(address), address, repeat, ir, ms, level, engine, mod)


class JitCache:
    """Compiled programs by (bytes, lddw values): loading the same program with the
    same maps again reuses its native code. Least recently used beyond `size`."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, NativeProgram] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def peek(self, code: bytes, lddw: dict[int, int]) -> NativeProgram | None:
        """The compiled program if it is here (nothing is compiled)."""
        with self._lock:
            return self._entries.get((code, tuple(sorted(lddw.items()))))

    def get(self, code: bytes, cfg: ControlFlowGraph, lddw: dict[int, int]) -> NativeProgram:
        key = (code, tuple(sorted(lddw.items())))
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit
        native = compile_ir(module_ir(cfg, lddw), codegen_level(cfg.total))
        with self._lock:
            self.misses += 1
            self._entries[key] = native
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return native

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


DEFAULT_CACHE = JitCache()  # the process's compiled code (as the kernel keeps JITed images)
