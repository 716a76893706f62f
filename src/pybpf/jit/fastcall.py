"""Helper fast paths: calls from native code to the hot helpers served natively, not
through the ctypes callback (~2 us a call): bpf_map_lookup_elem, update and delete on
array, per-CPU array, hash, per-CPU hash and LRU hash maps and LPM tries, the
ktime clocks, bpf_get_prandom_u32 and bpf_csum_diff.

Maps keep their values in one block of memory (a Slab) the Python Map API reads and
writes too, so native code works on the same bytes; hash maps and LPM tries keep
their keys in a key index in plain memory (pybpf.maps.keyindex) that native code
probes and changes as the map's Python code does (pybpf.jit.keyindex_ir); the other
maps live in Python structures and keep the callback. A Python callable the helper
would call (the VM's clock_ns, the run's rng.getrandbits) is called through the C API
(the GIL is held while native code runs). The IR is in fastcall_ir.

What native code may do is decided per VM and run, in the state (pybpf.jit.layout):
st[FAST] has a bit for each helper whose implementation in the VM's registry is
pybpf's own (a registry with its own bpf_map_lookup_elem keeps the callback), st[MAPS]
the maps of the program's MapTable native code serves, as the helpers would find
them. Whatever a
fast path cannot answer exactly as the Python helper would goes to the callback."""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from .. import isa
from ..isa import M64
from ..uapi import MapFlag, MapType
from .fastcall_ir import FUNCTIONS, RET, SYMBOLS
from .keyindex_ir import MAX_LPM_KEY
from .keyindex_ir import SYMBOLS as KEY_SYMBOLS
from .layout import MAP_LOOKUP, MAP_WORDS, MAP_WRITE, FastBit, MapKind, Slot

_U64 = ctypes.c_uint64
_BITS = {1: FastBit.MAP_LOOKUP, 2: FastBit.MAP_UPDATE, 3: FastBit.MAP_DELETE,
         5: FastBit.KTIME, 160: FastBit.KTIME, 125: FastBit.KTIME_BOOT,
         7: FastBit.PRANDOM, 28: FastBit.CSUM_DIFF}


# The Python helper each fast path stands in for, by helper id: named, not imported
# (the JIT sits below the maps and the program types in the layers).
IMPLEMENTATIONS = {1: ("pybpf.maps.helpers", "map_lookup_elem"),
                   2: ("pybpf.maps.helpers", "map_update_elem"),
                   3: ("pybpf.maps.helpers", "map_delete_elem"),
                   5: ("pybpf.helpers.base", "_ktime_get_ns"),
                   160: ("pybpf.helpers.base", "_ktime_get_ns"),
                   125: ("pybpf.helpers.base", "_ktime_get_boot_ns"),
                   7: ("pybpf.helpers.base", "_get_prandom_u32"),
                   28: ("pybpf.progtypes.common", "csum_diff")}
ARRAY_MAP = ("pybpf.maps.arraymap", "ArrayMap")  # its values: one block, fixed strides
# maps whose keys are in a key index (pybpf.maps.keyindex), by class and map types
KEYED_MAPS = {("pybpf.maps.hashmap", "HashMap"): (MapKind.HASH, (MapType.HASH,
                                                                 MapType.PERCPU_HASH)),
              ("pybpf.maps.hashmap", "LRUHashMap"): (MapKind.HASH, (MapType.LRU_HASH,
                                                                    MapType.LRU_PERCPU_HASH)),
              ("pybpf.maps.lpmtrie", "LPMTrieMap"): (MapKind.LPM, (MapType.LPM_TRIE,))}


def _named(obj: Any) -> tuple[str, str]:
    return getattr(obj, "__module__", ""), getattr(obj, "__qualname__", "")


_registered: list[bool] = []  # once a process (LLVM's symbol table is the process's)


def register_symbols(llvm: Any) -> None:
    """Tell LLVM (llvmlite.binding) where the C functions native code calls are in this
    process."""
    if _registered:
        return
    libs = {"python": ctypes.pythonapi, "libc": ctypes.CDLL(None)}
    for name, (lib, symbol) in [*SYMBOLS.items(), *KEY_SYMBOLS.items()]:
        llvm.add_symbol(name, ctypes.cast(getattr(libs[lib], symbol), ctypes.c_void_p).value)
    _registered.append(True)


