"""The same operations on a VM map and a kernel map give the same values and the same
errors (type and errno), for each map type both have. Each scenario is a list of steps
run on both backends; the kernel's answers are the reference."""

from __future__ import annotations

import errno
import os
from typing import Any, Callable

import pytest

from pybpf.maps import (ENOTSUPP, Map, MapError, MapKeyError, MapSpec, possible_cpus)
from pybpf.uapi import BPF_EXIST, BPF_NOEXIST, MapFlag

pytestmark = pytest.mark.kernel

Step = Callable[[Map], Any]


def outcome(fn: Step, m: Map) -> tuple:
    try:
        r = fn(m)
    except MapError as e:
        return ("error", type(e).__name__, e.errno)
    if hasattr(r, "__next__"):
        r = list(r)
    return ("ok", r)


def run_both(spec: MapSpec, steps: list[Step]) -> list[tuple]:
    with spec.create("vm") as v, spec.create("kernel") as k:
        out = []
        for i, step in enumerate(steps):
            ov, ok = outcome(step, v), outcome(step, k)
            assert ov == ok, f"step {i}: vm {ov} != kernel {ok}"
            out.append(ok)
        return out


def u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


def u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


def test_array() -> None:
    out = run_both(MapSpec("array", 4, 8, 3), [
        lambda m: m[0],                                  # zero-initialised
        lambda m: m.lookup(3),                           # ENOENT past the end
        lambda m: m.update(3, 1),                        # E2BIG
        lambda m: m.update(0, 1, BPF_NOEXIST),           # EEXIST: every index exists
        lambda m: m.update(0, 5, BPF_EXIST),
        lambda m: m.update(0, 1, 3),                     # bad flags: EINVAL
        lambda m: m.update(0, 1, 4),                     # BPF_F_LOCK without a spin lock
        lambda m: m.delete(0),                           # EINVAL
        lambda m: m.lookup(0, flags=1),
        lambda m: list(m),
        lambda m: [m.next_key(None), m.next_key(1), m.next_key(2), m.next_key(7)],
        lambda m: len(m),
        lambda m: m.lookup_and_delete(0),                # ENOTSUPP
        lambda m: m.lookup_batch(2).keys,
        lambda m: m.lookup_batch(10).values,
        lambda m: m.delete_batch([0]),                   # ENOTSUPP
        lambda m: m.update_batch([(1, 11), (2, 22)]),
        lambda m: dict(m.items()),
        lambda m: m.freeze(),
        lambda m: m.update(0, 1),                        # EPERM once frozen
        lambda m: m.freeze(),                            # EPERM: no write permission
        lambda m: m[0],
    ])
    assert out[0] == ("ok", u64(0)) and out[1][1] == "MapKeyError"
    assert out[7] == ("error", "MapInvalidError", errno.EINVAL)
    assert out[19] == ("error", "MapPermissionError", errno.EPERM)


def test_hash() -> None:
    out = run_both(MapSpec("hash", 4, 8, 2), [
        lambda m: m.update(1, 1),
        lambda m: m.update(2, 2),
        lambda m: m.update(3, 3),                        # full: E2BIG
        lambda m: m.update(3, 3, BPF_EXIST),             # ENOENT before E2BIG
        lambda m: m.update(3, 3, BPF_NOEXIST),
        lambda m: m.update(1, 9, BPF_NOEXIST),           # EEXIST
        lambda m: m.update(1, 9, BPF_EXIST),
        lambda m: m.update(2, 1, 3),
        lambda m: sorted(m),
        lambda m: m.next_key(99) in (u32(1), u32(2)),    # a missing key restarts
        lambda m: m.lookup_and_delete(1),
        lambda m: m.lookup_and_delete(1),
        lambda m: m.lookup_and_delete(2, flags=1),
        lambda m: m.delete(7),
        lambda m: m.delete_batch([7]),
        lambda m: m.update_batch([(5, 1), (6, 1)]),      # E2BIG on the second
        lambda m: len(m),
        lambda m: 2 in m and 9 not in m,
        lambda m: m.pop(2),
        lambda m: m.pop(2, b"gone"),
        lambda m: m.freeze(),
        lambda m: m.delete(5),
        lambda m: m.lookup_and_delete(5),
    ])
    assert out[2] == ("error", "MapFullError", errno.E2BIG)
    assert out[3] == ("error", "MapKeyError", errno.ENOENT)
    assert out[5] == ("error", "MapExistsError", errno.EEXIST)
    assert out[10] == ("ok", u64(9))


