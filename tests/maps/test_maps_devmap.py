"""The XDP redirect maps (devmap, devmap_hash, cpumap, xskmap) on the VM against the
kernel: creation limits, then hypothesis-drawn sequences of update / lookup / delete /
next_key whose outcomes (values, key order, error classes and errnos) must be equal.
Device checks use the caller's namespace on both backends (ifindex 1 exists, others
are drawn not to); xskmap updates get a TCP socket, a plain file and a closed fd."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.maps import MapError, MapSpec
from pybpf.uapi import MapType

pytestmark = pytest.mark.kernel


def outcome(fn: Any) -> tuple:
    try:
        return ("ok", fn())
    except MapError as e:
        return ("error", type(e).__name__, e.errno)


def u32(v: int) -> bytes:
    return (v & 0xFFFF_FFFF).to_bytes(4, "little")


@pytest.fixture(scope="module", autouse=True)
def _kernel() -> None:
    from tests.conftest import kernel_available
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")


TYPES = [MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP]


@pytest.mark.parametrize("mtype", TYPES, ids=lambda t: t.name.lower())
@pytest.mark.parametrize("shape", [(4, 4, 4, 0), (4, 8, 4, 0), (8, 4, 4, 0), (4, 12, 4, 0),
                                   (4, 4, 0, 0), (4, 4, 4, 1), (4, 4, 4, 8), (4, 4, 4, 16),
                                   (4, 4, 300, 0), (4, 4, 100000, 0), (4, 4, 4, 4)])
def test_create_matches_kernel(mtype: MapType, shape: tuple) -> None:
    ks, vs, n, flags = shape

    def make(backend: str) -> tuple:
        try:
            MapSpec(mtype, ks, vs, n, flags).create(backend).close()
            return ("ok",)
        except MapError as e:
            return ("error", e.errno)
    assert make("vm") == make("kernel")


FDS: dict[str, int] = {}


def _value(mtype: MapType, vsize: int, a: int, b: int) -> bytes:
    """A value: devmaps ifindex (1 exists) + prog fd, cpumap qsize + prog fd, xskmap
    an fd of a kind drawn by `a`."""
    if mtype == MapType.XSKMAP:
        return u32([FDS["tcp"], FDS["file"], FDS["closed"], -1][a % 4])
    first = [0, 1, 1, 1, 999][a % 5] if mtype != MapType.CPUMAP else \
        [0, 64, 64, 20000, 16384][a % 5]
    return u32(first) + (u32([-1, -1, 0, 1][b % 4]) if vsize == 8 else b"")


OPS = st.lists(st.tuples(st.sampled_from(["update", "update", "lookup", "delete", "next",
                                          "keys"]),
                         st.sampled_from([0, 1, 2, 3, 5, 9, 64, 1 << 31]),
                         st.integers(0, 19), st.integers(0, 3),
                         st.sampled_from([0, 0, 0, 1, 2, 3, 4])),
               min_size=1, max_size=25)


@pytest.mark.parametrize("mtype,vsize", [(MapType.DEVMAP, 4), (MapType.DEVMAP, 8),
                                         (MapType.DEVMAP_HASH, 4), (MapType.DEVMAP_HASH, 8),
                                         (MapType.CPUMAP, 4), (MapType.CPUMAP, 8),
                                         (MapType.XSKMAP, 4)],
                         ids=lambda x: x.name.lower() if isinstance(x, MapType) else str(x))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS)
def test_operations_match_kernel(mtype: MapType, vsize: int, ops: list) -> None:
    tcp = socket.socket()
    file_fd = os.open("/dev/null", os.O_RDONLY)
    closed = os.open("/dev/null", os.O_RDONLY)
    os.close(closed)
    FDS.update(tcp=tcp.fileno(), file=file_fd, closed=closed)
    spec = MapSpec(mtype, 4, vsize, 4 if mtype != MapType.CPUMAP else 2)
    vm, k = spec.create("vm"), spec.create("kernel")
    try:
        for op, key, a, b, flags in ops:
            def act(m: Any, op: str = op, key: int = key, a: int = a, b: int = b,
                    flags: int = flags) -> Any:
                if op == "update":
                    return m.update(u32(key), _value(mtype, vsize, a, b), flags)
                if op == "lookup":
                    return m.lookup(u32(key))
                if op == "delete":
                    return m.delete(u32(key))
                if op == "next":
                    return m.next_key(u32(key))
                return list(m.keys())
            v_out, k_out = outcome(lambda: act(vm)), outcome(lambda: act(k))
            assert v_out == k_out, f"{op} key {key} a {a} b {b} flags {flags}"
    finally:
        vm.close()
        k.close()
        tcp.close()
        os.close(file_fd)


def test_devmap_hash_iterates_by_bucket_newest_first() -> None:
    """Keys in bucket order (key & (n_buckets - 1)), the newest first in a bucket."""
    spec = MapSpec(MapType.DEVMAP_HASH, 4, 4, 8)
    vm, k = spec.create("vm"), spec.create("kernel")
    try:
        for key in (1, 5, 9, 2, 4):
            vm.update(u32(key), u32(1))
            k.update(u32(key), u32(1))
        assert list(vm.keys()) == list(k.keys()) == [u32(9), u32(1), u32(2), u32(4), u32(5)]
    finally:
        vm.close()
        k.close()


def test_items_of_a_huge_devmap_follow_what_is_stored(monkeypatch) -> None:
    """items() of a 16M-entry devmap with two targets gives them in index order without
    walking every index (the hostile campaign's case 320033008 spent minutes there)."""
    m = MapSpec(MapType.DEVMAP, 4, 4, 1 << 24).create("vm")
    lo = socket.if_nametoindex("lo")
    m.update(u32(9_000_000), u32(lo))
    m.update(u32(3), u32(lo))
    monkeypatch.setattr(m, "_next_key_raw", lambda k: pytest.fail("walked every index"))
    assert [(k, v) for k, v in m.items()] == [(u32(3), m.lookup(u32(3))),
                                             (u32(9_000_000), m.lookup(u32(9_000_000)))]
    m.close()


@pytest.mark.parametrize("kind", ["array_of_maps", "prog_array"])
def test_items_of_a_huge_fd_array_follow_what_is_stored(monkeypatch, kind: str) -> None:
    """items() of a 16M-entry fd array gives its filled slots in index order without
    walking every index (the hostile campaign's case 410040999: an empty 16M-entry
    array of maps took minutes to find its first 64 entries). A small one gives what
    the next_key walk gives."""
    inner = MapSpec("array", 4, 8, 4)
    spec = MapSpec(kind, 4, 4, 1 << 24, inner=inner if kind == "array_of_maps" else None)
    m = spec.create("vm")
    monkeypatch.setattr(m, "_next_key_raw", lambda k: pytest.fail("walked every index"))
    assert list(m.items()) == []
    if kind == "array_of_maps":
        a, b = inner.create("vm"), inner.create("vm")
        m.update(u32(9_000_000), a)
        m.update(u32(3), b)
        assert [k for k, _ in m.items()] == [u32(3), u32(9_000_000)]
        a.close()
        b.close()
    m.close()
    small = MapSpec("array_of_maps", 4, 4, 8, inner=inner).create("vm")
    one = inner.create("vm")
    small.update(u32(5), one)
    walked = [(k, small.lookup(k)) for k in small.keys() if k == u32(5)]
    assert list(small.items()) == walked
    one.close()
    small.close()
