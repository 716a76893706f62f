"""LLVM IR to native code with llvmlite (MCJIT, tiered by size), and the in-process cache of
compiled programs keyed by the program's bytes and the values its lddw resolve to."""

from __future__ import annotations

import ctypes
import functools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import isa
from ..cfg import ControlFlowGraph
from ..errors import PyBPFError
from .codegen import module_ir
from .fastcall import register_symbols
from .runtime_ir import RUNTIME_FNS


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


@dataclass(frozen=True)
class Tier:
    """How a program is compiled: memory checks in line or out of line, the LLVM
    passes ("full": the standard -O`opt` pipeline; "short": SROA, instcombine and CFG
    cleanup; "none") and the machine code level."""

    inline: bool
    passes: str  # "full", "short" or "none"
    opt: int
    codegen: int

    @property
    def name(self) -> str:
        return f"{'inline' if self.inline else 'outline'} {self.passes} -O{self.opt}, " \
               f"codegen -O{self.codegen}"


# Small programs (loops are where runs spend their time) get LLVM's standard -O2
# pipeline, whose loop passes (induction variables, exit counts, invariant loads out of
# loops) make budget-checked loops as fast as the kernel JIT's; it costs ~20 ms at 100
# instructions and grows fast. Mid-sized programs get a short pipeline and -O2 machine
# code with the checks in line. Big ones get the cheapest path: out-of-line accessors,
# no IR passes (-O0's fast register allocator keeps values in memory across blocks
# anyway, so promoting the register allocas buys little there) and -O0 machine code,
# whose fast instruction selection handles every instruction there (the accessors are
# called through a table of their addresses: it cannot make a direct call in the JIT's
# large code model); about 20-40 ms of CPU for 1,000 instructions.
FULL_MAX_INSNS = 128
O2_MAX_INSNS = 384

TIER_FULL = Tier(True, "full", 2, 2)
TIER_SHORT = Tier(True, "short", 2, 2)
TIER_FAST = Tier(False, "none", 0, 0)


def tier(insns: int, loops: bool = True) -> Tier:
    """The compilation tier of a program of `insns` slots (`loops`: whether it has a
    backward jump; without one the loop passes have nothing to do)."""
    if insns <= FULL_MAX_INSNS and loops:
        return TIER_FULL
    if insns <= O2_MAX_INSNS:
        return TIER_SHORT
    return TIER_FAST


def codegen_level(insns: int) -> int:
    """The machine code optimisation level for a program of `insns` slots."""
    return tier(insns).codegen


@dataclass(eq=False)
class NativeProgram:
    """A compiled program: its entry point (`entry(state_address) -> status`), the IR,
    and the engine that owns the code (kept alive as long as this object)."""

    entry: Callable[[int], int]
    address: int
    repeat: Callable[[int, int], int]  # @bpf_repeat(state, n): n runs in native code
    ir: str
    compile_ms: float
    tier: Tier
    _engine: Any = field(repr=False)
    _module: Any = field(repr=False)
    _runtime: Any = field(default=None, repr=False)  # the table the code calls through

    @property
    def level(self) -> int:
        """The machine code optimisation level."""
        return self.tier.codegen

    def _optimised(self) -> Any:
        """The IR optimised again in a module of its own (the engine owns the one it
        compiled): what `pybpf jit dump` prints."""
        llvm = _llvm()
        mod = llvm.parse_assembly(self.ir)
        _optimise(llvm, _target_machine(), mod, self.tier)
        return mod

    def assembly(self) -> str:
        """The native code as assembly (x86-64 AT&T syntax on this host)."""
        tm = _target_machine() if self.level == 2 else _new_target_machine(self.level)
        return str(tm.emit_assembly(self._optimised()))

    def optimized_ir(self) -> str:
        return str(self._optimised())


def _pass_builder(opt: int) -> Any:
    """A new pass builder (0.2 ms; not shared: compiles may run in several threads)."""
    llvm = _llvm()
    return llvm.create_pass_builder(_target_machine(),
                                    llvm.create_pipeline_tuning_options(speed_level=opt))


def _optimise(llvm: Any, tm: Any, mod: Any, t: Tier) -> None:
    """Run the tier's passes over `mod`."""
    pb = _pass_builder(t.opt)
    if t.passes == "full":
        pb.getModulePassManager().run(mod, pb)
        return
    mpm = llvm.create_new_module_pass_manager()
    if t.passes == "short":
        mpm.add_sroa_pass()
        mpm.add_instruction_combine_pass()
        mpm.add_simplify_cfg_pass()
    mpm.add_global_dead_code_eliminate_pass()  # the accessors nothing calls
    mpm.run(mod, pb)


def compile_ir(ir: str, t: Tier, runtime: Any = None) -> NativeProgram:
    """Optimise and compile a module whose entry is @bpf_main, as tier `t` says.
    `runtime`: the table of runtime function addresses the IR calls through (a ctypes
    array at the address the IR names; filled here, kept alive by the result)."""
    llvm = _llvm()
    tm = _target_machine()
    register_symbols(llvm)  # the C functions the helper fast paths call
    t0 = time.process_time()
    try:
        mod = llvm.parse_assembly(ir)
        mod.verify()
    except RuntimeError as e:  # a codegen bug, not the program's fault
        raise JitUnavailable(f"internal error: LLVM refused the generated IR: {e}") from None
    _optimise(llvm, tm, mod, t)
    engine = llvm.create_mcjit_compiler(mod, _new_target_machine(t.codegen))
    engine.finalize_object()
    if runtime is not None:
        for k, name in enumerate(RUNTIME_FNS):
            runtime[k] = engine.get_function_address(name)
        if not all(runtime):  # the calls through it would jump to 0
            raise JitUnavailable("internal error: a runtime function was not compiled")
    address = engine.get_function_address("bpf_main")
    ms = (time.process_time() - t0) * 1000  # CPU time: the host is shared
    repeat = REPEAT_TYPE(engine.get_function_address("bpf_repeat"))
    return NativeProgram(ENTRY_TYPE(address), address, repeat, ir, ms, t, engine, mod,
                         runtime)


def compile_program(cfg: ControlFlowGraph, lddw: dict[int, int],
                    t: Tier | None = None) -> NativeProgram:
    """A program's native code, at tier `t` (None: the tier its size gets)."""
    t = t or tier(cfg.total, has_loops(cfg))
    if t.inline:  # optimised: direct calls, inlined
        return compile_ir(module_ir(cfg, lddw, True), t)
    runtime = (ctypes.c_uint64 * len(RUNTIME_FNS))()
    return compile_ir(module_ir(cfg, lddw, False, ctypes.addressof(runtime)), t, runtime)


def has_loops(cfg: ControlFlowGraph) -> bool:
    """Whether any jump goes backward (a loop, or at least the start of one)."""
    for pc, insn in zip(cfg.pcs, cfg.insns):
        if isa.classify(insn) in _JUMPS:
            target = isa.jump_target(insn, pc)
            if target is not None and target <= pc:
                return True
    return False


_JUMPS = frozenset({isa.InsnKind.JA, isa.InsnKind.JCOND, isa.InsnKind.MAY_GOTO})


class JitCache:
    """Compiled programs by (bytes, lddw values): loading the same program with the
    same maps again reuses its native code. Least recently used beyond `size`.
    `tier`: compile every program at this tier (tests; None: by size)."""

    def __init__(self, size: int = 256, tier: Tier | None = None) -> None:
        self.size = size
        self.tier = tier
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
        native = compile_program(cfg, lddw, self.tier)
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
