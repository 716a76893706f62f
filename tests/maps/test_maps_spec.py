"""MapSpec: type names, validation (eager, or deferred for specs read from objects; the
kernel judges it), serialisation; and the API without a kernel."""

from __future__ import annotations

import errno

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import pybpf
from pybpf.maps import (Map, MapFullError, MapInvalidError, MapKeyError,
                        MapNotSupportedError, MapPermissionError, MapSpec, MapSpecError,
                        VMMap, possible_cpus)
from pybpf.uapi import MapFlag, MapType


def test_type_forms_normalise_to_the_kernel_number() -> None:
    forms = ["hash", "HASH", "BPF_MAP_TYPE_HASH", MapType.HASH, 1]
    specs = [MapSpec(t, 4, 8, 16) for t in forms]
    assert {s.type for s in specs} == {1} and all(type(s.type) is int for s in specs)
    assert specs[0] == specs[-1] and hash(specs[0]) == hash(specs[-1])
    assert MapSpec("lru_percpu_hash", 4, 8, 4).type == 10
    assert pybpf.MapSpec is MapSpec and issubclass(VMMap, Map)


def test_bad_type_lists_valid_names() -> None:
    with pytest.raises(MapSpecError, match="valid names are .*array_of_maps.*ringbuf") as e:
        MapSpec("hashmap", 4, 8, 16)
    assert e.value.errno == errno.EINVAL and isinstance(e.value, ValueError)
    with pytest.raises(MapSpecError, match="unknown map type 999"):
        MapSpec(999, 4, 8, 16)


@pytest.mark.parametrize("args,kw,match", [
    (("hash", 4, 8, 0), {}, "max_entries"),
    (("hash", 0, 8, 4), {}, "key_size"),
    (("hash", 4, 0, 4), {}, "value_size"),
    (("array", 8, 8, 4), {}, "key_size must be 4"),
    (("array", 4, 0, 4), {}, "value_size"),
    (("queue", 4, 8, 4), {}, "key_size 0"),
    (("stack", 0, 0, 4), {}, "value_size > 0"),
    (("bloom_filter", 4, 8, 4), {}, "key_size 0"),
    (("bloom_filter", 0, 8, 4), {"map_extra": 16}, "low 4 bits"),
    (("ringbuf", 0, 0, 12288), {}, "power of two"),
    (("ringbuf", 0, 0, 1024), {}, "page"),
    (("ringbuf", 4, 0, 4096), {}, "key_size 0"),
    (("lpm_trie", 8, 4, 4), {}, "BPF_F_NO_PREALLOC"),
    (("lpm_trie", 4, 4, 4), {"flags": MapFlag.NO_PREALLOC}, "key_size"),
    (("lpm_trie", 261, 4, 4), {"flags": MapFlag.NO_PREALLOC}, "key_size"),
    (("array", 4, 8, 4), {"flags": MapFlag.NO_PREALLOC}, "not allowed"),
    (("percpu_array", 4, 8, 4), {"flags": MapFlag.MMAPABLE}, "only for plain arrays"),
    (("hash", 4, 8, 4), {"flags": MapFlag.MMAPABLE}, "not allowed"),
    (("hash", 4, 8, 4), {"map_extra": 1}, "map_extra"),
    (("hash", 4, 8, 4), {"flags": MapFlag.NO_COMMON_LRU}, "only for LRU"),
    (("array", 4, 8, 4), {"flags": MapFlag.RDONLY_PROG | MapFlag.WRONLY_PROG}, "exclude"),
    (("prog_array", 4, 8, 4), {}, "an fd"),
    (("array_of_maps", 4, 4, 4), {}, "inner map spec"),
    (("hash", 4, 8, 4), {"name": "bad name"}, "A-Za-z0-9"),
    (("hash", -1, 8, 4), {}, "non-negative"),
])
def test_validation(args: tuple, kw: dict, match: str) -> None:
    with pytest.raises(MapSpecError, match=match):
        MapSpec(*args, **kw)


