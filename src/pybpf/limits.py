"""pybpf's limits on hostile input, in one place: how large each thing may be before
pybpf refuses it with a clear error, and which error. Each limit is enforced where the
thing is made and has a test at the limit (tests/hostile/test_limits.py); README
"Limits" has the same table.

| What                              | Limit                         | Past it                                  |
|-----------------------------------|-------------------------------|------------------------------------------|
| a VM memory region (`run --mem`,  | MAX_REGION_SIZE: 2 GiB        | RegionTooLargeError (a RunError)         |
|   `pybpf.run(mem=)`, a context)   |                               |                                          |
| a VM map's values                 | MAX_MAP_VALUES: 2 GiB         | MapNotSupportedError at creation; a      |
|                                   |                               |   growing map's update fails ENOMEM      |
| a program                         | MAX_PROGRAM_INSNS: 1,000,000  | InvalidProgram ("too many instructions") |
|                                   |   slots (the kernel's)        |                                          |
| one VM run                        | DEFAULT_INSN_BUDGET: 1,000,000| InstructionLimitExceeded; helpers charge |
|                                   |   (run --budget N)            |   their work (8 bytes copied or one byte |
|                                   |                               |   of format parsed = one instruction)    |
| the VM's trace pipe               | TRACE_BUFFER_BYTES: 1408 KiB  | the oldest messages are dropped (counted)|
| a BTF reference chain             | MAX_RESOLVE_DEPTH: 64 types   | BTFError ("too long or a loop")          |
|                                   |   (63 typedef/modifier hops)  |                                          |
| a rendered C declarator           | MAX_DECL_LEN: 16384 chars     | BTFError ("C declaration longer than")   |
| a rendered struct/union definition| MAX_DEF_LEN: 262144 chars     | BTFError ("C definition longer than")    |
| a decompressed ELF section        | MAX_SECTION_SIZE: 64 MiB a    | ELFError, before anything is inflated    |
|                                   |   section, MAX_INFLATED_TOTAL:|   (pybpf.elf.compressed: also what       |
|                                   |   128 MiB an object           |   `license`/`version` need, zlib's ratio)|
| a zero-initialised section (.bss, | MAX_BSS_SIZE: 64 MiB          | ELFError, before it is allocated         |
|   SHT_NOBITS)                     |                               |                                          |
| a pcap record / pcapng block      | 1 MiB / 16 MiB                | PcapError                                |

Memory otherwise follows what is stored: maps without preallocation grow with their
entries, captures and programs cost memory in proportion to their size, and rendering
is bounded by the lengths above. The hostile-input harness (pybpf.hostile) checks all
of this under a 2 GiB address-space cap."""

from __future__ import annotations

from .btf.blob import MAX_RESOLVE_DEPTH
from .btf.dump import MAX_DECL_LEN, MAX_DEF_LEN
from .elf import MAX_BSS_SIZE
from .elf.compressed import MAX_INFLATED_TOTAL, MAX_SECTION_SIZE
from .helpers import TRACE_BUFFER_BYTES
from .isa import BPF_COMPLEXITY_LIMIT_INSNS as MAX_PROGRAM_INSNS
from .maps.vmbase import SEGMENT_HALF as MAX_MAP_VALUES
from .vm import DEFAULT_INSN_BUDGET, MAX_REGION_SIZE


__all__ = ["MAX_REGION_SIZE", "MAX_MAP_VALUES", "MAX_PROGRAM_INSNS", "DEFAULT_INSN_BUDGET",
           "TRACE_BUFFER_BYTES", "MAX_RESOLVE_DEPTH", "MAX_DECL_LEN", "MAX_DEF_LEN",
           "MAX_SECTION_SIZE", "MAX_INFLATED_TOTAL", "MAX_BSS_SIZE"]
