"""The reference interpreter: executes eBPF bytecode with RFC 9669 semantics over a
memory of named, bounds-checked regions.

Speed comes from decoding once: the program is translated, one basic block at a
time, into the source of a Python function whose locals are r0-r10, and blocks are
reached through a binary dispatch tree on the pc. The hot loop then allocates no
per-instruction objects. Translation is O(n): a program longer than one chunk
(CHUNK_INSNS) becomes a function per chunk, each compiled when pc first enters it
(that compile is paid once per program, by the first run that gets there, in its
budget: one instruction per instruction translated). Every
memory access goes through `Memory`, which checks it against its region and raises
MemoryAccessError otherwise. The instruction budget counts helper work too
(`CallContext.charge`, see pybpf.helpers).

Three modules, each read on its own: `memory` (regions, bounds checks), `translate`
(bytecode to Python, over the blocks of pybpf.cfg) and `machine` (VM, execute, call
frames, budget, run).
"""

from __future__ import annotations

from .machine import DEFAULT_INSN_BUDGET, VM, CallContext, MapTableLike, RunResult, run, run_on
from .memory import (CODE_SEGMENT, MAX_REGION_SIZE, SEGMENT_HALF, Memory, Region, RegionAccess,
                     WindowAccess, check_region_size)
from .translate import (BPF_MAX_LOOPS, CHUNK_INSNS, CORE_POISON_HELPER, MAX_BLOCK_INSNS,
                        SKF_LL_OFF, SKF_NET_OFF)

__all__ = ["BPF_MAX_LOOPS", "CHUNK_INSNS", "CODE_SEGMENT", "CORE_POISON_HELPER",
           "DEFAULT_INSN_BUDGET", "MAX_BLOCK_INSNS", "MAX_REGION_SIZE", "SEGMENT_HALF",
           "SKF_LL_OFF", "SKF_NET_OFF", "VM", "CallContext", "MapTableLike", "Memory", "Region",
           "RegionAccess", "RunResult", "WindowAccess", "check_region_size", "run", "run_on"]
