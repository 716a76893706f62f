"""Helpers on the VM: the registry through which the VM dispatches `call imm` (keyed by
the kernel's helper IDs) and the helpers every program type has.

* `registry`: HelperRegistry, Helper, ProgramExit, the CallContext a helper is given;
* `access`: reading and writing program memory from a helper, and charging the work;
* `base`: clocks, random numbers, CPU / NUMA ids, bpf_loop;
* `printf` / `printk`: the kernel's printf for BPF and the helpers using it;
* `strings`: bpf_strncmp, bpf_strtol, bpf_strtoul;
* `tracepipe`: where bpf_trace_printk writes on the VM.

The helpers bound to a domain live with it and register themselves there: the map
helpers in pybpf.maps.helpers, the task and probe-read helpers in pybpf.progtypes.task,
packet helpers in pybpf.progtypes. `default_helpers()` (the set a VM gets when given
none) is assembled in pybpf.progtypes.helpersets; the function here is the public path
to it and imports that module when called.
"""

from __future__ import annotations

from ..isa import M64
from .access import (charge, charge_bytes, destination, read_bytes, read_cstr, write_bytes,
                     zero_fill)
from .base import BPF_MAX_LOOPS, register_base_helpers, register_loop_helper
from .printf import FormatError, bprintf_prepare, bstr_printf, bstr_printf_capped
from .printk import FORMAT_LIMIT, FormatMemory, printk_helpers
from .registry import (CallContext, FrameHelperFn, Helper, HelperContext, HelperFn, HelperMemory,
                       HelperRegistry, ProgramExit, helper_name, helpers_named, seeded_rng)
from .strings import bpf_strtoull, register_string_helpers
from .tracepipe import TRACE_BUFFER_BYTES, TracePipe


def default_helpers() -> HelperRegistry:
    """A fresh registry with pybpf's context-free kernel helpers, the task and probe-read
    helpers and the map helpers, under kernel IDs (assembled in
    pybpf.progtypes.helpersets, which this imports when called: the registry itself
    sits below the maps and program types)."""
    from ..progtypes.helpersets import default_helpers as assemble  # importgraph: facade
    return assemble()


__all__ = ["BPF_MAX_LOOPS", "CallContext", "FORMAT_LIMIT", "FormatError", "FormatMemory",
           "FrameHelperFn", "Helper", "HelperContext", "HelperFn", "HelperMemory",
           "HelperRegistry", "M64", "ProgramExit", "TRACE_BUFFER_BYTES", "TracePipe",
           "bpf_strtoull", "bprintf_prepare", "bstr_printf", "bstr_printf_capped", "charge",
           "charge_bytes", "default_helpers", "destination", "helper_name", "helpers_named",
           "printk_helpers", "read_bytes", "read_cstr", "register_base_helpers",
           "register_loop_helper", "register_string_helpers", "seeded_rng", "write_bytes",
           "zero_fill"]
