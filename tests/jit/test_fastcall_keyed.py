"""The map helpers' native fast paths on hash maps and LPM tries (pybpf.jit.keyindex_ir):
the same answers and the same map contents (iteration order, LRU evictions, free slot
reuse) as the Python helpers on the interpreter, with the callback left out."""

from __future__ import annotations

import random
from typing import Any

import pytest

import pybpf

from pybpf import isa
from pybpf.isa import Instruction
from pybpf.jit import JitVM
from pybpf.jit.layout import Key
from pybpf.maps import MapSpec
from pybpf.vm import VM, Memory
from tests.jit.test_fastcall import Counting

I = Instruction  # noqa: E741
LOOKUP, UPDATE, DELETE = 1, 2, 3


def _bytes_at(off: int, data: bytes) -> list[Instruction]:
    """*(u8 *)(r10 + off + i) = data[i]."""
    return [I(0x72, 10, 0, off + i, b) for i, b in enumerate(data)]


def driver(fd: int) -> list[Instruction]:
    """A program that makes one helper call on map `fd` as its input says: u64 op,
    u64 flags, the key at 16, the value at 48; a lookup returns the value's first
    u64 after adding 1 to it through the pointer, or 0xFFFF when absent."""
    return [I(0xBF, 6, 1), I(0x79, 7, 6, 0), I(0x79, 4, 6, 8),
            Instruction.lddw(1, fd, isa.BPF_PSEUDO_MAP_FD),
            I(0xBF, 2, 6), I(0x07, 2, 0, 0, 16), I(0xBF, 3, 6), I(0x07, 3, 0, 0, 48),
            I(0x15, 7, 0, 5, LOOKUP), I(0x15, 7, 0, 2, UPDATE),
            I(isa.OPCODE_CALL, 0, 0, 0, DELETE), I(isa.OPCODE_EXIT),
            I(isa.OPCODE_CALL, 0, 0, 0, UPDATE), I(isa.OPCODE_EXIT),
            I(isa.OPCODE_CALL, 0, 0, 0, LOOKUP), I(0x55, 0, 0, 2, 0),
            I(0xB7, 0, 0, 0, 0xFFFF), I(isa.OPCODE_EXIT),
            I(0x79, 1, 0, 0), I(0x07, 1, 0, 0, 1), I(0x7B, 0, 1, 0), I(0xBF, 0, 1),
            I(isa.OPCODE_EXIT)]


class Driven:
    """A map and the driver program on it, on the JIT (counting callbacks) or the
    interpreter."""

    def __init__(self, m: Any, jit: bool) -> None:
        self.m = m
        self.vm = (Counting if jit else VM)(isa.encode(driver(m.fd)), maps=[m])

    def call(self, op: int, key: bytes, value: bytes = b"", flags: int = 0
             ) -> tuple[int, list[int]]:
        mem = (op.to_bytes(8, "little") + flags.to_bytes(8, "little")
               + key.ljust(32, b"\0") + value.ljust(32, b"\0"))
        memory = Memory()
        region = memory.map("mem", bytearray(mem))
        calls = getattr(self.vm, "callbacks", [])
        calls.clear()
        return self.vm.execute(memory, region.base, len(mem)).r0, list(calls)


def contents(m: Any) -> tuple[list[tuple[bytes, bytes]], int]:
    """The map as user space sees it: (key, value) in iteration order, evictions."""
    items = []
    for k in m.walk() if hasattr(m, "walk") else m.keys():
        items.append((bytes(k), m._lookup_raw(bytes(k), 0)))
    return items, getattr(m, "evictions", 0)


def _random_op(native: Driven, interp: Driven, rng: random.Random, key: bytes, value: bytes,
               step: int, shares: tuple[float, float, float, float]) -> bool | None:
    """One random operation on both maps, the same on each: an update or delete by
    user space (below shares[0]; an update below shares[1]), else a lookup (below
    shares[2]), an update with random flags (below shares[3]) or a delete by the driver
    program. The same answers and contents after it; whether the program's call was
    served natively (None: user space's)."""
    what = rng.random()
    if what < shares[0]:
        errors = []
        for m in (native.m, interp.m):
            try:
                m.update(key, value) if what < shares[1] else m.delete(key)
                errors.append(None)
            except Exception as e:  # noqa: BLE001  # the same error on both
                errors.append(type(e))
        assert errors[0] == errors[1]
        return None
    op = LOOKUP if what < shares[2] else UPDATE if what < shares[3] else DELETE
    flags = rng.choice([0, 0, 1, 2, 4]) if op == UPDATE else 0
    got, callbacks = native.call(op, key, value, flags)
    assert got == interp.call(op, key, value, flags)[0], (step, op, flags)
    assert contents(native.m) == contents(interp.m), (step, op, flags)
    return not callbacks


