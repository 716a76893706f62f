"""The contract between generated native code and its Python runtime: the slots of the
per-run state array, the callback's operations and the status codes native code
returns. One module so that codegen and runtime cannot disagree."""

from __future__ import annotations

from enum import IntEnum


class Slot(IntEnum):
    """Indexes of the u64 state array a native run reads and writes (`st[i]`)."""

    R0 = 0  # r0 at a normal exit; also r0 for a callx callback
    R1 = 1  # r1..r5: arguments in, and what a helper callback reads
    START = 6  # the pc the run starts at (0, or a function start for callbacks)
    N = 7  # instructions executed (in, out, and around every helper)
    BUDGET = 8
    PC = 9  # where a budget, call-depth or static error happened
    STATUS = 10  # non-zero once a callback raised (the exception waits in Python)
    TABLE = 11  # pointer to the region table: TABLE_WORDS u64 per segment (Entry)
    COUNT = 12  # entries in the table (segments past it are looked up in Python)
    NTOPS = 13  # call frames available (len(stack_tops))
    TOPS = 14  # pointer to the frames' r10 values (VM addresses)
    STACKHOST = 15  # pointer to the frames' stack bottoms (host addresses)
    CALLBACK = 16  # the Python callback (a C function pointer)
    DEPTH = 17  # call depth at a helper callback (frame helpers get the free frames)
    # the helper fast paths (pybpf.jit.fastcall): which are on, the array maps native
    # code serves itself, and the Python callables it calls directly (0: none)
    FAST = 19  # bitmask of FastBit
    MAPS = 20  # pointer to the fast map table (MAP_WORDS u64 per map)
    NMAPS = 21  # maps in it
    CLOCK = 22  # PyObject * of the VM's clock_ns (0: the host's clocks, natively; bit 0
    # set: the address | 1 of the u64 clock_ns() returns, read natively)
    RAND = 23  # PyObject * of a callable giving the run's next bpf_get_prandom_u32
    SIZE = 24


class Entry(IntEnum):
    """The words of a region-table entry, the one of segment a >> 32: an access of
    `size` bytes at offset x (the address's low 32 bits with bit 31 flipped) is native
    when x + size <= the limit. Limits are 0 where Python must do the access (no region,
    a region with rewritten fields or not in plain memory; WLIMIT: read-only)."""

    LIMIT = 0  # the region's size, for loads
    WLIMIT = 1  # the same for stores (0: read-only)
    HOST = 2  # host address of the region's first byte


TABLE_WORDS = 4
MAX_TABLE = 1 << 12  # segments past this are always looked up in Python


# one fast map-table entry: map pointer, VM address of value 0, max_entries, bytes from
# one value to the next, value_size, MapFlag bits (MAP_LOOKUP, MAP_WRITE)
MAP_WORDS = 6
MAP_LOOKUP = 1
MAP_WRITE = 2


class FastBit(IntEnum):
    """Helper fast paths a VM's registry allows (its helper is pybpf's own)."""

    MAP_LOOKUP = 1
    MAP_UPDATE = 2
    MAP_DELETE = 4
    KTIME = 8  # bpf_ktime_get_ns, bpf_ktime_get_coarse_ns
    KTIME_BOOT = 16
    PRANDOM = 32
    CSUM_DIFF = 64


class Op(IntEnum):
    """What native code asks of Python through the callback (a, b, c are its operands)."""

    LOAD = 1  # a = address, b = size: a load native code could not do itself
    STORE = 2  # a = address, b = size, c = value
    HELPER = 3  # a = helper id, b = call depth; r1..r5 and n in the state
    LDPKT = 4  # a = offset, b = size: LD_ABS / LD_IND
    CALLX = 5  # a = target, b = call depth: returns the function's pc, or NO_FRAME


NO_FRAME = (1 << 64) - 1  # callx ran a helper (r0 in the state), no frame to push


class Status(IntEnum):
    """What a native run returns."""

    OK = 0  # r0 and n in the state
    RAISED = 1  # a callback raised: Python re-raises it (or ends with ProgramExit's r0)
    BUDGET = 2  # instruction budget exhausted at the check at st[PC]
    DEPTH = 3  # call depth exceeded at st[PC]
    STATIC = 4  # the instruction at st[PC] always fails (kfunc, fell off the end)
    BAD_START = 5  # st[START] is no function start