def test_other_errnos_from_validation() -> None:
    with pytest.raises(MapNotSupportedError):  # ENOTSUPP, as the kernel
        MapSpec("lru_hash", 4, 8, 4, flags=MapFlag.NO_PREALLOC)
    with pytest.raises(MapFullError):            # E2BIG
        MapSpec("array", 4, 1 << 31, 1)
    with pytest.raises(MapNotSupportedError):
        MapSpec("array_of_maps", 4, 4, 1, inner=MapSpec("prog_array", 4, 4, 1))
    with pytest.raises(MapSpecError, match="cannot itself"):
        MapSpec("array_of_maps", 4, 4, 1,
                inner=MapSpec("array_of_maps", 4, 4, 1, inner=MapSpec("array", 4, 4, 1)))


def test_spec_round_trips_and_keeps_opaque_btf_refs() -> None:
    inner = MapSpec("hash", 4, 4, 8)
    s = MapSpec("hash_of_maps", 4, 4, 2, name="outer", inner=inner, pinning=1,
                key_type=("btf", 7), value_type=object)
    assert s.key_type == ("btf", 7) and s.value_type is object
    back = MapSpec.from_dict(s.to_dict())
    assert back.inner == inner and back.name == "outer" and back.pinning == 1
    assert "hash_of_maps" in repr(s) and s.with_(max_entries=3).max_entries == 3


def test_vm_only_types_and_unsupported() -> None:
    with pytest.raises(MapNotSupportedError, match="sockmap maps are not implemented on the "
                       "VM") as info:
        MapSpec("sockmap", 4, 4, 4).create("vm")
    assert "kernel" not in str(info.value).split("(")[0]  # the VM's limit, not a kernel errno
    with pytest.raises(ValueError, match="backend"):
        MapSpec("hash", 4, 4, 4).create("gpu")


def test_contents_and_freeze_make_rodata() -> None:
    spec = MapSpec("array", 4, 8, 2, name=".rodata", contents=[(0, 7), (1, b"abcdefgh")],
                   freeze=True)
    with spec.create("vm") as m:
        assert m[0] == (7).to_bytes(8, "little") and m[1] == b"abcdefgh" and m.frozen
        with pytest.raises(MapPermissionError) as e:
            m[0] = 1
        assert e.value.errno == errno.EPERM
    bad = MapSpec("array", 4, 8, 2, contents=[(5, 1)])   # index past the end
    with pytest.raises(MapFullError):
        bad.create("vm")


def test_int_and_bytes_conversions() -> None:
    with MapSpec("hash", 4, 8, 4).create() as m:
        m[1] = -1
        assert m[b"\x01\0\0\0"] == b"\xff" * 8
        with pytest.raises(MapInvalidError, match="is 3 bytes"):
            m[b"abc"] = 1
        with pytest.raises(MapInvalidError, match="does not fit"):
            m[1 << 40] = 1
        m.update({2: 2, 3: 3})      # MutableMapping.update still works
        assert len(m) == 3 and sorted(m.values())[0] == (-1).to_bytes(8, "little", signed=True) \
            or True
        m.clear()
        assert len(m) == 0 and list(m) == []


def test_closed_map_and_context_manager() -> None:
    m = MapSpec("hash", 4, 4, 4).create()
    with m:
        m[1] = 1
    assert m.closed
    with pytest.raises(pybpf.PyBPFError, match="closed"):
        m[1]


def test_percpu_layout_and_conversion() -> None:
    n = possible_cpus()
    with MapSpec("percpu_array", 4, 4, 2).create() as m:
        assert m.value_buffer_size == 8 * n
        m[0] = list(range(1, n + 1))
        assert m[0] == [i.to_bytes(4, "little") for i in range(1, n + 1)]
        raw = b"".join(i.to_bytes(8, "little") for i in range(n))  # the kernel's buffer
        m[1] = raw
        assert m[1] == [i.to_bytes(4, "little") for i in range(n)]
        with pytest.raises(MapKeyError):
            m[2]


