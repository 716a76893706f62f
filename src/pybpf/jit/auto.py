"""`AutoVM`, the "auto" engine: a program starts on the interpreter and moves to native
code once it is hot, as tiered JITs do (the JVM's, V8's): compiling costs 10-300 ms of
CPU, which a program run a few times never wins back.

Heat is counted in interpreted instructions: each finished run adds what it executed
plus RUN_UNITS (its fixed cost, in instructions' worth). Past `hot_units(size)` (about
what compiling a program of that size costs, at the interpreter's ~80 ns an
instruction) the program is compiled; a program whose code is already in the
process's cache moves at once. Then a trial: TRIAL_RUNS runs on each engine are timed
(CPU time), and the program stays native only when its median run is quicker (a short program whose
runs are mostly helper calls may run faster on the interpreter). Where llvmlite cannot
load, or LLVM fails on the program, it stays on the interpreter. Results do not depend
on when (or whether) the move happens: both engines have the same semantics."""

from __future__ import annotations

import statistics
import time
from typing import Any, Sequence

from ..errors import PyBPFError
from ..isa import Instruction
from ..vm import VM
from .machine import JIT_MAX_INSNS, JitVM
from .native import DEFAULT_CACHE, JitCache, JitUnavailable

RUN_UNITS = 64  # a run's fixed cost on the interpreter, in instructions' worth (~5 us)
HOT_BASE = 200_000  # instructions' worth of interpreting before any compile pays
HOT_PER_INSN = 2_000  # and per instruction slot of the program (compile time grows so)
TRIAL_RUNS = 32  # runs timed on each engine before the choice is final


def hot_units(insns: int) -> int:
    """Interpreted instructions after which a program of `insns` slots is compiled."""
    return HOT_BASE + HOT_PER_INSN * insns


class AutoVM(JitVM):
    """A VM on the interpreter that compiles itself once hot (see the module). `engine`
    says where it runs now: "interp", "trial" (timing both) or "jit"; `heat` is the
    count towards `hot`."""

    def __init__(self, program: bytes | Sequence[Instruction], *,
                 cache: JitCache | None = None, hot: int | None = None, **kw: Any) -> None:
        VM.__init__(self, program, **kw)
        self._interp = self._fn
        self.native = None
        self.bench_repeat = 0
        self.bench_ns = 0.0
        self._cache = cache or DEFAULT_CACHE
        self.heat = 0
        self.hot = hot if hot is not None else hot_units(self.cfg.total)
        self.engine = "interp"
        self._trial: tuple[list[int], list[int]] = ([], [])  # CPU ns a run: interp, native
        self._warm = False  # the trial's native runs are past the first
        self._key: tuple | None = None
        if self.cfg.total > JIT_MAX_INSNS:
            self.hot = -1  # never: as JitVM, such a program stays on the interpreter
            return
        try:
            self._key = self._cache_key()
        except PyBPFError:  # not reached: the translation resolved the same lddw
            self.hot = -1
            return
        if self._cache.peek(self._key[0], self._key[2]) is not None:
            self._promote()

    def _run(self, *args: Any, **kw: Any) -> tuple[int, int]:
        if self.engine == "trial":
            return self._trial_run(args, kw)
        r0, n = VM._run(self, *args, **kw)
        self.heat += n + RUN_UNITS
        # promote only between top-level runs (no run of this VM in progress)
        if self.heat >= self.hot >= 0 and self._idle_ctx is not None:
            self._promote()
        return r0, n

    def _promote(self) -> None:
        """Compile (or fetch from the cache) and start the trial."""
        assert self._key is not None
        try:
            native = self._cache.get(*self._key)
        except (JitUnavailable, PyBPFError):
            self.hot = -1  # no llvmlite here, or LLVM failed: the interpreter for good
            return
        self._go_native(native)
        self._fn = self._interp  # the trial starts on the interpreter
        self.engine = "trial"
        self._trial = ([], [])

    def _trial_run(self, args: tuple, kw: dict[str, Any]) -> tuple[int, int]:
        """One run of the trial: TRIAL_RUNS interpreted, one native run untimed (its
        first run makes what later runs reuse), then TRIAL_RUNS native; CPU time."""
        interp, native = self._trial
        on_native = len(interp) >= TRIAL_RUNS
        self._fn = self._run_native if on_native else self._interp
        t0 = time.thread_time_ns()
        try:
            return VM._run(self, *args, **kw)
        finally:
            spent = time.thread_time_ns() - t0
            if not on_native:
                interp.append(spent)
            elif self._warm:
                native.append(spent)
            self._warm = on_native
            if len(native) >= TRIAL_RUNS and self._idle_ctx is not None:
                self._decide()

    def _decide(self) -> None:
        """Native from now on when its median run is quicker (a median: a run the
        collector or the host's scheduler stretched does not decide), else the
        interpreter for good."""
        interp, native = self._trial
        if statistics.median(native) < statistics.median(interp):
            self._fn = self._run_native
            self.engine = "jit"
        else:
            self._fn = self._interp
            self.engine = "interp"
            self.hot = -1
        # from now on no counting: runs go straight to the chosen engine
        self._run = VM._run.__get__(self)  # type: ignore[method-assign]  # the plain one

    def run_native_now(self) -> None:
        """Compile now and run native from now on, with no trial (tests, benchmarks)."""
        if self._key is None:
            return
        self._promote()
        if self.engine == "trial":
            self._fn = self._run_native
            self.engine = "jit"
            self._run = VM._run.__get__(self)  # type: ignore[method-assign]  # no counting now


__all__ = ["HOT_BASE", "HOT_PER_INSN", "RUN_UNITS", "TRIAL_RUNS", "AutoVM", "hot_units"]
