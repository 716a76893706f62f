"""The map helpers as a program calls them, for `pybpf bench maps`: nanoseconds a call
of bpf_map_lookup_elem and bpf_map_update_elem (a present key), and of an insert and
delete of a new key, on the JIT, served by
native code (pybpf.jit.fastcall) against the same calls through the Python callback,
on an array, a hash, an LRU hash and an LPM trie; the same program and map, measured
in one run (CPU time of a loop of calls repeated in native code)."""

from __future__ import annotations

from typing import Any

from .. import isa
from ..isa import Instruction

I = Instruction  # noqa: E741
NEW_KEY = (0x7777).to_bytes(4, "little")  # in no map
NEW_PREFIX = (32).to_bytes(4, "little") + bytes([10, 9, 9, 9])  # in no trie
# (map type, key, spec flags, new key): the key a loop looks up or updates, present in
# the map, and one a loop inserts and deletes
MAPS = {"array": ("array", (3).to_bytes(4, "little"), 0, NEW_KEY),
        "hash": ("hash", (3).to_bytes(4, "little"), 0, NEW_KEY),
        "lru_hash": ("lru_hash", (3).to_bytes(4, "little"), 0, NEW_KEY),
        "lpm_trie": ("lpm_trie", (32).to_bytes(4, "little") + bytes([10, 1, 2, 3]), 1,
                     NEW_PREFIX)}
# op -> the helpers a loop iteration calls (insert+delete: a new key, then gone again)
OPS = {"lookup": (1,), "update": (2,), "insert+delete": (2, 3)}


def loop_program(fd: int, key: bytes, helpers: tuple[int, ...], calls: int
                 ) -> list[Instruction]:
    """`calls` iterations of calls to `helpers` on map `fd` with `key` (and an 8-byte
    value, BPF_ANY)."""
    body = [I(0x72, 10, 0, -8 + i, b) for i, b in enumerate(key)]
    body += [I(0x7A, 10, 0, -16, 7)]
    for helper in helpers:
        body += [Instruction.lddw(1, fd, isa.BPF_PSEUDO_MAP_FD), I(0xBF, 2, 10),
                 I(0x07, 2, 0, 0, -8), I(0xBF, 3, 10), I(0x07, 3, 0, 0, -16),
                 I(0xB7, 4, 0, 0, 0), I(isa.OPCODE_CALL, 0, 0, 0, helper)]
    body += [I(0x17, 6, 0, 0, 1)]
    slots = sum(2 if i.opcode == isa.OPCODE_LDDW else 1 for i in body)
    return [I(0xB7, 6, 0, 0, calls), *body, I(0x55, 6, 0, -(slots + 1), 0),
            I(0xB7, 0, 0, 0, 0), I(isa.OPCODE_EXIT)]


def _filled(kind: str, flags: int) -> Any:
    from ..maps import MapSpec
    key_size = 8 if kind == "lpm_trie" else 4
    m = MapSpec(kind, key_size, 8, 1024, flags=flags).create("vm")
    for i in range(256):
        if kind == "lpm_trie":  # /32s and /24s, the probe's /32 among them
            m.update((32).to_bytes(4, "little") + bytes([10, 1, i, 3]), bytes(8))
            m.update((24).to_bytes(4, "little") + bytes([10, 2, i, 0]), bytes(8))
        else:
            m.update(i.to_bytes(4, "little"), bytes(8))
    return m


def helper_rows(calls: int = 1000, repeat: int = 3, runs: int = 20) -> list[dict[str, Any]]:
    """ns a call (insert+delete: a pair of calls) natively and through the callback,
    for each map and op ([] without a working JIT)."""
    from ..jit import JitVM, available
    if not available():
        return []
    rows = []
    for name, (kind, key, flags, new) in MAPS.items():
        m = _filled(kind, flags)
        try:
            for op, helpers in OPS.items():
                if kind == "array" and op == "insert+delete":
                    continue  # every index always exists
                probe = new if op == "insert+delete" else key
                vm = JitVM(isa.encode(loop_program(m.fd, probe, helpers, calls)),
                           maps=[m], insn_budget=1 << 40)
                bits = vm._fast.bits
                native = min(_per_call(vm, bits, runs) for _ in range(repeat)) / calls
                callback = min(_per_call(vm, 0, 1) for _ in range(repeat)) / calls
                vm._fast.bits = bits
                rows.append({"map": name, "op": op, "native_ns": round(native, 1),
                             "callback_ns": round(callback), "speedup":
                             round(callback / native, 1) if native else None})
        finally:
            m.close()
    return rows


def _per_call(vm: Any, bits: int, runs: int) -> float:
    """ns a run of `vm`'s program with the fast paths `bits` (0: every helper call
    through the callback), repeated `runs` times in native code."""
    from ..vm import Memory
    vm._fast.bits = bits
    vm.bench_repeat = runs
    try:
        vm.execute(Memory())
    finally:
        vm.bench_repeat = 0
    return float(vm.bench_ns)


def format_helpers(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(program helper calls: no JIT here)\n"
    lines = [f"{'map':<9} {'helper op':<14} {'native ns':>10} {'callback ns':>12} "
             f"{'callback/native':>16}"]
    for r in rows:
        lines.append(f"{r['map']:<9} {r['op']:<14} {r['native_ns']:>10} "
                     f"{r['callback_ns']:>12} {r['speedup']:>15}x")
    lines.append("ns a bpf_map_*_elem call from a JIT program (a present key; insert+delete: "
                 "both calls, a new key): native fast path against the Python callback")
    return "\n".join(lines) + "\n"


def format_maps_and_helpers(report: dict[str, Any]) -> str:
    """`pybpf bench maps`: the map operations table (pybpf.bench) and the helper calls."""
    from ..bench import format_maps
    return format_maps(report) + "\n" + format_helpers(report.get("helpers", []))


__all__ = ["MAPS", "OPS", "format_helpers", "format_maps_and_helpers", "helper_rows",
           "loop_program"]