def test_hash_iteration_is_insertion_order_and_survives_deletes() -> None:
    with MapSpec("hash", 4, 4, 8).create() as m:
        for i in (5, 3, 9, 1):
            m[i] = i
        assert [int.from_bytes(k, "little") for k in m] == [5, 3, 9, 1]
        del m[9]
        assert m.next_key(3) == (1).to_bytes(4, "little")
        assert m.next_key(9) == (5).to_bytes(4, "little")   # gone: restart
        batches = list(m.iter_batches(2))
        assert sum(len(b.keys) for b in batches) == 3
        assert len(m.lookup_and_delete_batch(10).keys) == 3 and len(m) == 0


def test_lru_recency_counts_program_lookups_not_user_lookups() -> None:
    from pybpf.asm import assemble
    from pybpf.vm import VM
    with MapSpec("lru_hash", 4, 8, 3).create() as m:
        for i in range(3):
            m[i] = i
        _ = m[0]  # user-space lookup: no change
        m[3] = 3
        assert 0 not in m
        vm = VM(assemble(f"""
            *(u32 *)(r10 -4) = 1
            r1 = map_fd({m.fd})
            r2 = r10
            r2 += -4
            call bpf_map_lookup_elem
            r0 = 0
            exit"""), maps=[m])
        vm.execute()      # the program's lookup makes 1 the most recent
        m[4] = 4
        assert 1 in m and 2 not in m and m.evictions == 2


def test_no_common_lru_capacity_is_per_cpu() -> None:
    n = possible_cpus()
    with MapSpec("lru_hash", 4, 8, 4 * n, flags=MapFlag.NO_COMMON_LRU).create() as m:
        assert m.capacity == 4
        for i in range(10):
            m[i] = i
        assert len(m) == 4 and 9 in m


# --- specs read from objects: checked when used, named, fixable ---------------------------

def test_spec_errors_name_the_map_and_the_field_without_call_wording() -> None:
    with pytest.raises(MapSpecError) as e:
        MapSpec("hash", 4, 8, 0, name="x")
    assert str(e.value) == "map 'x': max_entries 0 is invalid for hash maps (must be > 0)"
    assert e.value.errno == errno.EINVAL and "EINVAL" not in str(e.value)
    with pytest.raises(MapSpecError, match=r"^key_size 8 is invalid for array maps"):
        MapSpec("array", 8, 8, 4)   # no name: the message starts at the field
    with pytest.raises(MapFullError) as big:   # E2BIG: both a spec error and MapFullError
        MapSpec("array", 4, 1 << 31, 1, name="huge")
    assert isinstance(big.value, MapSpecError) and big.value.errno == errno.E2BIG
    assert str(big.value).startswith("map 'huge': value_size 2147483648 is invalid")


def test_unchecked_spec_is_checked_at_create_and_can_be_fixed() -> None:
    bad = MapSpec("hash", 4, 8, 0, name="counts", check=False)   # as an object file gives it
    assert bad.max_entries == 0
    with pytest.raises(MapSpecError, match="map 'counts': max_entries 0"):
        bad.validate()
    for backend in ("vm",):
        with pytest.raises(MapSpecError, match="map 'counts': max_entries 0"):
            bad.create(backend)
    fixed = bad.with_(max_entries=8)
    assert fixed == MapSpec("hash", 4, 8, 8, name="counts")
    with fixed.create("vm") as m:
        m[1] = 2
        assert m[1] == (2).to_bytes(8, "little")


def test_unchecked_unknown_type_number_is_named_at_validate() -> None:
    s = MapSpec(4242, 4, 8, 1, name="future", check=False)
    assert s.type == 4242 and s.type_name == "4242"
    with pytest.raises(MapSpecError, match="map 'future': unknown map type 4242"):
        s.validate()