@pytest.mark.parametrize("kind", ["hash", "percpu_hash", "lru_hash", "lru_percpu_hash"])
@pytest.mark.parametrize("key_size", [4, 12])
def test_random_ops_match_the_interpreter(kind: str, key_size: int) -> None:
    rng = random.Random(f"{kind}{key_size}")
    spec = MapSpec(kind, key_size, 16, 8)
    native, interp = Driven(spec.create("vm"), True), Driven(spec.create("vm"), False)
    served = 0
    try:
        keys = [rng.randbytes(key_size) for _ in range(14)]
        for step in range(300):
            key = rng.choice(keys)
            value = rng.randbytes(16)
            native_call = _random_op(native, interp, rng, key, value, step,
                                     (0.1, 0.07, 0.45, 0.85))
            served += native_call is True
        assert served > 200  # most calls never reached Python
        if kind.startswith("lru"):
            assert native.m.evictions > 0
    finally:
        native.m.close()
        interp.m.close()


def test_a_full_hash_map_gives_e2big_natively() -> None:
    d = Driven(MapSpec("hash", 4, 8, 2).create("vm"), True)
    try:
        for k in (1, 2):
            assert d.call(UPDATE, bytes([k, 0, 0, 0]), bytes(8)) == (0, [])
        assert d.call(UPDATE, bytes(4), bytes(8)) == ((-7) & isa.M64, [])
        assert d.call(DELETE, bytes([1, 0, 0, 0])) == (0, [])
        assert d.call(DELETE, bytes([1, 0, 0, 0])) == ((-2) & isa.M64, [])
        assert d.call(UPDATE, bytes([2, 0, 0, 0]), bytes(8), 1) == ((-17) & isa.M64, [])
        assert d.call(UPDATE, bytes([3, 0, 0, 0]), bytes(8), 2) == ((-2) & isa.M64, [])
        assert list(d.m.keys()) == [b"\2\0\0\0"]
    finally:
        d.m.close()


def test_a_grown_map_and_a_walk_in_progress_go_to_python_with_the_same_results() -> None:
    spec = MapSpec("hash", 4, 8, 100, flags=1)  # BPF_F_NO_PREALLOC: 16 slots at first
    native, interp = Driven(spec.create("vm"), True), Driven(spec.create("vm"), False)
    try:
        calls = []
        for k in range(40):
            key = k.to_bytes(4, "little")
            r0, cb = native.call(UPDATE, key, bytes(8))
            calls += cb
            assert r0 == interp.call(UPDATE, key, bytes(8))[0]
        assert calls and len(calls) < 40  # growing is Python's, the rest native
        assert contents(native.m) == contents(interp.m)
        walks = [d.m.walk() for d in (native, interp)]
        assert [next(w) for w in walks] == [bytes(4), bytes(4)]
        for d in (native, interp):  # delete the key the walks visit next
            r0, cb = d.call(DELETE, (1).to_bytes(4, "little"))
            assert r0 == 0
        assert [next(w) for w in walks] == [(2).to_bytes(4, "little")] * 2
        del walks
        assert native.call(DELETE, (3).to_bytes(4, "little")) == (0, [])
        interp.call(DELETE, (3).to_bytes(4, "little"))
        assert contents(native.m) == contents(interp.m)
    finally:
        native.m.close()
        interp.m.close()