@pytest.mark.parametrize("kind", ["percpu_array", "percpu_hash", "lru_percpu_hash"])
def test_percpu_values_one_per_cpu(kind: str) -> None:
    n = possible_cpus()
    values = [bytes([i + 1]) * 5 for i in range(n)]
    out = run_both(MapSpec(kind, 4, 5, 4), [
        lambda m: m.update(1, values),
        lambda m: m[1],
        lambda m: m.update(2, b"abcde"),                 # one value: every CPU
        lambda m: m[2],
        lambda m: m.update(3, [b"x" * 5]),               # wrong count: EINVAL (ours)
        lambda m: [len(v) for v in m.lookup_batch(8).values],
        lambda m: sorted(map(tuple, m.lookup_batch(8).values)),
    ])
    assert out[1] == ("ok", values) and out[3] == ("ok", [b"abcde"] * n)


@pytest.fixture
def one_cpu():
    """Run on one CPU: the kernel's LRU lists are per CPU, so a process that migrates
    can see evictions below capacity."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    yield
    os.sched_setaffinity(0, before)


def test_lru_fill_to_capacity_then_overflow(one_cpu: None) -> None:
    """Filling an LRU map to max_entries evicts nothing on either backend; past it,
    the newest key is there and the map stays within max_entries (the kernel evicts in
    batches, the VM exactly the least recently used key)."""
    spec = MapSpec("lru_hash", 4, 8, 8)
    run_both(spec, [
        *[lambda m, i=i: m.update(i, i) for i in range(8)],
        lambda m: sorted(m),
        lambda m: [m[i] for i in range(8)],
    ])
    for backend in ("vm", "kernel"):
        with spec.create(backend) as m:
            for i in range(8):
                m[i] = i
            m[100] = 1
            assert m[100] == u64(1) and len(m) <= 8 and 0 not in m  # 0 is the oldest
    with spec.create("vm") as m:
        for i in range(8):
            m[i] = i
        m[0] = 0  # 0 becomes the most recent, so 1 goes
        m[100] = 1
        assert sorted(m) == sorted(u32(i) for i in (0, 2, 3, 4, 5, 6, 7, 100))


def test_lpm_trie() -> None:
    def k(plen: int, *ip: int) -> bytes:
        return u32(plen) + bytes(ip)
    out = run_both(MapSpec("lpm_trie", 8, 4, 3, flags=MapFlag.NO_PREALLOC), [
        lambda m: m.update(k(8, 10, 1, 2, 3), 1),
        lambda m: m.update(k(16, 10, 1, 2, 3), 2),
        lambda m: m.update(k(33, 10, 1, 2, 3), 3),           # EINVAL: longer than 32
        lambda m: m.update(k(8, 10, 9, 9, 9), 5, BPF_NOEXIST),  # same /8: EEXIST
        lambda m: m.update(k(8, 10, 9, 9, 9), 5),            # replaces 10/8, keeps the key
        lambda m: m.update(k(24, 10, 9, 9, 9), 5, BPF_EXIST),
        lambda m: m[k(32, 10, 1, 2, 3)],                     # longest match: /16
        lambda m: m[k(32, 10, 9, 2, 3)],                     # /8
        lambda m: m[k(4, 10, 9, 2, 3)],                      # shorter than every prefix
        lambda m: m[k(40, 10, 1, 2, 3)],
        lambda m: m[k(32, 11, 0, 0, 0)],
        lambda m: list(m),                                   # post-order: /16 before /8
        lambda m: m.next_key(k(12, 1, 2, 3, 4)),             # unknown key: the first
        lambda m: m.next_key(k(8, 10, 0, 0, 0)),             # same /8 entry: the end
        lambda m: m.update(k(0, 0, 0, 0, 0), 7),
        lambda m: m.update(k(24, 1, 1, 1, 0), 7),            # full: ENOSPC
        lambda m: m[k(32, 200, 0, 0, 0)],                    # the /0 default
        lambda m: list(m),
        lambda m: m.delete(k(8, 10, 7, 7, 7)),
        lambda m: m.delete(k(8, 10, 7, 7, 7)),
        lambda m: m.delete(k(33, 0, 0, 0, 0)),
        lambda m: m.lookup_batch(8).keys,
        lambda m: m.lookup_and_delete_batch(8),
    ])
    assert out[6] == ("ok", u32(2)) and out[7] == ("ok", u32(5))
    assert out[15] == ("error", "MapNoSpaceError", errno.ENOSPC)


@pytest.mark.parametrize("kind", ["queue", "stack"])
def test_queue_stack(kind: str) -> None:
    out = run_both(MapSpec(kind, 0, 4, 2), [
        lambda m: m.pop(),
        lambda m: m.peek(),
        lambda m: m.push(1),
        lambda m: m.push(2),
        lambda m: m.push(3),                        # full: E2BIG
        lambda m: m.push(3, BPF_EXIST),             # drops the oldest
        lambda m: m.push(3, BPF_NOEXIST),           # EINVAL
        lambda m: m.peek(),
        lambda m: m.next_key(),                     # EINVAL
        lambda m: m.delete(None),
        lambda m: m.lookup_batch(),                 # ENOTSUPP
        lambda m: m.lookup_and_delete(None, flags=4),
        lambda m: m.pop(),
        lambda m: m.pop(),
        lambda m: m.pop(),
        lambda m: m.push(9),
        lambda m: m.freeze(),
        lambda m: m.pop(),                          # EPERM
        lambda m: m.push(1),
        lambda m: m.peek(),
    ])
    assert out[0] == ("error", "MapKeyError", errno.ENOENT)
    assert out[4] == ("error", "MapFullError", errno.E2BIG)
    first, second = (u32(2), u32(3)) if kind == "queue" else (u32(3), u32(2))
    assert out[12:15] == [("ok", first), ("ok", second), ("error", "MapKeyError", 2)]


def test_bloom_filter() -> None:
    out = run_both(MapSpec("bloom_filter", 0, 4, 100), [
        lambda m: m.peek(1),
        lambda m: m.push(1),
        lambda m: m.peek(1),
        lambda m: 1 in m,
        lambda m: m.push(2, BPF_EXIST),             # EINVAL
        lambda m: m.pop(),                          # ENOTSUPP
        lambda m: m.delete(None),                   # EOPNOTSUPP
        lambda m: m.next_key(),
        lambda m: [m.push(i) for i in range(10, 60)] and None,
        lambda m: all(m.peek(i) for i in range(10, 60)),   # no false negatives
    ])
    assert out[0] == ("error", "MapKeyError", errno.ENOENT)
    assert out[2] == ("ok", True) and out[5][2] == ENOTSUPP
    assert out[6] == ("error", "MapNotSupportedError", errno.EOPNOTSUPP)


def test_ringbuf_user_ops() -> None:
    run_both(MapSpec("ringbuf", 0, 0, 4096), [
        lambda m: m.lookup(None),
        lambda m: m.push(b""),
        lambda m: m.delete(None),
        lambda m: m.next_key(),
        lambda m: m.freeze(),
    ])


def test_map_of_maps() -> None:
    inner = MapSpec("array", 4, 4, 2)

    def put(m: Map, key: int, spec: MapSpec) -> None:
        with spec.create(m.backend) as sub:
            m.update(key, sub)

    run_both(MapSpec("array_of_maps", 4, 4, 2, inner=inner), [
        lambda m: m.lookup(0),
        lambda m: put(m, 0, inner),
        lambda m: len(m[0]),
        lambda m: put(m, 1, MapSpec("array", 4, 4, 3)),      # max_entries differs
        lambda m: put(m, 1, MapSpec("hash", 4, 4, 2)),       # type differs
        lambda m: put(m, 1, MapSpec("array", 4, 8, 2)),      # value_size differs
        lambda m: put(m, 1, MapSpec("array", 4, 4, 2, flags=MapFlag.RDONLY_PROG)),
        lambda m: put(m, 2, inner),                          # E2BIG
        lambda m: m.update(1, m, BPF_NOEXIST),
        lambda m: m.delete(0),
        lambda m: m.delete(0),
        lambda m: list(m),
        lambda m: m.lookup_batch(4).keys,
        lambda m: m.delete_batch([0]),
    ])
    run_both(MapSpec("hash_of_maps", 4, 4, 1, inner=inner), [
        lambda m: put(m, 5, inner),
        lambda m: put(m, 6, inner),                          # E2BIG
        lambda m: len(m.lookup(5)),
        lambda m: m.lookup_and_delete_batch(4).keys,
        lambda m: list(m),
    ])
    with MapSpec("array_of_maps", 4, 4, 2, inner=inner.with_(flags=MapFlag.INNER_MAP)
                 ).create("vm") as aom:
        with MapSpec("array", 4, 4, 7, flags=MapFlag.INNER_MAP).create("vm") as big:
            aom[0] = big  # BPF_F_INNER_MAP: any max_entries
            assert aom[0] == u32(big.id) and aom.inner(0) is big


def test_fd_arrays() -> None:
    run_both(MapSpec("prog_array", 4, 4, 2), [
        lambda m: m.lookup(0),
        lambda m: m.delete(0),
        lambda m: m.delete(5),
        lambda m: list(m),
        lambda m: m.lookup_batch(),
        lambda m: m.freeze(),
    ])
    run_both(MapSpec("perf_event_array", 4, 4, 2), [
        lambda m: m.lookup(0),
        lambda m: m.delete(0),
        lambda m: m.delete(5),
        lambda m: list(m),
        lambda m: m.update_batch([]),
    ])


def test_access_flags() -> None:
    run_both(MapSpec("hash", 4, 4, 2, flags=MapFlag.RDONLY), [
        lambda m: m.update(1, 1),
        lambda m: m.lookup(1),
        lambda m: m.next_key(),
        lambda m: m.freeze(),
    ])
    run_both(MapSpec("hash", 4, 4, 2, flags=MapFlag.WRONLY), [
        lambda m: m.update(1, 1),
        lambda m: m.lookup(1),
        lambda m: m.next_key(),
        lambda m: m.delete(1),
        lambda m: m.freeze(),
        lambda m: m.update(1, 1),
    ])


def test_create_errors_match_the_kernel() -> None:
    """Specs the VM side refuses are refused by BPF_MAP_CREATE with the same errno."""
    from pybpf.kernel import KernelError, map_create
    bad = [("hash", 0, 4, 4, 0, 0), ("array", 8, 4, 4, 0, 0), ("queue", 4, 4, 4, 0, 0),
           ("ringbuf", 0, 0, 12288, 0, 0), ("lpm_trie", 8, 4, 4, 0, 0),
           ("lru_hash", 4, 4, 4, int(MapFlag.NO_PREALLOC), 0), ("hash", 4, 4, 4, 0, 1),
           ("bloom_filter", 0, 4, 4, 0, 16), ("percpu_array", 4, 4, 4,
                                              int(MapFlag.MMAPABLE), 0),
           ("array", 4, 4, 4, int(MapFlag.RDONLY_PROG | MapFlag.WRONLY_PROG), 0)]
    from pybpf.maps import map_type
    for name, k, v, n, flags, extra in bad:
        with pytest.raises(MapError) as ours:
            MapSpec(name, k, v, n, flags=flags, map_extra=extra)
        with pytest.raises(KernelError) as theirs:
            map_create(map_type(name), k, v, n, map_flags=flags, map_extra=extra).close()
        assert ours.value.errno == theirs.value.errno, (name, ours.value, theirs.value)


def test_missing_key_is_a_key_error_on_both() -> None:
    for backend in ("vm", "kernel"):
        with MapSpec("hash", 4, 4, 4).create(backend) as m:
            with pytest.raises(KeyError):
                m[1]
            with pytest.raises(MapKeyError):
                del m[1]
            assert m.get(1) is None and m.get(1, 5) == 5
