"""The machine: a loaded program (`VM`) that runs its translation (pybpf.vm.translate)
over a Memory (pybpf.vm.memory) with a stack per call frame, a budget of instructions
(helper work counted too, `CallContext.charge`) and the helpers of a registry
(pybpf.helpers)."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Protocol, Sequence, runtime_checkable

from .. import isa
from ..check import check_program
from ..errors import InstructionLimitExceeded, VMRuntimeError
from ..helpers import HelperRegistry, TracePipe, default_helpers, seeded_rng
from ..isa import M32, M64, MAX_BPF_STACK, MAX_CALL_FRAMES, Instruction
from .memory import CODE_SEGMENT, SEGMENT_HALF, Memory, Region, check_region_size
from .translate import CORE_POISON_HELPER, _Translator

DEFAULT_INSN_BUDGET = 1_000_000
_PROG_IDS = itertools.count(1)  # process-wide, as the kernel's program ids
_NO_MEMORY = Memory()  # what an idle CallContext points at (never run on, never mapped)


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


class RunResult(NamedTuple):
    """What one run ended with (a named tuple: made on every run, so made cheaply)."""

    r0: int
    executed: int  # instructions executed, plus the work helpers were charged (helpers.charge)


_run_result = tuple.__new__  # RunResult from _run's pair, without its __new__'s frame


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
        self.printk_buf = bytearray(1024)  # bpf_trace_printk's last output (per-CPU buffer)
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
        # What every run reuses, made here once: the prandom source, the stacks of all
        # call frames (one buffer, a region per frame, zeroed at the start of each run),
        # their regions by segment, the maps' regions (None: mounted at each run, as
        # maps of maps change what is mounted) and an idle CallContext.
        self.rng = seeded_rng()
        self._frames = self._frames_needed()
        self._stacks = bytearray(MAX_BPF_STACK * self._frames)
        self._zero_stacks = bytes(len(self._stacks))
        view = memoryview(self._stacks)
        self._stack_views = tuple(view[i * MAX_BPF_STACK:(i + 1) * MAX_BPF_STACK]
                                  for i in range(self._frames))
        self._stack_mounts: dict[int, tuple[tuple[Region, ...], tuple[int, ...],
                                            tuple[int, ...]]] = {}
        self._map_regions = self._static_map_regions()
        self._idle_ctx: CallContext | None = CallContext(_NO_MEMORY, self.rng, vm=self)
        # what the program-type layer keeps for this program's runs (pybpf.progtypes:
        # the XDP page, context and bound memory), made at the first run that needs it
        self.run_cache: dict[object, object] = {}

    @property
    def source(self) -> str:
        """The Python the program was translated into (made again on each read: a big
        program's source is not kept)."""
        return self._translator.source()

    def _static_map_regions(self) -> tuple[Region, ...] | None:
        """The maps' regions, mounted the same way at every run: None when a map holds
        other maps (what is mounted then follows the maps' contents, read at each run)."""
        if self.maps is None:
            return ()
        try:
            maps = list(self.maps)  # type: ignore[call-overload]  # a MapTable iterates
        except TypeError:
            return None
        if any(hasattr(m, "inner") for m in maps):  # maps of maps (their `inner` lookup)
            return None
        return tuple(self.maps.prepare())

    def _add_map_regions(self, memory: Memory) -> list[int]:
        """Put this program's map regions into `memory` where their segment is free;
        returns the segments added, for the caller to remove after the run."""
        added = []
        regions = memory.regions
        maps: Sequence[Region] | None = self._map_regions
        if maps is None:
            assert self.maps is not None
            maps = self.maps.prepare()
        for region in maps:
            seg = region.base >> 32
            if seg not in regions:
                regions[seg] = region
                added.append(seg)
        return added

    def _frames_needed(self) -> int:
        """How many call frames a run can reach: one for a program that makes no local
        call (no call to a subprogram, no callx, no function address, no helper that
        runs program code: bpf_loop, tail calls, ...), else MAX_CALL_FRAMES."""
        for insn in self.insns:
            if insn.opcode == isa.OPCODE_CALL:
                if insn.src != 0:
                    return MAX_CALL_FRAMES
                helper = self.helpers.get(insn.imm)
                if helper is not None and helper.frame:
                    return MAX_CALL_FRAMES
            elif insn.opcode == isa.OPCODE_CALLX or (
                    insn.opcode == isa.OPCODE_LDDW and insn.src == isa.BPF_PSEUDO_FUNC):
                return MAX_CALL_FRAMES
        return 1

    def _stack_regions(self, regions: dict[int, Region], fresh: bool
                       ) -> tuple[tuple[Region, ...], tuple[int, ...]]:
        """The call frames' stack regions at the segments Memory.map would give them
        next in `regions` (so addresses do not depend on reuse), and their tops: this
        VM's stack buffer (made once), or with `fresh` new buffers (a run inside a run
        of the same VM)."""
        seg = len(regions) + 1
        if not fresh:
            mount = self._stack_mounts.get(seg)
            if mount is not None and regions.keys().isdisjoint(mount[2]):
                return mount[0], mount[1]
        frames = self._frames
        segs = range(seg, seg + frames)
        if CODE_SEGMENT in segs or not regions.keys().isdisjoint(segs):
            taken = set(regions)
            out = []
            for _ in range(frames):
                s = len(taken) + 1
                while s in taken or s == CODE_SEGMENT:
                    s += 1
                taken.add(s)
                out.append(s)
            segs = range(0)
            stacks = tuple(Region(f"stack[{i}]", (s << 32) + SEGMENT_HALF,
                                  bytearray(MAX_BPF_STACK) if fresh else self._stack_views[i])
                           for i, s in enumerate(out))
            return stacks, tuple(r.end for r in stacks)
        stacks = tuple(Region(f"stack[{i}]", (s << 32) + SEGMENT_HALF,
                              bytearray(MAX_BPF_STACK) if fresh else self._stack_views[i])
                       for i, s in enumerate(segs))
        tops = tuple(r.end for r in stacks)
        if not fresh and len(self._stack_mounts) < 64:
            self._stack_mounts[seg] = (stacks, tops, tuple(segs))
        return stacks, tops

    def execute(self, memory: Memory | None = None, r1: int = 0, r2: int = 0, r3: int = 0,
                r4: int = 0, r5: int = 0, *, rng: random.Random | None = None) -> RunResult:
        """Run once with the given argument registers. The maps and the stacks (fresh
        zeroes each run) are added to `memory` (or a new one) for this run."""
        if memory is None:
            memory = Memory()
        regions = memory.regions
        # (the common cases inline: no maps to mount, the stacks' mount of earlier runs)
        added = self._add_map_regions(memory) if self._map_regions != () else ()
        ctx = self._idle_ctx
        self._idle_ctx = None
        mount = self._stack_mounts.get(len(regions) + 1) if ctx is not None else None
        if mount is not None and regions.keys().isdisjoint(mount[2]):
            stacks, stack_tops = mount[0], mount[1]
        else:
            stacks, stack_tops = self._stack_regions(regions, ctx is None)
        for s in stacks:
            regions[s.base >> 32] = s
        try:
            return _run_result(RunResult, self._run(ctx, memory, stack_tops, r1, r2, r3, r4,
                                                    r5, rng))
        finally:
            for s in stacks:
                del regions[s.base >> 32]
            for seg in added:
                del regions[seg]

    def _run(self, ctx: CallContext | None, memory: Memory, stack_tops: tuple,
             r1: int, r2: int, r3: int, r4: int, r5: int,
             rng: random.Random | None = None) -> tuple[int, int]:
        """One run on mounted stacks: with `ctx` (the idle context, taken by the caller)
        on this VM's stack buffer, zeroed first, given back after; without it (a run
        inside a run) on a new context. Returns (r0, executed)."""
        budget = self.insn_budget
        if ctx is None:
            ctx = CallContext(memory, rng or self.rng, vm=self, budget=budget)
            return self._fn(ctx, memory, stack_tops, r1 & M64, r2 & M64, r3 & M64,
                            r4 & M64, r5 & M64, budget)
        self._stacks[:] = self._zero_stacks
        ctx.memory = memory
        ctx.rng = rng or self.rng
        ctx.pc = -1
        ctx.vm = self
        ctx.tail_calls = 0
        ctx.n = 0
        ctx.budget = budget
        ctx.host_task = None
        try:
            return self._fn(ctx, memory, stack_tops, r1 & M64, r2 & M64, r3 & M64, r4 & M64,
                            r5 & M64, budget)
        finally:
            # keep nothing of the run alive: its memory (a test run's context, packet,
            # skb ...) would otherwise outlive it here and age into the collector's
            # oldest generation, where cycles wait long to be freed
            ctx.memory = _NO_MEMORY
            ctx.host_task = None
            self._idle_ctx = ctx

    def bind(self, memory: Memory) -> "BoundRun":
        """`memory` with this program's maps and stacks mounted for good, to run the
        program many times on it (a capture's packets): see BoundRun."""
        return BoundRun(self, memory)

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
        added = self._add_map_regions(memory)
        caller = ctx.vm
        ctx.vm = self
        try:
            return self._fn(ctx, memory, stack_tops, r1, 0, 0, 0, 0, budget, 0, executed)
        finally:
            ctx.vm = caller
            for seg in added:
                del memory.regions[seg]


class BoundRun:
    """A VM and a Memory holding its maps and stacks, to run many times without
    mounting anything per run: `bound(r1)` is `vm.execute(memory, r1)` (fresh zeroed
    stacks, a reset context) at the least cost a run can have. Maps of maps are
    remounted at each run, as execute does. `close()` unmounts."""

    def __init__(self, vm: VM, memory: Memory) -> None:
        self.vm = vm
        self.memory = memory
        regions = memory.regions
        self._maps = vm._add_map_regions(memory) if vm._map_regions is not None else []
        self._stacks, self.stack_tops = vm._stack_regions(regions, False)
        for s in self._stacks:
            regions[s.base >> 32] = s

    def __call__(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0,
                 r5: int = 0) -> tuple[int, int]:
        """One run: (r0, executed)."""
        vm = self.vm
        ctx = vm._idle_ctx
        vm._idle_ctx = None
        if ctx is None:  # a run inside a run of the same VM: its own stacks
            return vm.execute(self.memory, r1, r2, r3, r4, r5)
        if vm._map_regions is None:
            added = vm._add_map_regions(self.memory)
            try:
                return vm._run(ctx, self.memory, self.stack_tops, r1, r2, r3, r4, r5)
            finally:
                for seg in added:
                    del self.memory.regions[seg]
        return vm._run(ctx, self.memory, self.stack_tops, r1, r2, r3, r4, r5)

    def close(self) -> None:
        regions = self.memory.regions
        for s in self._stacks:
            regions.pop(s.base >> 32, None)
        for seg in self._maps:
            regions.pop(seg, None)
        self._stacks, self._maps = (), []


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
    return run_on(vm, mem)


def run_on(vm: "VM", mem: bytes | None) -> int:
    """run()'s call of a loaded VM (either engine): r1 = a copy of `mem` (the packet
    region), r2 = its length, both 0 without mem or for empty mem; returns r0."""
    memory = Memory()
    r1 = r2 = 0
    if mem is not None:
        check_region_size("mem", len(mem))
        region = memory.map("mem", bytearray(mem))
        memory.packet = region
        r1, r2 = (region.base, len(mem)) if len(mem) else (0, 0)
    return vm.execute(memory, r1, r2).r0