def test_the_pointer_a_program_holds_sees_a_native_update() -> None:
    m = MapSpec("lru_hash", 4, 8, 4).create("vm")
    try:
        m.update(7, (5).to_bytes(8, "little"))
        key = (7).to_bytes(4, "little")
        code = _bytes_at(-64, key) + [
            Instruction.lddw(1, m.fd, isa.BPF_PSEUDO_MAP_FD), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -64),
            I(isa.OPCODE_CALL, 0, 0, 0, LOOKUP), I(0xBF, 6, 0),
            I(0x7A, 10, 0, -128, 99),  # *(u64 *)(r10 - 128) = 99
            Instruction.lddw(1, m.fd, isa.BPF_PSEUDO_MAP_FD), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -64),
            I(0xBF, 3, 10), I(0x07, 3, 0, 0, -128), I(0xB7, 4, 0, 0, 0),
            I(isa.OPCODE_CALL, 0, 0, 0, UPDATE), I(0x79, 0, 6, 0), I(isa.OPCODE_EXIT)]
        vm = Counting(isa.encode(code), maps=[m])
        assert vm.execute().r0 == 99 and vm.callbacks == []
        assert m.lookup(7) == (99).to_bytes(8, "little")
    finally:
        m.close()


def _lpm_key(plen: int, addr: str) -> bytes:
    return plen.to_bytes(4, "little") + bytes(int(x) for x in addr.split("."))


def test_lpm_lookups_are_native_longest_match_first() -> None:
    spec = MapSpec("lpm_trie", 8, 8, 64, flags=1)
    native, interp = Driven(spec.create("vm"), True), Driven(spec.create("vm"), False)
    rng = random.Random(4)
    try:
        prefixes = [(0, "0.0.0.0"), (8, "10.0.0.0"), (16, "10.1.0.0"), (24, "10.1.2.0"),
                    (32, "10.1.2.3"), (12, "172.16.0.0"), (13, "172.24.0.0"),
                    (31, "192.168.0.6"), (7, "254.0.0.0")]
        for i, (plen, addr) in enumerate(prefixes):
            for d in (native, interp):
                d.m.update(_lpm_key(plen, addr), i.to_bytes(8, "little"))
        for d in (native, interp):
            d.m.delete(_lpm_key(0, "0.0.0.0"))  # a prefix length gone again
        for _ in range(200):
            key = _lpm_key(rng.choice([0, 5, 8, 12, 13, 16, 23, 24, 31, 32, 33]),
                           rng.choice(["10.1.2.3", "10.1.2.200", "10.1.9.9", "10.200.0.1",
                                       "172.16.5.5", "172.31.0.1", "192.168.0.7",
                                       "192.168.0.5", "255.1.1.1", "8.8.8.8"]))
            assert native.call(LOOKUP, key) == (interp.call(LOOKUP, key)[0], [])
        assert contents(native.m) == contents(interp.m)
        # a program's update of a trie is native too, and its lookups see it
        assert native.call(UPDATE, _lpm_key(24, "10.9.9.0"), bytes(8)) == (0, [])
        assert native.call(LOOKUP, _lpm_key(32, "10.9.9.9")) == (1, [])
    finally:
        native.m.close()
        interp.m.close()


@pytest.mark.parametrize("key_size,max_entries", [(5, 6), (8, 12), (8, 40), (20, 24)])
def test_lpm_updates_and_deletes_are_native_and_match_the_interpreter(
        key_size: int, max_entries: int) -> None:
    """Random lookups, updates and deletes on a trie (prefixes that share bits, keys
    that name one entry with different bits past the prefix, a full trie, a trie that
    must grow, prefixlen past the longest): the same answers, the same entries in the
    same order with the key as last written, the same prefix lengths for lookups."""
    rng = random.Random(f"lpm{key_size}{max_entries}")
    spec = MapSpec("lpm_trie", key_size, 8, max_entries, flags=1)
    native, interp = Driven(spec.create("vm"), True), Driven(spec.create("vm"), False)
    dlen = key_size - 4
    bases = [rng.randbytes(dlen) for _ in range(4)]
    lens = sorted({0, 1, 3, 8 * dlen, 8 * dlen + 1, *(rng.randrange(8 * dlen + 1)
                                                       for _ in range(6))})
    served = 0
    try:
        for step in range(600):
            base = bytearray(rng.choice(bases))
            base[rng.randrange(dlen)] ^= 1 << rng.randrange(8)  # bits past or in the prefix
            key = rng.choice(lens).to_bytes(4, "little") + bytes(base)
            value = rng.randbytes(8)
            native_call = _random_op(native, interp, rng, key, value, step,
                                     (0.08, 0.05, 0.4, 0.8))
            served += native_call is True
            ni, ii = native.m.key_index, interp.m.key_index
            assert list(ni.lens[:ni.h[Key.NLENS]]) == list(ii.lens[:ii.h[Key.NLENS]])
        assert served > 450  # most calls never reached Python
    finally:
        native.m.close()
        interp.m.close()


