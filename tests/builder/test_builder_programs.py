"""Programs made with the builder run on the VM and in the kernel with the same
results: an XDP packet counter in an array map, BPF-to-BPF calls, a tail call through
a prog_array, a bpf_loop callback by function pointer, typed (BTF) map values."""

from __future__ import annotations

import ctypes

import pytest

from pybpf.builder import (FP, R0, R1, R2, R3, R4, R6, R7, ObjectBuilder, Struct)
from pybpf.objects.spec import ObjectSpec

BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]
XDP_PASS, XDP_DROP = 2, 1


def xdp_counter() -> ObjectSpec:
    """Counts packets in slot 0 and bytes in slot 1 of an array map; passes all."""
    ob = ObjectBuilder()
    ob.map("counters", "array", key="u32", value="u64", max_entries=2)
    p = ob.program("xdp_count", "xdp")
    p.ldxw(R2, R1, 0).ldxw(R3, R1, 4)          # data, data_end
    p.mov64(R7, R3).sub64(R7, R2)              # r7 = length
    for slot, value in ((0, None), (1, R7)):
        p.stw(FP, -4, slot)
        p.mov64(R2, FP).add64(R2, -4)
        p.ld_map_fd(R1, "counters")
        p.call("map_lookup_elem")
        p.jeq(R0, 0, f"skip{slot}")
        p.mov64(R1, 1 if value is None else value)
        p.atomic_add("dw", R0, 0, R1)
        p.label(f"skip{slot}")
    p.ret(XDP_PASS)
    return ob.build()


@pytest.mark.parametrize("backend", BACKENDS)
def test_xdp_counter(backend: str) -> None:
    spec = xdp_counter()
    assert spec.programs["xdp_count"].type == 6  # BPF_PROG_TYPE_XDP, from the section
    with spec.instantiate(backend) as obj:
        prog = obj.programs["xdp_count"]
        for n in (60, 100, 1500):
            assert prog.test_run(bytes(n)).retval == XDP_PASS
        assert dict(obj.maps["counters"].typed) == {0: 3, 1: 1660}


def subprogram_calls() -> ObjectSpec:
    """main -> poly(len) -> square(len): r0 = len*len + 3*len + 7, stored in a map,
    the low byte returned as the verdict's... no: XDP_PASS if even, XDP_DROP if odd."""
    ob = ObjectBuilder()
    ob.map("result", "array", key="u32", value="u64", max_entries=1)
    sq = ob.function("square")
    sq.mov64(R0, R1).mul64(R0, R1).exit()
    poly = ob.function("poly")
    poly.mov64(R6, R1)
    poly.call_func("square")
    poly.mov64(R1, R6).mul64(R1, 3).add64(R0, R1).add64(R0, 7)
    poly.exit()
    p = ob.program("main", "xdp")
    p.ldxw(R2, R1, 0).ldxw(R1, R1, 4).sub64(R1, R2)
    p.call_func("poly")
    p.mov64(R7, R0)
    p.stw(FP, -4, 0).mov64(R2, FP).add64(R2, -4)
    p.ld_map_fd(R1, "result").call("map_lookup_elem")
    p.jeq(R0, 0, "out")
    p.stxdw(R0, 0, R7)
    p.label("out")
    p.and64(R7, 1)
    p.mov64(R0, XDP_PASS).jeq(R7, 0, "even").mov64(R0, XDP_DROP)
    p.label("even").exit()
    return ob.build()


@pytest.mark.parametrize("backend", BACKENDS)
def test_subprogram_calls(backend: str) -> None:
    spec = subprogram_calls()
    prog = spec.programs["main"]
    assert [n for n, _ in prog.functions] == ["main", "poly", "square"]
    with spec.instantiate(backend) as obj:
        for n in (14, 15, 64):
            r = obj.programs["main"].test_run(bytes(n))
            want = n * n + 3 * n + 7
            assert obj.maps["result"].typed[0] == want
            assert r.retval == (XDP_PASS if want % 2 == 0 else XDP_DROP)


def tail_calls() -> ObjectSpec:
    """dispatcher tail-calls jump_table[first byte of the packet]; slot 0 returns
    XDP_DROP, slot 1 XDP_TX (3), slot 2 is empty: the dispatcher returns XDP_PASS."""
    ob = ObjectBuilder()
    ob.map("jump_table", "prog_array", key=4, value=4, max_entries=3,
           values={0: "drop_it", 1: "bounce"})
    for name, verdict in (("drop_it", XDP_DROP), ("bounce", 3)):
        ob.program(name, "xdp").ret(verdict)
    d = ob.program("dispatcher", "xdp")
    d.mov64(R6, R1)
    d.ldxw(R2, R1, 0).ldxw(R3, R1, 4)
    d.mov64(R4, R2).add64(R4, 1)
    d.jgt(R4, R3, "pass")                       # no byte
    d.ldxb(R3, R2, 0)
    d.mov64(R1, R6).ld_map_fd(R2, "jump_table").call("tail_call")
    d.label("pass").ret(XDP_PASS)
    return ob.build()


@pytest.mark.parametrize("backend", BACKENDS)
def test_tail_call(backend: str) -> None:
    spec = tail_calls()
    assert spec.map_values == {"jump_table": [(0, "drop_it"), (1, "bounce")]}
    with spec.instantiate(backend, programs=["dispatcher"]) as obj:
        run = obj.programs["dispatcher"].test_run
        assert [run(bytes([k]) + bytes(63)).retval for k in (0, 1, 2, 200)] == \
            [XDP_DROP, 3, XDP_PASS, XDP_PASS]


