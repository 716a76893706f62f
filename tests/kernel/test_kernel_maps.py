"""Maps on the kernel: create, CRUD, iteration, batches, lookup-and-delete, freeze,
per-CPU values, info, and the errors the kernel gives."""

from __future__ import annotations

import errno

import pytest

from pybpf.kernel import (
    BpfCmd,
    KernelError,
    KernelExistsError,
    KernelKeyError,
    KernelPermissionError,
    KernelTooBigError,
    Map,
    MapType,
    abi,
    map_create,
    map_lookup_elem,
    map_update_elem,
    possible_cpus,
)

pytestmark = pytest.mark.kernel


def u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


def u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


def test_hash_crud() -> None:
    with Map.create(MapType.HASH, 4, 8, 16, name="crud") as m:
        assert m.next_key() is None and list(m) == []
        m.update(1, 100)
        m[u32(2)] = u64(200)
        assert m.lookup(1) == u64(100) and m[2] == u64(200)
        assert 1 in m and 3 not in m
        assert m.get(3) is None and m.get(3, b"x") == b"x"
        with pytest.raises(KernelKeyError) as ei:
            m.lookup(3)
        assert isinstance(ei.value, KeyError) and ei.value.errno == errno.ENOENT
        assert "BPF_MAP_LOOKUP_ELEM" in str(ei.value) and "03000000" in str(ei.value)
        with pytest.raises(KernelExistsError):
            m.update(1, 5, abi.BPF_NOEXIST)
        with pytest.raises(KernelKeyError):
            m.update(9, 5, abi.BPF_EXIST)
        m.update(1, 111, abi.BPF_EXIST)
        assert sorted(m.keys()) == [u32(1), u32(2)]
        assert dict(m.items()) == {u32(1): u64(111), u32(2): u64(200)}
        del m[1]
        with pytest.raises(KernelKeyError):
            m.delete(1)
        assert list(m) == [u32(2)]


def test_key_and_value_sizes_are_checked() -> None:
    with Map.create(MapType.HASH, 4, 8, 4) as m:
        with pytest.raises(ValueError, match="key is 3 bytes, the map needs 4"):
            m.lookup(b"abc")
        with pytest.raises(ValueError):
            m.update(1, 1 << 64)


def test_hash_full_is_e2big() -> None:
    with Map.create(MapType.HASH, 4, 4, 2) as m:
        m[1] = 1
        m[2] = 2
        with pytest.raises(KernelTooBigError) as ei:
            m[3] = 3
        assert ei.value.errno == errno.E2BIG


def test_array_map_and_next_key_walk() -> None:
    with Map.create(MapType.ARRAY, 4, 4, 5) as m:
        assert m[0] == bytes(4)  # arrays are preallocated and zeroed
        for i in range(5):
            m[i] = i * 10
        assert [int.from_bytes(k, "little") for k in m.keys()] == [0, 1, 2, 3, 4]
        assert m.next_key(3) == u32(4) and m.next_key(4) is None
        with pytest.raises(KernelError) as ei:  # array elements cannot be deleted
            m.delete(0)
        assert ei.value.errno == errno.EINVAL
        with pytest.raises(KernelError):
            m[5] = 1  # out of range


def test_lookup_and_delete_hash_and_queue() -> None:
    with Map.create(MapType.HASH, 4, 8, 8) as m:
        m[7] = 70
        assert m.lookup_and_delete(7) == u64(70)
        assert 7 not in m
    with Map.create(MapType.QUEUE, 0, 4, 8) as q:
        for v in (1, 2, 3):
            q.update(b"", v)
        assert [q.lookup_and_delete() for _ in range(3)] == [u32(1), u32(2), u32(3)]
        with pytest.raises(KernelKeyError):
            q.lookup_and_delete()


def test_freeze() -> None:
    with Map.create(MapType.ARRAY, 4, 4, 2) as m:
        m[0] = 42
        m.freeze()
        assert m[0] == u32(42)  # still readable
        with pytest.raises(KernelPermissionError) as ei:
            m[0] = 1
        assert ei.value.errno == errno.EPERM
        assert str(ei.value).startswith("BPF_MAP_UPDATE_ELEM: Operation not permitted (EPERM)")


def test_batch_ops_hash() -> None:
    n = 100
    with Map.create(MapType.HASH, 4, 8, 128) as m:
        assert m.update_batch([(i, i * i) for i in range(n)]) == n
        got: dict[bytes, bytes] = {}
        batches = list(m.iter_batches(count=16))
        assert len(batches) >= 2  # really batched
        for b in batches:
            got.update(zip(b.keys, b.values))
        assert got == {u32(i): u64(i * i) for i in range(n)}
        assert m.delete_batch(list(range(10))) == 10
        assert 5 not in m and 50 in m
        with pytest.raises(KernelKeyError) as ei:
            m.delete_batch([0])  # already gone
        assert ei.value.done == 0
        popped: dict[bytes, bytes] = {}
        for b in m.iter_batches(count=32, delete=True):
            popped.update(zip(b.keys, b.values))
        assert len(popped) == n - 10 and m.next_key() is None


def test_batch_lookup_array_and_token() -> None:
    with Map.create(MapType.ARRAY, 4, 4, 10) as m:
        m.update_batch([(i, 100 + i) for i in range(10)])
        first = m.lookup_batch(count=4)
        assert first.keys == [u32(i) for i in range(4)]
        assert first.values == [u32(100 + i) for i in range(4)]
        assert first.next_batch is not None
        rest = m.lookup_batch(count=100, in_batch=first.next_batch)
        assert rest.keys == [u32(i) for i in range(4, 10)] and rest.next_batch is None


def test_percpu_array_values() -> None:
    ncpu = possible_cpus()
    with Map.create(MapType.PERCPU_ARRAY, 4, 4, 2) as m:
        assert m.percpu and m.value_buffer_size == 8 * ncpu
        m[0] = b"\x01\x02\x03\x04"  # one value: written to every CPU
        assert m.lookup_percpu(0) == [b"\x01\x02\x03\x04"] * ncpu
        m[1] = b"".join(u64(c) for c in range(ncpu))  # explicit per-CPU slots
        assert m.lookup_percpu(1) == [u32(c) for c in range(ncpu)]


def test_info_and_from_id() -> None:
    with Map.create(MapType.LRU_HASH, 8, 16, 32, name="info_map") as m:
        info = m.info()
        assert info.type is MapType.LRU_HASH
        assert (info.key_size, info.value_size, info.max_entries) == (8, 16, 32)
        assert info.name == "info_map" and info.id > 0
        with Map.from_id(info.id) as again:
            assert again.map_type is MapType.LRU_HASH and again.fd != m.fd
            again[1] = 2
            assert m[1] == (2).to_bytes(16, "little")


def test_low_level_functions() -> None:
    with map_create(MapType.HASH, 4, 4, 4, name="raw") as fd:
        map_update_elem(fd, u32(1), u32(9))
        assert map_lookup_elem(fd, u32(1), 4) == u32(9)
        assert fd.kind == "map"


def test_map_create_error_names_the_type() -> None:
    with pytest.raises(KernelError) as ei:
        map_create(MapType.ARRAY, 4, 0, 1)  # zero value size
    assert ei.value.errno == errno.EINVAL
    assert ei.value.cmd == "BPF_MAP_CREATE" == "BPF_" + BpfCmd.MAP_CREATE.name
    assert "map type array" in str(ei.value)