def test_jit_and_interpreter_agree_on_generated_map_programs() -> None:
    """Programs of several map calls in a row on one hash map (key, flags and value
    from a seeded generator, values loaded through the pointers): the same r0 and
    map contents on the JIT and the interpreter."""
    rng = random.Random(11)
    for round_ in range(4):
        kind = rng.choice(["hash", "lru_hash", "percpu_hash", "lru_percpu_hash"])
        spec = MapSpec(kind, 4, 8, 3)
        maps = [spec.create("vm"), spec.create("vm")]
        try:
            ops = [(rng.choice([LOOKUP, UPDATE, UPDATE, DELETE]), rng.randrange(5),
                    rng.choice([0, 0, 1, 2]), rng.randrange(1 << 30)) for _ in range(12)]
            results = []
            for cls, m in zip((JitVM, VM), maps):
                code = []
                for op, k, flags, v in ops:
                    code += _bytes_at(-64, k.to_bytes(4, "little"))
                    code += [I(0x7A, 10, 0, -128, v),
                             Instruction.lddw(1, m.fd, isa.BPF_PSEUDO_MAP_FD),
                             I(0xBF, 2, 10), I(0x07, 2, 0, 0, -64), I(0xBF, 3, 10),
                             I(0x07, 3, 0, 0, -128), I(0xB7, 4, 0, 0, flags),
                             I(isa.OPCODE_CALL, 0, 0, 0, op)]
                    if op == LOOKUP:  # r9 ^= *(u64 *)r0 and r0 = 1 when found
                        code += [I(0x15, 0, 0, 3, 0), I(0x79, 1, 0, 0), I(0xAF, 9, 1),
                                 I(0xB7, 0, 0, 0, 1)]
                    code += [I(0x0F, 9, 0)]  # r9 += r0
                code += [I(0xBF, 0, 9), I(isa.OPCODE_EXIT)]
                results.append((cls(isa.encode([I(0xB7, 9, 0, 0, 0)] + code),
                                    maps=[m]).execute().r0, contents(m)))
            assert results[0] == results[1], (round_, kind)
        finally:
            for m in maps:
                m.close()


class AllCallbacks(JitVM):
    """A JitVM that records every callback (loads, stores, helpers) by operation."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.ops: list[int] = []

    def _on_callback(self, stp: int, op: int, a: int, b: int, c: int, pc: int) -> int:
        self.ops.append(op)
        return super()._on_callback(stp, op, a, b, c, pc)


@pytest.mark.parametrize("kind", ["array", "percpu_array", "hash", "lru_percpu_hash"])
def test_loads_and_stores_through_a_value_pointer_are_native(kind: str) -> None:
    """The region table covers map values (segments 0x4d50....): a program that looks
    a value up and bumps it through the pointer never calls back into Python."""
    m = MapSpec(kind, 4, 8, 4).create("vm")
    try:
        m.update(2, (41).to_bytes(8, "little"))
        code = _bytes_at(-64, (2).to_bytes(4, "little")) + [
            Instruction.lddw(1, m.fd, isa.BPF_PSEUDO_MAP_FD), I(0xBF, 2, 10),
            I(0x07, 2, 0, 0, -64), I(isa.OPCODE_CALL, 0, 0, 0, LOOKUP),
            I(0x79, 1, 0, 0), I(0x07, 1, 0, 0, 1), I(0x7B, 0, 1, 0), I(0xBF, 0, 1),
            I(isa.OPCODE_EXIT)]
        vm = AllCallbacks(isa.encode(code), maps=[m])
        assert vm.execute().r0 == 42 and vm.ops == []
        got = m.lookup(2)
        assert (got[0] if "percpu" in kind else got) == (42).to_bytes(8, "little")
    finally:
        m.close()


def test_the_region_table_holds_every_plain_region_of_many_maps() -> None:
    """Map segments and the VM's own (stacks: 1, 2, ...) share their low bits; the
    table's hash spreads them, so with 40 maps every region still has its entry."""
    from pybpf.jit.layout import TABLE_WORDS, Entry, Slot, table_index
    from pybpf.jit.machine import _Run
    maps = [MapSpec("array", 4, 8, 1).create("vm") for _ in range(40)]
    try:
        code = [Instruction.lddw(1, m.fd, isa.BPF_PSEUDO_MAP_FD) for m in maps]
        vm = JitVM(isa.encode([*code, I(0xB7, 0, 0, 0, 0), I(isa.OPCODE_EXIT)]), maps=maps)
        memory = Memory()
        for m in maps:
            memory.regions[m.segment] = m.region
        for i in range(8):
            memory.map(f"stack[{i}]", bytearray(512))
        run = _Run(None, memory, (), 1, {})
        run.sync()
        shift, mult = run.st[Slot.SHIFT], run.st[Slot.MULT]
        for seg, region in memory.regions.items():
            i = table_index(seg, shift, mult) * TABLE_WORDS
            assert run.table.words[i + Entry.BASE] == region.base, region.name
            assert run.table.words[i + Entry.LIMIT] == len(region.buf)
        assert vm.execute().r0 == 0
    finally:
        for m in maps:
            m.close()


