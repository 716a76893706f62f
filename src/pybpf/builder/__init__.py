"""pybpf.builder: BPF programs written instruction by instruction in Python, in the
manner of cilium/ebpf's `asm` package, linked into an ObjectSpec that runs on both
backends.

    from pybpf.builder import ObjectBuilder, R0, R1, R2, FP

    ob = ObjectBuilder()
    ob.map("pkts", "array", key="u32", value="u64", max_entries=1)
    p = ob.program("count", "xdp")
    p.stw(FP, -4, 0)                       # key = 0
    p.mov64(R2, FP).add64(R2, -4)
    p.ld_map_fd(R1, "pkts")
    p.call("map_lookup_elem")
    p.jeq(R0, 0, "out")
    p.mov64(R1, 1).atomic_add("dw", R0, 0, R1)
    p.label("out")
    p.ret(2)                               # XDP_PASS
    obj = ob.build().instantiate("vm")     # or "kernel"

See FunctionBuilder for the instruction forms and ObjectBuilder for maps and linking.
"""

from __future__ import annotations

from .errors import (BuilderError, DuplicateLabelError, JumpRangeError, OperandError,
                     UndefinedFunctionError, UndefinedLabelError, UndefinedMapError,
                     UnknownHelperError)
from .function import (FP, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, Emitted,
                       FunctionBuilder, Ref, Reg, helper_id)
from .objectbuilder import ObjectBuilder
from .types import Array, Struct

__all__ = ["ObjectBuilder", "FunctionBuilder", "Reg", "R0", "R1", "R2", "R3", "R4", "R5",
           "R6", "R7", "R8", "R9", "R10", "FP", "Ref", "Emitted", "Struct", "Array",
           "helper_id", "BuilderError", "OperandError", "UndefinedLabelError",
           "DuplicateLabelError", "UndefinedMapError", "UndefinedFunctionError",
           "UnknownHelperError", "JumpRangeError"]
