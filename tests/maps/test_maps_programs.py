"""Programs using maps: the same assembly on the VM (VM(code, maps=...)) and in the
kernel (XDP, BPF_PROG_TEST_RUN), with the map helpers under their kernel IDs."""

from __future__ import annotations

import ctypes
import errno

import pytest

from pybpf.asm import assemble
from pybpf.errors import HelperError, InvalidProgram, MemoryAccessError
from pybpf.maps import Map, MapSpec, MapTable, possible_cpus
from pybpf.uapi import MapFlag, ProgType
from pybpf.vm import VM, Memory

M64 = (1 << 64) - 1


def u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


def u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


def run(backend: str, text: str, maps: list[Map]) -> int:
    """Run once; returns r0 (the kernel's 32-bit retval, sign-extended like a C int)."""
    code = assemble(text)
    if backend == "vm":
        return VM(code, maps=maps).execute().r0 & 0xFFFF_FFFF
    from pybpf.kernel import prog_load
    with prog_load(ProgType.XDP, code) as prog:
        return prog.test_run(bytes(64)).retval


BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]

COUNTER = """
    *(u32 *)(r10 -4) = {key}
    r1 = map_fd({fd})
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    if r0 == 0 goto miss
    r1 = *(u64 *)(r0 +0)
    r1 += {add}
    *(u64 *)(r0 +0) = r1
    r0 = 1
    exit
miss:
    r0 = 0
    exit
"""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["array", "hash", "lru_hash"])
def test_lookup_returns_a_pointer_into_the_value(backend: str, kind: str) -> None:
    with MapSpec(kind, 4, 8, 4).create(backend) as m:
        m[1] = 10
        for _ in range(3):
            assert run(backend, COUNTER.format(key=1, fd=m.fd, add=5), [m]) == 1
        assert m[1] == u64(25)
        assert run(backend, COUNTER.format(key=7, fd=m.fd, add=5), [m]) == 0


UPDATE = """
    *(u32 *)(r10 -4) = {key}
    *(u64 *)(r10 -16) = {value}
    r1 = map_fd({fd})
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = {flags}
    call bpf_map_update_elem
    exit
"""

DELETE = """
    *(u32 *)(r10 -4) = {key}
    r1 = map_fd({fd})
    r2 = r10
    r2 += -4
    call bpf_map_delete_elem
    exit
"""


def neg(e: int) -> int:
    return (-e) & 0xFFFF_FFFF


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_and_delete_return_the_kernels_errors(backend: str) -> None:
    with MapSpec("hash", 4, 8, 2).create(backend) as h, \
            MapSpec("array", 4, 8, 2).create(backend) as a:
        up = lambda m, k, f=0: run(backend, UPDATE.format(key=k, value=k * 10, fd=m.fd,  # noqa
                                                          flags=f), [m])
        dl = lambda m, k: run(backend, DELETE.format(key=k, fd=m.fd), [m])  # noqa
        assert [up(h, 1), up(h, 2), up(h, 3), up(h, 1, 1), up(h, 9, 2), up(h, 1, 7)] == \
            [0, 0, neg(errno.E2BIG), neg(errno.EEXIST), neg(errno.ENOENT), neg(errno.EINVAL)]
        assert [dl(h, 1), dl(h, 1)] == [0, neg(errno.ENOENT)]
        assert dict(h.items()) == {u32(2): u64(20)}
        assert [up(a, 1), up(a, 2), up(a, 0, 1), dl(a, 0)] == \
            [0, neg(errno.E2BIG), neg(errno.EEXIST), neg(errno.EINVAL)]
        assert a[1] == u64(10)


