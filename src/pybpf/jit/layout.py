"""The contract between generated native code and its Python runtime: the slots of the
per-run state array, the callback's operations and the status codes native code
returns. One module so that codegen and runtime cannot disagree."""

from __future__ import annotations

import functools
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
    TABLE = 11  # pointer to the region table: TABLE_WORDS u64 per entry (Entry)
    SHIFT = 12  # 64 - log2(entries in the table): segment s is entry
    # table_index(s, SHIFT, MULT)
    NTOPS = 13  # call frames available (len(stack_tops))
    TOPS = 14  # pointer to the frames' r10 values (VM addresses)
    STACKHOST = 15  # pointer to the frames' stack bottoms (host addresses)
    CALLBACK = 16  # the Python callback (a C function pointer)
    DEPTH = 17  # call depth at a helper callback (frame helpers get the free frames)
    MULT = 18  # the region table's odd multiplier (table_index)
    # the helper fast paths (pybpf.jit.fastcall): which are on, the maps native
    # code serves itself, and the Python callables it calls directly (0: none)
    FAST = 19  # bitmask of FastBit
    MAPS = 20  # pointer to the fast map table (MAP_WORDS u64 per map)
    NMAPS = 21  # maps in it
    CLOCK = 22  # PyObject * of the VM's clock_ns (0: the host's clocks, natively; bit 0
    # set: the address | 1 of the u64 clock_ns() returns, read natively)
    RAND = 23  # PyObject * of a callable giving the run's next bpf_get_prandom_u32
    CTX = 24  # pointer to the context's words (CtxWord), 0: none
    SIZE = 25


class CtxWord(IntEnum):
    """The context's words in a run: the values of the 4-byte field loads its program
    type's model gives now (refreshed at each sync and after each store Python does),
    which the slow path of a load serves without calling Python."""

    BASE = 0  # the context's VM address
    MASK = 1  # bit i: a 4-byte load at BASE + 4 i is VALUES + i
    VALUES = 2


CTX_FIELDS = 64  # the first 256 bytes of a context (u32 fields at aligned offsets)
CTX_WORDS = int(CtxWord.VALUES) + CTX_FIELDS


class Entry(IntEnum):
    """The words of a region-table entry, the one of segment a >> 32 (table_index): an
    access of `size` bytes at a is native when x = a - BASE and x + size <= the limit
    (so an entry serves its own region only, whatever segment indexed it). Limits are 0
    where Python must do the access (no region, a region with rewritten fields or not
    in plain memory; WLIMIT: read-only)."""

    LIMIT = 0  # the region's size, for loads
    WLIMIT = 1  # the same for stores (0: read-only)
    HOST = 2  # host address of the region's first byte
    BASE = 3  # VM address of the region's first byte


TABLE_WORDS = 4
# at most this many entries: regions whose segments still collide are looked up in
# Python. Segments are spread by a multiplicative hash (the stacks' and packets'
# segments, 1, 2, ..., and the maps', 0x4D50_0000 + map id, share their low bits),
# whose multiplier is the first of MULTIPLIERS without a collision.
MAX_TABLE = 1 << 12
MULTIPLIERS = (0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9,
               0xD6E8_FEB8_6659_FD93, 0xFF51_AFD7_ED55_8CCD, 0xC4CE_B9FE_1A85_EC53,
               0x9FB2_1C65_1E98_DF25, 0xBF58_476D_1CE4_E5B9)
MIN_SHIFT = 64 - 12  # MAX_TABLE entries
MAX_SHIFT = 64 - 3  # 8 entries


def table_index(seg: int, shift: int, mult: int) -> int:
    """The region-table entry of segment `seg` in a table of 2 ** (64 - shift)."""
    return ((seg * mult) & 0xFFFF_FFFF_FFFF_FFFF) >> shift


@functools.lru_cache(maxsize=256)
def table_shape(segs: tuple[int, ...]) -> tuple[int, int]:
    """(shift, multiplier) of the smallest table where `segs` do not collide (the
    largest when they always do)."""
    for shift in range(MAX_SHIFT, MIN_SHIFT - 1, -1):
        if 1 << (64 - shift) < len(segs):
            continue
        for mult in MULTIPLIERS:
            if len({table_index(s, shift, mult) for s in segs}) == len(segs):
                return shift, mult
    return MIN_SHIFT, MULTIPLIERS[0]


# one fast map-table entry: map pointer, VM address of value 0, max_entries, bytes from
# one value to the next, value_size, MapFlag bits (MAP_LOOKUP, MAP_WRITE), MapKind, the
# host address of the map's key index header (Key words; 0 for arrays)
MAP_WORDS = 8
MAP_LOOKUP = 1
MAP_WRITE = 2


class MapKind(IntEnum):
    """How native code finds a value in a fast map-table entry's map."""

    ARRAY = 0  # array, percpu_array: the u32 key is the slot
    HASH = 1  # hash, percpu_hash, lru_hash, lru_percpu_hash: the key index
    LPM = 2  # lpm_trie: the key index over (prefixlen, prefix), longest first


class Key(IntEnum):
    """The header of a map's key index (pybpf.maps.keyindex): u64 words native code
    and the map's Python code both read and write. Slots are u32; NIL is none."""

    FLAGS = 0  # KeyFlag bits
    SLOTS = 2  # value slots allocated (the values' memory and every array below)
    CAPACITY = 3  # elements at most (a new key in a full map: E2BIG, or an eviction)
    KEY_SIZE = 4
    KEY_STRIDE = 5  # bytes from one slot's key to the next (an LPM trie's slot holds
    # its prefix, then at KEY_STRIDE / 2 the key as last written)
    IMASK = 6  # index entries - 1 (a power of two - 1)
    USED = 7  # index entries not EMPTY (elements and TOMBs); at most 3/4 of them
    KEYS = 8  # host address: the key of each slot
    INDEX = 9  # host address: u32 entries, EMPTY, TOMB or slot + 1, probed linearly
    LINKS = 10  # host address: LINK_WORDS u32 a slot (Link)
    FREED = 11  # host address: u32 stack of freed slots (the last freed is reused first)
    NFREED = 12
    FRESH = 13  # slots below this were handed out once
    FIRST = 14  # iteration (insertion) order: first and last slot, or NIL
    LAST = 15
    LRU_HEAD = 16  # the least recently used slot (LRU maps), or NIL
    LRU_TAIL = 17  # the most recently used
    WALKS = 18  # walks in progress: native code leaves deletes and evictions to Python
    EVICTIONS = 19
    DICT = 20  # PyObject * of the map's dict key bytes -> slot (kept exact natively too;
    # its size is the number of elements)
    LENS = 21  # host address: u32 prefix lengths stored (LPM), longest first
    NLENS = 22
    COUNTS = 23  # host address: u32 entries of each prefix length (LPM)
    CHANGES = 24  # prefixes added or removed so far (LPM: Python's iteration order is
    # made again after a change)
    SIZE = 25


class KeyFlag(IntEnum):
    """Key.FLAGS bits."""

    LRU = 1  # program lookups and all updates make a key the most recent; evict when full
    PERCPU = 2  # a program's new element has zeros on the other CPUs


class Link(IntEnum):
    """The u32 links of a slot: iteration order, then LRU order."""

    NEXT = 0
    PREV = 1
    LRU_NEXT = 2
    LRU_PREV = 3


LINK_WORDS = 4
NIL = 0xFFFF_FFFF
INDEX_EMPTY = 0
INDEX_TOMB = 0xFFFF_FFFF


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
