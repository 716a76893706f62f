"""The child of the cost-model test (tests/hostile/test_cost_model.py): random
helper-calling programs in a loop that only the instruction budget ends, each timed;
prints the baseline cost of one plain instruction and each run's wall time per unit
of budget, as JSON."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from pybpf import isa, progtypes
from pybpf.errors import InstructionLimitExceeded, PyBPFError
from pybpf.helpers import default_helpers
from pybpf.hostile import gen_vm
from pybpf.hostile.case import case_rng
from pybpf.isa import Instruction
from pybpf.maps import MapSpec, MapTable
from pybpf.uapi import ProgType
from pybpf.vm import VM, Memory


def baseline(budget: int) -> float:
    """Seconds per executed instruction of a plain ALU loop that runs out of budget."""
    code = [Instruction(0xB7, 0, 0, 0, 0), Instruction(0x07, 0, 0, 0, 1),
            Instruction(0x05, 0, 0, -2, 0), Instruction(isa.OPCODE_EXIT)]
    vm = VM(code, insn_budget=budget)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        try:
            vm.execute()
        except InstructionLimitExceeded:
            pass
        best = min(best, time.perf_counter() - t)
    return best / budget


def one(meta: dict[str, Any], budget: int) -> tuple[float, bool] | None:
    """(wall seconds of the run, whether the budget ended it); None when the program
    cannot be set up (a map refused)."""
    maps = []
    try:
        for m in meta["maps"]:
            inner = MapSpec(**m["inner"]) if m.get("inner") else None
            maps.append(MapSpec(**{**m, "inner": inner}).create("vm"))
        insns = gen_vm.build_helper_program(meta, [m.fd for m in maps],
                                            [m.spec.type_name == "array" for m in maps])
        ptype = meta["prog_type"]
        helpers = default_helpers() if ptype == "none" else \
            progtypes.helpers_for(ProgType[ptype.upper()], default_helpers())
        vm = VM(insns, helpers=helpers, maps=MapTable(maps), check_helpers=False,
                insn_budget=budget)
    except PyBPFError:
        for m in maps:
            m.close()
        return None
    data = bytes.fromhex(meta["data"]) or bytes(64)
    ctx = bytes.fromhex(meta["ctx"]) if meta.get("ctx") is not None else None
    t = time.perf_counter()
    exhausted = False
    try:
        if ptype == "raw_tracepoint":
            progtypes.test_run(vm, ProgType.RAW_TRACEPOINT, ctx_in=ctx or bytes(96),
                               data_size_out=0, ctx_size_out=0, repeat=0)
        elif ptype in gen_vm.TEST_RUN_TYPES:
            progtypes.test_run(vm, ProgType[ptype.upper()], data_in=data, ctx_in=ctx)
        else:
            mem = Memory()
            region = mem.map("ctx", bytearray(ctx or data))
            vm.execute(mem, region.base, region.size)
    except InstructionLimitExceeded:
        exhausted = True
    except PyBPFError:
        pass
    wall = time.perf_counter() - t
    for m in maps:
        m.close()
    return wall, exhausted


def main(count: int, budget: int, seed: int) -> None:
    base = baseline(200_000)
    runs = []
    s = seed
    while len(runs) < count:
        s += 1
        rng = case_rng("vm", s)
        case = gen_vm._helper_case(rng, s)
        case.meta["loop"] = 1 << 30  # only the budget ends the loop
        case.meta["budget"] = budget
        got = one(case.meta, budget)
        if got is not None:
            runs.append({"seed": s, "wall": got[0], "exhausted": got[1],
                         "helpers": [c["helper"] for c in case.meta["calls"]]})
    print(json.dumps({"base": base, "budget": budget, "runs": runs}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
