"""The machine: a loaded program (`VM`) that runs its translation (pybpf.vm.translate)
over a Memory (pybpf.vm.memory) with a stack per call frame, a budget of instructions
(helper work counted too, `CallContext.charge`) and the helpers of a registry
(pybpf.helpers)."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from .. import isa
from ..check import check_program
from ..errors import InstructionLimitExceeded, VMRuntimeError
from ..helpers import HelperRegistry, TracePipe, default_helpers, seeded_rng
from ..isa import M32, M64, MAX_BPF_STACK, MAX_CALL_FRAMES, Instruction
from .memory import CODE_SEGMENT, Memory, check_region_size
from .translate import CORE_POISON_HELPER, _Translator

DEFAULT_INSN_BUDGET = 1_000_000
_PROG_IDS = itertools.count(1)  # process-wide, as the kernel's program ids


@dataclass
class CallContext:
    """What helpers see of the running program (see helpers.HelperContext)."""

    memory: Memory
    rng: random.Random
    pc: int = -1
    vm: "VM | None" = None
    tail_calls: int = 0
    n: int = 0  # instructions executed when the current helper was called, plus its charges
    budget: int = DEFAULT_INSN_BUDGET
    host_task: object = None  # the calling thread as a Task, made once a run (task_of)

    def charge(self, units: int) -> None:
        """Count `units` instructions' worth of helper work against the run's budget
        (before the work is done): InstructionLimitExceeded at the call's pc once the
        budget is exhausted."""
        self.n += units
        if self.n > self.budget:
            raise InstructionLimitExceeded(
                self.pc, f"instruction budget of {self.budget} exhausted (in a helper)")


@dataclass(frozen=True)
class RunResult:
    r0: int
    executed: int  # instructions executed, plus the work helpers were charged (helpers.charge)



class VM:
    """A loaded program on the interpreter: decoded, checked and translated once, then
    run any number of times with `execute`.

    `maps` (a pybpf.maps.MapTable, or an iterable of VM maps) are the maps the program
    names in `lddw map_fd(N)` / `map_value(N, off)`: each such lddw is resolved once,
    here, to the map's pointer or value address (InvalidProgram for an fd the table does
    not hold), and every run adds the maps' memory to its Memory as `map:<name>`
    regions. `id` is a process-wide program id (what a prog_array lookup reports)."""

    def __init__(self, program: bytes | Sequence[Instruction], *,
                 helpers: HelperRegistry | None = None,
                 insn_budget: int = DEFAULT_INSN_BUDGET,
                 max_insns: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
                 lddw_resolver: Callable[[Instruction], int] | None = None,
                 check_helpers: bool = True,
                 maps: object = None) -> None:
        self.id = next(_PROG_IDS)
        self.trace_pipe = TracePipe()  # what bpf_trace_printk wrote (bounded as the ring)
        # the time bpf_ktime_get_ns & co. return (None: the host's monotonic clock)
        self.clock_ns: Callable[[], int] | None = None
        # the task the program runs in (pybpf.progtypes.task.Task: ids, comm, the memory
        # probe helpers read); None: the calling host thread, with no readable memory
        self.task: object | None = None
        self.maps = _map_table(maps)
        if lddw_resolver is None and self.maps is not None:
            lddw_resolver = self.maps.resolve_lddw
        self.helpers = helpers if helpers is not None else default_helpers()
        if isinstance(program, (bytes, bytearray, memoryview)):
            insns = isa.decode(program)
        else:
            insns = list(program)
            for pc, insn in zip(isa.slot_offsets(insns), insns):
                isa.validate(insn, pc)
        helper_ids = (frozenset(self.helpers) | {CORE_POISON_HELPER}) if check_helpers \
            else None
        self.cfg = check_program(insns, max_insns=max_insns, helper_ids=helper_ids)
        self.insns = insns
        self.insn_budget = insn_budget
        self.lddw_resolver = lddw_resolver
        self._func_starts = self.cfg.call_targets  # where callx and callbacks may go
        self._translator = _Translator(self.cfg, self)
        self._fn = self._translator.compile()

    @property
    def source(self) -> str:
        """The Python the program was translated into (made again on each read: a big
        program's source is not kept)."""
        return self._translator.source()

    def execute(self, memory: Memory | None = None, r1: int = 0, r2: int = 0, r3: int = 0,
                r4: int = 0, r5: int = 0, *, rng: random.Random | None = None) -> RunResult:
        """Run once with the given argument registers. Stacks are added to `memory`
        (or a new one) for this run."""
        if memory is None:
            memory = Memory()
        added = []
        if self.maps is not None:
            for region in self.maps.prepare():
                seg = region.base >> 32
                if seg not in memory.regions:
                    memory.regions[seg] = region
                    added.append(seg)
        stacks = [memory.map(f"stack[{i}]", bytearray(MAX_BPF_STACK))
                  for i in range(MAX_CALL_FRAMES)]
        stack_tops = tuple(s.end for s in stacks)
        ctx = CallContext(memory, rng or seeded_rng(), vm=self, budget=self.insn_budget)
        try:
            r0, n = self._fn(ctx, memory, stack_tops, r1 & M64, r2 & M64, r3 & M64, r4 & M64,
                             r5 & M64, self.insn_budget)
        finally:
            for s in stacks:
                del memory.regions[s.base >> 32]
            for seg in added:
                del memory.regions[seg]
        return RunResult(r0, n)

    def call_function(self, ctx: CallContext, memory: Memory, stack_tops: tuple,
                      target: int, args: tuple[int, int, int, int, int], executed: int,
                      budget: int) -> tuple[int, int]:
        """Run the program's function at code address `target` (from lddw
        BPF_PSEUDO_FUNC) with r1-r5 = `args` on the frames whose stack tops are given;
        returns (r0, executed so far). For helpers that call back into the program."""
        tpc = (target & M32) // 8
        if target >> 32 != CODE_SEGMENT or target & 7 or tpc not in self._func_starts:
            raise VMRuntimeError(ctx.pc, f"callback {target:#x} is not a function start")
        if not stack_tops:
            raise VMRuntimeError(ctx.pc, f"call depth exceeds {MAX_CALL_FRAMES} frames")
        return self._fn(ctx, memory, stack_tops, *(a & M64 for a in args), budget, tpc,
                        executed)

    def tail_called(self, ctx: CallContext, memory: Memory, stack_tops: tuple, r1: int,
                    executed: int, budget: int) -> tuple[int, int]:
        """Run this program from its start in place of the caller (bpf_tail_call): same
        frames, r1 and budget, this program's maps added to `memory` for the call and
        `ctx.vm` this VM meanwhile; returns (r0, executed so far)."""
        added = []
        if self.maps is not None:
            for region in self.maps.prepare():
                seg = region.base >> 32
                if seg not in memory.regions:
                    memory.regions[seg] = region
                    added.append(seg)
        caller = ctx.vm
        ctx.vm = self
        try:
            return self._fn(ctx, memory, stack_tops, r1, 0, 0, 0, 0, budget, 0, executed)
        finally:
            ctx.vm = caller
            for seg in added:
                del memory.regions[seg]


@runtime_checkable
class MapTableLike(Protocol):
    """What the VM asks of its maps (pybpf.maps.MapTable is the implementation)."""

    def resolve_lddw(self, insn: Instruction) -> int: ...

    def prepare(self) -> list[Any]: ...

    def by_pointer(self, ptr: int) -> Any: ...


def _map_table(maps: object) -> MapTableLike | None:
    """The map table of `maps`: a table as it is, an iterable of VM maps made into a
    pybpf.maps.MapTable (the one place the VM names the maps layer: a caller's list
    becomes a table there), or None."""
    if maps is None:
        return None
    if isinstance(maps, MapTableLike):
        return maps
    from ..maps.table import MapTable  # importgraph: facade
    return MapTable(maps)  # type: ignore[arg-type]  # any iterable; MapTable checks each map



def run(code: bytes, mem: bytes | None = None, *, helpers: HelperRegistry | None = None,
        insn_budget: int = DEFAULT_INSN_BUDGET, max_insns: int | None = None) -> int:
    """Run bytecode on the interpreter with r1 = pointer to a copy of `mem` and r2 = its
    length (both 0 without mem); returns r0 as an unsigned 64-bit int."""
    vm = VM(code, helpers=helpers, insn_budget=insn_budget,
            max_insns=max_insns or isa.BPF_COMPLEXITY_LIMIT_INSNS)
    memory = Memory()
    r1 = r2 = 0
    if mem is not None:
        check_region_size("mem", len(mem))
        region = memory.map("mem", bytearray(mem))
        memory.packet = region
        r1, r2 = (region.base, len(mem)) if len(mem) else (0, 0)
    return vm.execute(memory, r1, r2).r0