@pytest.mark.parametrize("kind", ["hash", "lru_hash", "lpm_trie"])
@pytest.mark.parametrize("key_off", [-2, 510, 1 << 20])
def test_a_key_outside_memory_faults_as_on_the_interpreter(kind: str, key_off: int) -> None:
    """A key (or a value) partly or wholly outside the program's memory: the fast path
    leaves the call to the Python helper, which faults exactly as on the interpreter."""
    spec = MapSpec(kind, 8, 8, 4, flags=1 if kind == "lpm_trie" else 0)
    m = spec.create("vm")
    try:
        errors = []
        for cls in (VM, JitVM):
            for op in (LOOKUP, UPDATE, DELETE):
                code = [Instruction.lddw(1, m.fd, isa.BPF_PSEUDO_MAP_FD), I(0xBF, 2, 10),
                        I(0x07, 2, 0, 0, key_off - 512), I(0xBF, 3, 10),
                        I(0x07, 3, 0, 0, key_off - 512), I(0xB7, 4, 0, 0, 0),
                        I(isa.OPCODE_CALL, 0, 0, 0, op), I(isa.OPCODE_EXIT)]
                try:
                    errors.append(("ok", cls(isa.encode(code), maps=[m]).execute().r0))
                except Exception as e:  # noqa: BLE001  # compared across engines
                    errors.append((type(e).__name__, str(e)))
        assert errors[:3] == errors[3:]
        assert all(e[0] == "MemoryAccessError" for e in errors)
    finally:
        m.close()


@pytest.mark.parametrize("remember", [False, True], ids=["rows", "last sync"])
def test_region_tables_are_remembered_by_their_rows(remember: bool) -> None:
    """A run's region table is made once for the same plain regions (the VM keeps
    it), and anew when a region's buffer moves, its size or writability changes, or
    a region comes or goes; a released view is left out of it. The same with the
    VM's memory of the last sync of each Memory (which skips the rows while nothing
    changed), and then also when a buffer is replaced in place or grows."""
    from pybpf.jit.layout import TABLE_WORDS, Entry, Slot, table_index
    from pybpf.jit.machine import _Run, host_address
    tables: dict = {}
    synced: dict | None = {} if remember else None
    memory = Memory()
    a = memory.map("a", bytearray(64))
    view = memoryview(bytearray(32))
    b = memory.map("b", view)

    def table() -> Any:
        run = _Run(None, memory, (), 1, {}, tables, synced)
        run.sync()
        assert run.st[Slot.TABLE] == run.table.address
        return run.table

    first = table()
    assert table() is first and len(tables) == 1
    shift, mult = first.shift, first.mult
    entry = table_index(a.base >> 32, shift, mult) * TABLE_WORDS
    assert list(first.words[entry:entry + TABLE_WORDS]) == [
        64, 64, host_address(a.buf), a.base]
    a.buf = bytearray(128)  # moved and grown
    moved = table()
    assert moved is not first and moved.words[entry + Entry.LIMIT] == 128
    a.writable = False
    assert table().words[entry + Entry.WLIMIT] == 0
    c = memory.map("c", bytearray(8))
    with_c = table()
    assert with_c.words[table_index(c.base >> 32, with_c.shift, with_c.mult) * TABLE_WORDS
                        + Entry.BASE] == c.base
    view.release()
    gone = table()
    b_entry = table_index(b.base >> 32, gone.shift, gone.mult) * TABLE_WORDS
    assert gone.words[b_entry + Entry.BASE] != b.base
    assert table() is gone
    a.buf.extend(bytes(64))  # the same bytearray, grown (and maybe moved)
    grown = table()
    assert grown.words[entry + Entry.LIMIT] == 192
    assert grown.words[entry + Entry.HOST] == host_address(a.buf)
    a.access = _Passthrough()  # served by an access now: no row
    assert table().words[entry + Entry.BASE] != a.base