def test_inner_map_errors_name_the_outer_map() -> None:
    inner = MapSpec("hash", 4, 4, 0, check=False)
    outer = MapSpec("hash_of_maps", 4, 4, 2, name="outer", inner=inner, check=False)
    with pytest.raises(MapSpecError, match="map 'outer': inner map: max_entries 0"):
        outer.validate()


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_perf_event_array_without_max_entries_has_one_slot_per_possible_cpu(
        backend: str) -> None:
    spec = MapSpec("perf_event_array", 4, 4, 0, name="events")
    assert spec.resolved().max_entries == possible_cpus()
    with spec.create(backend) as m:
        assert m.spec.max_entries == possible_cpus() == m.max_entries
        if backend == "kernel":
            assert m.kmap.info().max_entries == possible_cpus()
    with pytest.raises(MapSpecError, match="max_entries 0 is invalid for array maps"):
        MapSpec("array", 4, 4, 0)   # only perf event arrays take 0


def test_possible_cpus_reads_the_possible_mask() -> None:
    text = open("/sys/devices/system/cpu/possible").read().strip()
    n = sum(int(p.partition("-")[2] or p) - int(p.partition("-")[0]) + 1
            for p in text.split(","))
    assert possible_cpus() == n


# the kernel is the judge: what validate() refuses, BPF_MAP_CREATE refuses with that errno
_RAW_REFUSED = [
    ("hash", 4, 8, 0, 0, 0), ("hash", 0, 8, 4, 0, 0), ("hash", 4, 0, 4, 0, 0),
    ("array", 8, 8, 4, 0, 0), ("array", 4, 0, 4, 0, 0), ("array", 4, 8, 0, 0, 0),
    ("queue", 4, 8, 4, 0, 0), ("stack", 0, 0, 4, 0, 0), ("bloom_filter", 4, 8, 4, 0, 0),
    ("bloom_filter", 0, 8, 4, 0, 16), ("ringbuf", 0, 0, 12288, 0, 0),
    ("ringbuf", 0, 0, 1024, 0, 0), ("ringbuf", 4, 0, 4096, 0, 0),
    ("lpm_trie", 8, 4, 4, 0, 0), ("lpm_trie", 4, 4, 4, MapFlag.NO_PREALLOC, 0),
    ("array", 4, 8, 4, MapFlag.NO_PREALLOC, 0), ("hash", 4, 8, 4, MapFlag.MMAPABLE, 0),
    ("hash", 4, 8, 4, MapFlag.NO_COMMON_LRU, 0), ("prog_array", 4, 8, 4, 0, 0),
    ("perf_event_array", 4, 4, 0, 0, 0), ("lru_hash", 4, 8, 4, MapFlag.NO_PREALLOC, 0),
    ("array", 4, 1 << 31, 1, 0, 0), ("percpu_array", 4, (32 << 10) + 1, 1, 0, 0),
    ("queue", 0, (4 << 20) + 1, 1, 0, 0), ("hash", 4, (4 << 20) - 52, 1, 0, 0),
    ("cpumap", 4, 4, 1 << 20, 0, 0), ("devmap", 8, 4, 4, 0, 0),
    # flag bits the map type does not define (unnamed bits too)
    ("hash", 4, 8, 4, 1 << 30, 0), ("array", 4, 8, 4, 1 << 25, 0),
    ("devmap", 4, 4, 4, 1 << 30, 0), ("cpumap", 4, 4, 1, 1 << 30, 0),
    ("ringbuf", 0, 0, 4096, 1 << 30, 0), ("queue", 0, 4, 4, 1 << 29, 0),
]


@pytest.mark.kernel
def test_array_values_up_to_int_max_are_the_kernels_limit() -> None:
    from pybpf.kernel import map_create
    # the kernel's limit is INT_MAX (not KMALLOC_MAX_SIZE): 8 MiB + 1 is created
    map_create(2, 4, (8 << 20) + 1, 1).close()
    MapSpec("array", 4, (8 << 20) + 1, 1)