def loop_callback() -> ObjectSpec:
    """bpf_loop(10, add_index, &sum): the callback adds each index to a stack slot."""
    ob = ObjectBuilder()
    cb = ob.function("add_index")
    cb.ldxdw(R3, R2, 0).add64(R3, R1).stxdw(R2, 0, R3)
    cb.ret(0)
    p = ob.program("looper", "xdp")
    p.stdw(FP, -8, 100)
    p.mov64(R1, 10)
    p.ld_func(R2, "add_index")
    p.mov64(R3, FP).add64(R3, -8)
    p.mov64(R4, 0)
    p.call("loop")
    p.ldxdw(R0, FP, -8)
    p.exit()
    return ob.build()


@pytest.mark.parametrize("backend", BACKENDS)
def test_function_pointer_callback(backend: str) -> None:
    with loop_callback().instantiate(backend) as obj:
        assert obj.programs["looper"].test_run(bytes(64)).retval == 100 + sum(range(10))


class Flow(ctypes.Structure):
    _fields_ = [("saddr", ctypes.c_uint32), ("proto", ctypes.c_uint8)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_typed_maps_from_ctypes_and_struct(backend: str) -> None:
    """Key and value types given as a ctypes Structure and a Struct become BTF, and the
    map's typed view decodes them; the program writes one entry."""
    ob = ObjectBuilder()
    stats = Struct("stats", [("packets", "u64"), ("bytes", "u64")])
    ob.map("flows", "hash", key=Flow, value=stats, max_entries=8)
    p = ob.program("put", "xdp")
    p.stw(FP, -8, 0x0100000A).stw(FP, -4, 0)   # key: 10.0.0.1, proto 0 (+ padding)
    p.stb(FP, -4, 17)
    p.stdw(FP, -24, 1).stdw(FP, -16, 42)      # value
    p.ld_map_fd(R1, "flows")
    p.mov64(R2, FP).add64(R2, -8)
    p.mov64(R3, FP).add64(R3, -24)
    p.mov64(R4, 0).call("map_update_elem")
    p.exit()
    spec = ob.build()
    assert spec.maps["flows"].key_size == 8 and spec.maps["flows"].value_size == 16
    with spec.instantiate(backend) as obj:
        assert obj.programs["put"].test_run(bytes(64)).retval == 0
        assert dict(obj.maps["flows"].typed) == {
            (0x0100000A, 17): {"packets": 1, "bytes": 42}} or \
            list(obj.maps["flows"].typed.items()) == [
            ({"saddr": 0x0100000A, "proto": 17}, {"packets": 1, "bytes": 42})]


def test_built_spec_is_deterministic() -> None:
    a, b = xdp_counter(), xdp_counter()
    assert a.programs["xdp_count"].instructions == b.programs["xdp_count"].instructions
    assert a.programs["xdp_count"].map_refs == b.programs["xdp_count"].map_refs


def globals_program() -> ObjectSpec:
    """Globals in .rodata (a limit), .data (a struct) and .bss (a counter): packets
    longer than `limit` are dropped and counted in `dropped`; `stats.seen` counts all."""
    ob = ObjectBuilder()
    ob.global_var("limit", "u32", 100, const=True)
    ob.global_var("stats", Struct("stats", [("seen", "u64"), ("tag", "u32")]),
                  {"seen": 0, "tag": 7})
    ob.global_var("dropped", "u64")
    p = ob.program("limiter", "xdp")
    p.ldxw(R2, R1, 0).ldxw(R3, R1, 4).sub64(R3, R2)     # r3 = length
    p.ld_global(R4, "stats").mov64(R1, 1).atomic_add("dw", R4, 0, R1)
    p.ld_global(R4, "limit").ldxw(R4, R4, 0)
    p.jgt(R3, R4, "drop").ret(XDP_PASS)
    p.label("drop")
    p.ld_global(R4, "dropped").mov64(R1, 1).atomic_add("dw", R4, 0, R1)
    p.ret(XDP_DROP)
    return ob.build()


@pytest.mark.parametrize("backend", BACKENDS)
def test_globals_in_data_sections(backend: str) -> None:
    spec = globals_program()
    assert set(spec.maps) == {".rodata", ".data", ".bss"}
    assert spec.maps[".rodata"].freeze
    spec.set_global("limit", 60)   # a .rodata config, typed by BTF, before loading
    with spec.instantiate(backend) as obj:
        run = obj.programs["limiter"].test_run
        assert [run(bytes(n)).retval for n in (60, 61, 200, 14)] == \
            [XDP_PASS, XDP_DROP, XDP_DROP, XDP_PASS]
        assert obj.globals.dropped == 2
        assert obj.globals.stats == {"seen": 4, "tag": 7}
        assert obj.globals.limit == 60
        assert obj.warnings == []


def test_building_again_after_adding_a_global() -> None:
    ob = ObjectBuilder()
    ob.global_var("a", "u32", 1)
    ob.program("p", "xdp").ld_global(R1, "a").ldxw(R0, R1, 0).exit()
    first = ob.build()
    ob.global_var("b", "u64", 2)
    second = ob.build()
    assert first.maps[".data"].value_size == 4
    assert second.maps[".data"].value_size == 16
    assert second.globals["b"].offset == 8
    with second.instantiate("vm") as obj:
        assert obj.globals.b == 2 and obj.programs["p"].test_run(bytes(64)).retval == 1