class _Passthrough:
    """A RegionAccess with no window (every access through Python)."""

    def load(self, off: int, size: int, pc: int) -> int:
        return 0

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        pass


def test_packet_window_is_served_natively_and_follows_the_helpers(monkeypatch: Any) -> None:
    """On the JIT a test run's loads and stores inside the packet window need no
    Python (the window is a row of the region table), and after a helper moved the
    window the table follows it: results, output and faults as on the interpreter."""
    from pybpf.builder import R0, R1, R2, R3, R6, R7, ObjectBuilder
    from pybpf.vm import memory as vm_memory

    def program(fault: bool) -> Any:
        ob = ObjectBuilder()
        p = ob.program("window", "xdp")
        p.mov64(R6, R1)
        p.ldxw(R2, R6, 0)
        p.ldxb(R7, R2, 12).stxb(R2, 0, R7)  # packet[0] = packet[12]
        p.mov64(R1, R6).mov64(R2, 14).call(44)  # bpf_xdp_adjust_head(ctx, 14)
        p.ldxw(R2, R6, 0)
        p.ldxb(R0, R2, 0).lsh64(R0, 8).or64(R0, R7)  # new packet[0] << 8 | old byte 12
        if fault:
            p.ldxb(R3, R2, -1)  # before the window now: a fault
        p.exit()
        return ob.build()

    packet = bytes(range(60))
    seen: list[str] = []
    load, store = vm_memory.Memory.load, vm_memory.Memory.store

    def counted_load(self: Any, addr: int, size: int, pc: int) -> int:
        seen.append(self.regions[addr >> 32].name)
        return load(self, addr, size, pc)

    def counted_store(self: Any, addr: int, size: int, value: int, pc: int) -> None:
        seen.append(self.regions[addr >> 32].name)
        store(self, addr, size, value, pc)

    monkeypatch.setattr(vm_memory.Memory, "load", counted_load)
    monkeypatch.setattr(vm_memory.Memory, "store", counted_store)
    for fault in (False, True):
        outcomes = []
        for engine in ("interp", "jit"):
            with program(fault).instantiate("vm", engine=engine, verify=False) as obj:
                prog = obj.programs["window"]
                seen.clear()
                try:
                    res = prog.test_run(packet)
                    outcomes.append((res.retval, res.data_out))
                except pybpf.PyBPFError as e:
                    outcomes.append((type(e).__name__, str(e)))
                if engine == "jit":  # (xdp_md's fields come from the context's words)
                    assert seen == (["packet"] if fault else [])
        assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] == "MemoryAccessError" and "outside the packet window" in outcomes[1][1]


def test_a_window_that_moves_keeps_its_table() -> None:
    """Packets of every length run on one remembered table (the window's entry is
    written at each run), and each run sees its own window: the XDP program returns
    data_end - data, read through a load of the packet's last byte."""
    from pybpf.builder import R0, R1, R2, R3, R6, ObjectBuilder
    ob = ObjectBuilder()
    p = ob.program("lastbyte", "xdp")
    p.mov64(R6, R1).ldxw(R2, R6, 0).ldxw(R3, R6, 4)
    p.mov64(R0, R3).sub64(R0, R2)
    p.add64(R3, -1).ldxb(R1, R3, 0).add64(R0, R1)  # + the last byte (unchecked: no verifier)
    p.exit()
    with ob.build().instantiate("vm", engine="jit", verify=False) as obj:
        prog = obj.programs["lastbyte"]
        for n in range(14, 200, 7):
            assert prog.test_run(bytes([n & 0xFF]) * n).retval == n + (n & 0xFF)
        assert len(prog.handle._tables) == 1