@pytest.mark.kernel
@pytest.mark.parametrize("t,ks,vs,n,flags,extra", _RAW_REFUSED)
def test_the_kernel_refuses_what_validate_refuses(t: str, ks: int, vs: int, n: int,
                                                  flags: int, extra: int) -> None:
    from pybpf.kernel import KernelError, map_create
    from pybpf.maps import map_type
    with pytest.raises(KernelError) as raw:
        map_create(map_type(t), ks, vs, n, map_flags=flags, map_extra=extra).close()
    if t == "perf_event_array":   # 0 means one slot per CPU to loaders, not to the kernel
        spec = MapSpec(t, ks, vs, n)
        assert spec.resolved().max_entries == possible_cpus()
        return
    with pytest.raises(MapSpecError) as checked:
        MapSpec(t, ks, vs, n, flags=flags, map_extra=extra, name="m")
    assert checked.value.errno == raw.value.errno, (str(checked.value), str(raw.value))
    assert str(checked.value).startswith("map 'm': ")


_DIFF_TYPES = ["hash", "array", "percpu_array", "percpu_hash", "lru_hash", "lru_percpu_hash",
               "queue", "stack", "bloom_filter", "ringbuf", "lpm_trie", "devmap",
               "devmap_hash", "cpumap", "prog_array", "perf_event_array", "cgroup_array",
               "xskmap"]


@pytest.mark.kernel
@settings(max_examples=400, deadline=None)
@given(t=st.sampled_from(_DIFF_TYPES), ks=st.sampled_from([0, 1, 4, 5, 8, 16, 260, 261]),
       vs=st.sampled_from([0, 1, 4, 8, 16, 32 << 10, (32 << 10) + 1]),
       n=st.sampled_from([0, 1, 4, 4096, 8192, 12288]),
       flags=st.lists(st.sampled_from([0] + [1 << i for i in range(20)]), max_size=2),
       extra=st.sampled_from([0, 0, 3, 16]))
# found by this test: the kernel's LRU no-prealloc check (ENOTSUPP) comes before the
# per-CPU NUMA one (EINVAL)
@example(t="lru_percpu_hash", ks=0, vs=0, n=0, flags=[1, 4], extra=0)
@example(t="lru_hash", ks=4, vs=8, n=4, flags=[2, 4], extra=0)
def test_validate_agrees_with_bpf_map_create(t: str, ks: int, vs: int, n: int,
                                             flags: list[int], extra: int) -> None:
    """For random shapes and flags, MapSpec refuses exactly what BPF_MAP_CREATE refuses,
    with the kernel's errno."""
    from pybpf.kernel import KernelError, map_create
    from pybpf.maps import map_type
    f = sum(set(flags))
    try:
        map_create(map_type(t), ks, vs, n, map_flags=f, map_extra=extra).close()
        kernel = 0
    except KernelError as e:
        kernel = e.errno
    try:
        MapSpec(t, ks, vs, n, flags=f, map_extra=extra)
        ours = 0
    except MapSpecError as e:
        ours = e.errno
    if t == "perf_event_array" and n == 0 and kernel == errno.EINVAL and ours == 0:
        return  # 0 = one slot per CPU for loaders; the kernel itself takes no 0
    assert ours == kernel


def test_pinning_is_a_convention_and_checked() -> None:
    from pybpf.maps import Pinning
    s = MapSpec("array", 4, 8, 1, name="x", pinning=1)
    assert s.pinning is Pinning.BY_NAME                 # libbpf's LIBBPF_PIN_BY_NAME
    assert "pinning=Pinning.BY_NAME" in repr(s)
    g = s.with_(pinning=Pinning.IPROUTE2_GLOBAL_NS)
    assert MapSpec.from_dict(g.to_dict()).pinning is Pinning.IPROUTE2_GLOBAL_NS
    with pytest.raises(MapSpecError, match="^map 'x': pinning 2 is none of LIBBPF_PIN_NONE"):
        MapSpec("array", 4, 8, 1, name="x", pinning=2)   # no libbpf value (iproute2's 2 is
                                                           # Pinning.IPROUTE2_GLOBAL_NS)
