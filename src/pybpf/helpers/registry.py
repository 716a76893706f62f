"""The helper registry through which the VM dispatches `call imm`, keyed by the
kernel's helper IDs, and what a helper sees of the running program.

A helper implementation is `fn(ctx, r1, r2, r3, r4, r5) -> r0`; `ctx` (a CallContext)
gives it the running program's memory. A "frame" helper runs program code
(bpf_for_each_map_elem's callback, bpf_tail_call, bpf_loop): it is also given the
memory, the free call frames, the executed count and the budget, and returns
(r0, executed). This module knows no helper implementation: they live with their
domain (pybpf.helpers.base, pybpf.maps.helpers, pybpf.progtypes.task, ...) and are
registered from there.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

from ..helper_ids import HELPER_IDS, HELPER_NAMES
from ..isa import M64


class HelperMemory(Protocol):
    """What a helper may do with the program's memory (bounds-checked by the VM)."""

    def read(self, addr: int, size: int, pc: int = -1) -> bytes: ...

    def write(self, addr: int, data: bytes, pc: int = -1) -> None: ...

    def read_upto(self, addr: int, size: int, pc: int = -1) -> bytes: ...

    def check_store(self, addr: int, size: int, pc: int = -1) -> None: ...


class HelperContext(Protocol):
    """The running program as a helper sees it."""

    pc: int
    rng: random.Random

    @property
    def memory(self) -> HelperMemory: ...  # read-only here, so a Memory is one


class CallContext(HelperContext, Protocol):
    """The whole call context the VM gives a helper (pybpf.vm.CallContext is the one
    implementation): also the running program (`vm`: its maps, task, clock, trace pipe,
    `call_function` for callbacks), the tail calls made so far and the budget charge."""

    vm: Any
    tail_calls: int
    n: int
    budget: int
    host_task: object

    def charge(self, units: int) -> None: ...


HelperFn = Callable[..., int]  # fn(ctx, r1, r2, r3, r4, r5) -> r0
# a frame helper: fn(ctx, r1..r5, memory, stack_tops, executed, budget) -> (r0, executed)
FrameHelperFn = Callable[..., tuple[int, int]]


class ProgramExit(Exception):
    """Raised by a helper (or a legacy packet load) to end the program at once with
    r0 = `retval`, as the kernel does when LD_ABS fails."""

    def __init__(self, retval: int) -> None:
        super().__init__(retval)
        self.retval = retval & M64


@dataclass(frozen=True)
class Helper:
    """One callable helper: its ID (the `imm` of `call`), its name and implementation."""

    id: int
    name: str
    fn: HelperFn | FrameHelperFn
    frame: bool = False  # runs program code: fn(ctx, r1..r5, mem, stack_tops, n, budget)


@dataclass
class HelperRegistry(Mapping[int, Helper]):
    """Helpers by ID. Build one per VM; `default_helpers()` gives the kernel-ID set."""

    _by_id: dict[int, Helper] = field(default_factory=dict)

    def register(self, hid: int, fn: HelperFn | FrameHelperFn, name: str | None = None, *,
                 frame: bool = False) -> None:
        if name is None:
            name = HELPER_NAMES.get(hid, f"helper_{hid}")
        self._by_id[hid] = Helper(hid, name, fn, frame)

    def register_named(self, helpers: Mapping[str, HelperFn | FrameHelperFn], *,
                       frame: bool = False) -> None:
        """Register kernel helpers by name (without `bpf_`), under their kernel IDs."""
        for name, fn in helpers.items():
            self.register(HELPER_IDS[name], fn, "bpf_" + name, frame=frame)

    def copy(self) -> "HelperRegistry":
        return HelperRegistry(dict(self._by_id))

    def __getitem__(self, hid: int) -> Helper:
        return self._by_id[hid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


def helper_name(hid: int) -> str:
    """The kernel's name of a helper ID (`bpf_map_lookup_elem`), or `helper#N`."""
    name = HELPER_NAMES.get(hid)
    return f"bpf_{name}" if name and hid else f"helper#{hid}"


def helpers_named(names: Iterable[str]) -> list[int]:
    """IDs for kernel helper names, with or without the `bpf_` prefix."""
    return [HELPER_IDS[n.removeprefix("bpf_")] for n in names]


def seeded_rng(seed: int | None = None) -> random.Random:
    """The random source for bpf_get_prandom_u32 (seeded for reproducible runs)."""
    return random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "little"))