def emit(cg: Any, hid: int, pc: int) -> str | None:
    """Codegen's hook before a helper call: the call to the fast path and a branch past
    the callback when it handled the call; returns the label the callback path must
    branch to (None: no fast path for this helper)."""
    name = FUNCTIONS.get(hid)
    if name is None:
        return None
    cg.fast_used = True
    f = cg.f
    args = ", ".join(f"i64 {f.reg(r)}" for r in range(1, 6))
    res = f.op(f"call {RET} @{name}(ptr %st, {args}, i64 {f.count()}, i64 %budget)")
    ok = f.op(f"extractvalue {RET} {res}, 2")
    yes, slow, join = f.new_label(), f.new_label(), f.new_label()
    f.br(f"br i1 {ok}, label %{yes}, label %{slow}")
    f.label(yes)
    f.set(0, f.op(f"extractvalue {RET} {res}, 0"))
    f.put("REM", f.op(f"sub i64 {f.var('REM')}, {f.op(f'extractvalue {RET} {res}, 1')}"))
    f.br(f"br label %{join}")
    f.label(slow)
    return join


class FastPaths:
    """A JitVM's fast-path settings: which helpers (`bits`), whether the program calls
    any (`used`), and the fast map table, rebuilt when the MapTable's active maps
    change (maps of maps mount what they hold at each run)."""

    def __init__(self, vm: Any) -> None:
        called = {i.imm for i in vm.insns if i.opcode == isa.OPCODE_CALL and i.src == 0}
        bits = 0
        for hid in called & set(_BITS):
            helper = vm.helpers.get(hid)
            if helper is not None and not helper.frame and \
                    _named(helper.fn) == IMPLEMENTATIONS[hid]:
                bits |= _BITS[hid]
        self.bits = bits
        self.used = bool(bits)
        self.prandom = bool(bits & FastBit.PRANDOM)
        self.maps_on = bool(bits & (FastBit.MAP_LOOKUP | FastBit.MAP_UPDATE |
                                    FastBit.MAP_DELETE))
        self._source: object = None  # the active-map dict the table was built from
        self._table: Any = (_U64 * MAP_WORDS)()
        self._count = 0

    def fill(self, st: Any, ctx: Any, vm: Any) -> list[Any]:
        """Set the state's fast slots for a run of `vm` with `ctx`; returns the Python
        objects native code may call (the caller keeps them alive for the run)."""
        st[Slot.FAST] = self.bits
        keep: list[Any] = []
        clock = getattr(vm, "clock_ns", None)
        if clock is not None:
            keep.append(clock)
        st[Slot.CLOCK] = id(clock) if clock is not None else 0
        if self.prandom:
            rand = functools.partial(ctx.rng.getrandbits, 32)
            keep.append(rand)
            st[Slot.RAND] = id(rand)
        if self.maps_on:
            self._maps(vm)
            st[Slot.MAPS] = ctypes.addressof(self._table)
            st[Slot.NMAPS] = self._count
        return keep

    def _maps(self, vm: Any) -> None:
        """The fast map table from the maps the helpers would find now (MapTable's
        active maps: by_pointer's answers), when they changed."""
        active = getattr(vm.maps, "_active", None)
        if active is self._source:
            return
        self._source = active
        rows = _rows(active.values()) if isinstance(active, dict) else []
        self._table = (_U64 * max(len(rows) * MAP_WORDS, MAP_WORDS))()
        for i, row in enumerate(rows):
            self._table[i * MAP_WORDS:(i + 1) * MAP_WORDS] = row
        self._count = len(rows)


def _rows(maps: Any) -> list[list[int]]:
    """A fast map-table row for each array, per-CPU array, hash map of the four hash
    types and LPM trie (pybpf's own classes: a subclass may answer otherwise)."""
    rows = []
    for m in maps:
        named = _named(type(m))
        writable = not m.spec.flags & MapFlag.RDONLY_PROG
        if named == ARRAY_MAP:
            if m.key_size != 4 or m.spec.type not in (MapType.ARRAY, MapType.PERCPU_ARRAY):
                continue
            kind, header = MapKind.ARRAY, 0
        elif named in KEYED_MAPS and m.spec.type in KEYED_MAPS[named][1]:
            kind = KEYED_MAPS[named][0]
            header = m.key_index.address
            if kind == MapKind.LPM and not 5 <= m.key_size <= MAX_LPM_KEY:
                continue
        else:
            continue
        flags = MAP_LOOKUP | (MAP_WRITE if writable else 0)
        rows.append([m.pointer & M64, m.base & M64, m.max_entries, m.slot_bytes,
                     m.value_size, flags, int(kind), header])
    return rows


__all__ = ["ARRAY_MAP", "IMPLEMENTATIONS", "KEYED_MAPS", "FastPaths", "emit", "register_symbols"]