QUEUE = """
    *(u64 *)(r10 -8) = 11
    r1 = map_fd({fd})
    r2 = r10
    r2 += -8
    r3 = 0
    call bpf_map_push_elem
    *(u64 *)(r10 -8) = 22
    r1 = map_fd({fd})
    r2 = r10
    r2 += -8
    r3 = 0
    call bpf_map_push_elem
    r6 = r0
    r1 = map_fd({fd})
    r2 = r10
    r2 += -8
    call bpf_map_pop_elem
    r7 = *(u64 *)(r10 -8)
    *(u64 *)(r10 -8) = 77
    r1 = map_fd({fd})
    r2 = r10
    r2 += -8
    call bpf_map_peek_elem
    r8 = *(u64 *)(r10 -8)
    r0 = r7
    r0 <<= 8
    r0 |= r8
    r0 <<= 8
    r6 &= 0xff
    r0 |= r6
    exit
"""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["queue", "stack"])
def test_push_pop_peek_from_a_program(backend: str, kind: str) -> None:
    with MapSpec(kind, 0, 8, 2).create(backend) as q:
        r0 = run(backend, QUEUE.format(fd=q.fd), [q])
        # queue pops 11 then peeks 22; stack pops 22 then peeks 11
        popped, peeked = (11, 22) if kind == "queue" else (22, 11)
        assert r0 == (popped << 16) | (peeked << 8)
        assert q.pop() == u64(peeked)
        with pytest.raises(KeyError):
            q.peek()
        # pop of an empty map: -ENOENT and the buffer zeroed
        text = f"""
            *(u64 *)(r10 -8) = 77
            r1 = map_fd({q.fd})
            r2 = r10
            r2 += -8
            call bpf_map_pop_elem
            r1 = *(u64 *)(r10 -8)
            r0 += r1
            exit"""
        assert run(backend, text, [q]) == neg(errno.ENOENT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bloom_filter_push_and_peek_from_a_program(backend: str) -> None:
    text = """
        *(u32 *)(r10 -4) = {v}
        r1 = map_fd({fd})
        r2 = r10
        r2 += -4
        {call}
        exit"""
    with MapSpec("bloom_filter", 0, 4, 64).create(backend) as b:
        peek = text.format(v=5, fd=b.fd, call="call bpf_map_peek_elem")
        push = text.format(v=5, fd=b.fd, call="r3 = 0\ncall bpf_map_push_elem")
        assert run(backend, peek, [b]) == neg(errno.ENOENT)
        assert run(backend, push, [b]) == 0
        assert run(backend, peek, [b]) == 0 and b.peek(5) is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_global_data_by_direct_value_address(backend: str) -> None:
    """lddw BPF_PSEUDO_MAP_VALUE: a single-entry array's value at an offset (.data)."""
    with MapSpec("array", 4, 16, 1, name=".data", contents=[(0, b"\x01" * 8 + u64(40))]
                 ).create(backend) as data:
        text = f"""
            r1 = map_value({data.fd}, 8)
            r0 = *(u64 *)(r1 +0)
            r0 += 2
            *(u64 *)(r1 +0) = r0
            exit"""
        assert run(backend, text, [data]) == 42
        assert data[0] == b"\x01" * 8 + u64(42)


def test_direct_value_needs_a_single_entry_array() -> None:
    with MapSpec("array", 4, 8, 2).create() as a, MapSpec("array", 4, 8, 1).create() as b:
        with pytest.raises(InvalidProgram, match="max_entries 1"):
            VM(assemble(f"r1 = map_value({a.fd}, 0)\nr0 = 0\nexit"), maps=[a])
        with pytest.raises(InvalidProgram, match="past value_size"):
            VM(assemble(f"r1 = map_value({b.fd}, 8)\nr0 = 0\nexit"), maps=[b])


def test_percpu_program_side_is_cpu0_and_lookup_percpu_elem() -> None:
    n = possible_cpus()
    with MapSpec("percpu_hash", 4, 8, 4).create() as m:
        text = UPDATE.format(key=3, value=5, fd=m.fd, flags=0)
        assert run("vm", text, [m]) == 0
        assert m[3] == [u64(5)] + [u64(0)] * (n - 1)  # a new element: zeros elsewhere
        m[3] = [u64(i + 100) for i in range(n)]
        lookup = f"""
            *(u32 *)(r10 -4) = 3
            r1 = map_fd({m.fd})
            r2 = r10
            r2 += -4
            r3 = {n - 1}
            call bpf_map_lookup_percpu_elem
            if r0 == 0 goto out
            r0 = *(u64 *)(r0 +0)
        out:
            exit"""
        assert run("vm", lookup, [m]) == 100 + n - 1
        assert run("vm", lookup.replace(f"r3 = {n - 1}", f"r3 = {n}"), [m]) == 0


def test_map_in_map_lookup_gives_the_inner_map() -> None:
    inner_spec = MapSpec("array", 4, 8, 2)
    with MapSpec("array_of_maps", 4, 4, 2, inner=inner_spec).create() as outer:
        inner = inner_spec.create()
        inner[1] = 41
        outer[0] = inner
        text = f"""
            *(u32 *)(r10 -4) = 0
            r1 = map_fd({outer.fd})
            r2 = r10
            r2 += -4
            call bpf_map_lookup_elem
            if r0 == 0 goto out
            *(u32 *)(r10 -8) = 1
            r1 = r0
            r2 = r10
            r2 += -8
            call bpf_map_lookup_elem
            if r0 == 0 goto out
            r1 = *(u64 *)(r0 +0)
            r1 += 1
            *(u64 *)(r0 +0) = r1
            r0 = r1
        out:
            exit"""
        vm = VM(assemble(text), maps=[outer])      # the inner map is found through outer
        assert vm.execute().r0 == 42 and inner[1] == u64(42)
        del outer[0]
        assert vm.execute().r0 == 0


def test_rdonly_prog_maps_refuse_program_writes() -> None:
    with MapSpec("array", 4, 8, 1, flags=MapFlag.RDONLY_PROG).create() as m:
        m[0] = 7   # user space may write
        with pytest.raises(MemoryAccessError, match="read-only") as e:
            run("vm", COUNTER.format(key=0, fd=m.fd, add=1), [m])
        assert e.value.region.startswith("map:")
        with pytest.raises(HelperError, match="write into map forbidden"):
            run("vm", UPDATE.format(key=0, value=1, fd=m.fd, flags=0), [m])


def test_frozen_maps_are_still_writable_by_programs() -> None:
    with MapSpec("array", 4, 8, 1, contents=[(0, 5)], freeze=True).create() as m:
        assert run("vm", COUNTER.format(key=0, fd=m.fd, add=1), [m]) == 1
        assert m[0] == u64(6)


def test_map_regions_addresses_and_helper_misuse() -> None:
    with MapSpec("hash", 4, 8, 4, name="flows").create() as m:
        table = MapTable([m])
        assert table[m.fd] is m and m.fd in table and len(table) == 1
        m[1] = 5
        mem = Memory()
        vm = VM(assemble(COUNTER.format(key=1, fd=m.fd, add=1)), maps=table)
        vm.execute(mem)
        assert mem.regions == {}  # map regions are per run
        regions = table.prepare()
        assert [r.name for r in regions] == ["map:flows"]
        # the value memory is a real buffer at a stable address
        addr = m.address
        assert ctypes.string_at(addr, 8) == u64(6)
        m[1] = 9
        assert m.address == addr and ctypes.string_at(addr, 8) == u64(9)
        with pytest.raises(HelperError, match="not a map pointer"):
            VM(assemble("r1 = 12345\nr2 = r10\ncall bpf_map_lookup_elem\nexit"),
               maps=table).execute()
        q = MapSpec("queue", 0, 8, 2).create()
        with pytest.raises(HelperError, match="queue"):
            VM(assemble(COUNTER.format(key=1, fd=q.fd, add=1)), maps=[q]).execute()
        # dereferencing the map pointer itself faults in the map's region
        with pytest.raises(MemoryAccessError, match="map:flows"):
            VM(assemble(f"r1 = map_fd({m.fd})\nr0 = *(u64 *)(r1 +0)\nexit"),
               maps=[m]).execute()


FOR_EACH = """
    r1 = map_fd({fd})
    r2 = func(cb)
    r3 = r10
    r3 += -8
    *(u64 *)(r10 -8) = 0
    r4 = 0
    call bpf_for_each_map_elem
    r1 = *(u64 *)(r10 -8)
    r0 <<= 32
    r0 |= r1
    exit
cb:
    r0 = *(u64 *)(r4 +0)
    r5 = *(u64 *)(r3 +0)
    r0 += r5
    *(u64 *)(r4 +0) = r0
    r5 = *(u32 *)(r2 +0)
    r0 = 0
    if r5 != {stop} goto keep
    r0 = 1
keep:
    exit
"""


@pytest.mark.parametrize("kind", ["hash", "array", "percpu_array"])
def test_for_each_map_elem_calls_back(kind: str) -> None:
    """callback(map, &key, &value, ctx) sums the values into ctx; returning 1 stops.
    VM only: the kernel needs BTF func_info for the callback (pybpf.btf's work)."""
    with MapSpec(kind, 4, 8, 4).create() as m:
        for i in range(4):
            m[i] = i + 1
        r = VM(assemble(FOR_EACH.format(fd=m.fd, stop=99)), maps=[m]).execute().r0
        assert r == (4 << 32) | 10
        stopped = VM(assemble(FOR_EACH.format(fd=m.fd, stop=1)), maps=[m]).execute().r0
        assert stopped == (2 << 32) | 3
        with pytest.raises(MemoryAccessError, match="read-only"):  # keys are read-only
            VM(assemble(FOR_EACH.format(fd=m.fd, stop=1).replace(
                "r5 = *(u32 *)(r2 +0)", "*(u32 *)(r2 +0) = 0")), maps=[m]).execute()


def test_for_each_callback_may_delete_and_budget_counts_callbacks() -> None:
    with MapSpec("hash", 4, 8, 8).create() as m:
        for i in range(8):
            m[i] = i
        text = f"""
            r1 = map_fd({m.fd})
            r2 = func(cb)
            r3 = 0
            r4 = 0
            call bpf_for_each_map_elem
            exit
        cb:
            r1 = map_fd({m.fd})
            call bpf_map_delete_elem
            r0 = 0
            exit"""
        res = VM(assemble(text), maps=[m]).execute()
        assert res.r0 == 8 and len(m) == 0
        assert res.executed == 6 + 8 * 4


def test_tail_call_runs_the_target_and_does_not_return() -> None:
    with MapSpec("prog_array", 4, 4, 2).create() as progs:
        target = VM(assemble("r0 = 42\nexit"))
        progs[1] = target
        assert progs[1] == u32(target.id)
        text = f"""
            r2 = map_fd({progs.fd})
            r3 = {{idx}}
            call bpf_tail_call
            r0 = 7
            exit"""
        assert VM(assemble(text.format(idx=1)), maps=[progs]).execute().r0 == 42
        assert VM(assemble(text.format(idx=0)), maps=[progs]).execute().r0 == 7  # empty


def test_perf_event_output_on_the_vm() -> None:
    with MapSpec("perf_event_array", 4, 4, 2).create() as events:
        events[0] = 100
        text = f"""
            *(u64 *)(r10 -8) = 0x1234
            r2 = map_fd({events.fd})
            r3 = {{flags}}
            r4 = r10
            r4 += -8
            r5 = 8
            call bpf_perf_event_output
            exit"""
        assert run("vm", text.format(flags="0xffffffff ll"), [events]) == 0
        assert run("vm", text.format(flags=1), [events]) == neg(errno.ENOENT)
        assert run("vm", text.format(flags=5), [events]) == neg(errno.E2BIG)
        assert events.events(0) == [u64(0x1234)] and events.events(0) == []
