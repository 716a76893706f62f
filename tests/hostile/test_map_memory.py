"""VM maps do no per-entry work up front: a non-preallocated map's memory follows what
it stores, not max_entries, and bpf_for_each_map_elem walks lazily, so a callback
that stops at the first element of a huge map costs one call."""

from __future__ import annotations

import errno

import pytest

from pybpf.asm import assemble
from pybpf.maps import MapSpec
from pybpf.maps.errors import MapError
from pybpf.uapi import MapFlag
from pybpf.vm import VM
from tests.hostile.limits import run_limited

NO_PREALLOC = int(MapFlag.NO_PREALLOC)

CHILD = """
    import json, resource
    from pybpf.maps import MapSpec
    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {{}}
    for args, flags in {cases!r}:
        before = rss()
        m = MapSpec(*args, flags=flags).create()
        n = 0 if args[0] == "devmap_hash" else 1000
        for i in range(n):
            key = (i.to_bytes(4, "little") if args[0] != "lpm_trie"
                   else (32).to_bytes(4, "little") + i.to_bytes(4, "big"))
            m[key] = bytes(m.value_size)
        ok = all(((i.to_bytes(4, "little") if args[0] != "lpm_trie"
                   else (32).to_bytes(4, "little") + i.to_bytes(4, "big")) in m)
                 for i in range(0, n, 97))
        out[args[0] + "/" + str(args[2])] = [ok, len(m), rss() - before]
        m.close()
    print(json.dumps(out))
"""

HUGE = 100_000_000
CASES = [
    (("hash", 4, 8, HUGE), NO_PREALLOC),
    (("hash", 4, 64, HUGE), NO_PREALLOC),  # 6.4 GB of values at max_entries
    (("percpu_hash", 4, 8, HUGE), NO_PREALLOC),
    (("lpm_trie", 8, 8, HUGE), NO_PREALLOC),
]


def test_non_preallocated_maps_follow_what_they_store() -> None:
    """Before: HashMap built list(range(max_entries)) (about 40 B an entry): a 100M-entry
    BPF_F_NO_PREALLOC hash was a MemoryError under a 2 GiB cap, and 100M values of 64
    bytes were refused as more than 2 GiB although the map stores none."""
    res = run_limited(CHILD.format(cases=CASES), timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    for name, (ok, count, grown) in res.json().items():
        assert ok and count == 1000, name
        assert grown < 64 << 20, (name, grown)


def test_devmap_hash_buckets_follow_what_is_stored() -> None:
    res = run_limited("""
        import json
        from pybpf.maps import MapSpec
        m = MapSpec("devmap_hash", 4, 4, 100_000_000).create()
        m.devices = {1: None}
        m[123456] = (1).to_bytes(4, "little")
        m[7] = (1).to_bytes(4, "little")
        print(json.dumps([len(m), sorted(int.from_bytes(k, "little") for k in m.keys())]))
    """, timeout=60)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.json() == [2, [7, 123456]]


def test_grown_hash_keeps_values_and_addresses() -> None:
    """Growing moves the values to a new block: the VM addresses a program got stay
    valid and every value is kept."""
    with MapSpec("hash", 4, 8, 1 << 20, flags=NO_PREALLOC).create() as m:
        text = f"""
            *(u32 *)(r10 - 4) = 3
            r1 = map_fd({m.fd})
            r2 = r10
            r2 += -4
            call bpf_map_lookup_elem
            exit"""
        m[3] = (33).to_bytes(8, "little")
        addr = VM(assemble(text), maps=[m]).execute().r0
        for i in range(4, 5000):
            m[i] = i.to_bytes(8, "little")
        assert VM(assemble(text), maps=[m]).execute().r0 == addr
        assert all(m[i] == i.to_bytes(8, "little") for i in range(4, 5000))
        assert m[3] == (33).to_bytes(8, "little")


def test_no_prealloc_hash_refuses_past_the_vms_per_map_limit(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from pybpf.maps import vmbase
    monkeypatch.setattr(vmbase, "SEGMENT_HALF", 64 * 8)
    with MapSpec("hash", 4, 8, 1000, flags=NO_PREALLOC).create() as m:
        for i in range(64):
            m[i] = bytes(8)
        with pytest.raises(MapError) as info:
            m[64] = bytes(8)
        assert info.value.errno == errno.ENOMEM
        assert len(m) == 64


FOR_EACH_STOP_AT_FIRST = """
    r1 = map_fd({fd})
    r2 = func(cb)
    r3 = 0
    r4 = 0
    call bpf_for_each_map_elem
    exit
cb:
    r0 = 1
    exit
"""


def test_for_each_on_a_huge_array_is_lazy() -> None:
    """Before: the helper built a key for each of the 64M indexes first (MemoryError
    under a 2 GiB cap) even though the callback stops at index 0."""
    res = run_limited(f"""
        import json, time
        from pybpf.asm import assemble
        from pybpf.maps import MapSpec
        from pybpf.vm import VM
        m = MapSpec("array", 4, 8, 64 << 20).create()
        t = time.perf_counter()
        r = VM(assemble({FOR_EACH_STOP_AT_FIRST!r}.format(fd=m.fd)), maps=[m]).execute()
        print(json.dumps([r.r0, r.executed, time.perf_counter() - t]))
    """, timeout=60)
    assert res.returncode == 0, res.stderr[-3000:]
    r0, executed, seconds = res.json()
    assert (r0, executed) == (1, 6 + 2) and seconds < 5


def test_for_each_on_a_hash_walks_lazily_and_survives_deletes() -> None:
    """The callback deletes the next key and the one after: the walk skips them."""
    with MapSpec("hash", 4, 8, 16).create() as m:
        for i in range(8):
            m[i] = i.to_bytes(8, "little")
        text = f"""
            r1 = map_fd({m.fd})
            r2 = func(cb)
            r3 = 0
            r4 = 0
            call bpf_for_each_map_elem
            exit
        cb:
            r6 = *(u32 *)(r2 + 0)
            r6 += 1
            *(u32 *)(r10 - 4) = r6
            r1 = map_fd({m.fd})
            r2 = r10
            r2 += -4
            call bpf_map_delete_elem
            r6 += 1
            *(u32 *)(r10 - 4) = r6
            r1 = map_fd({m.fd})
            r2 = r10
            r2 += -4
            call bpf_map_delete_elem
            r0 = 0
            exit"""
        res = VM(assemble(text), maps=[m]).execute()
        assert res.r0 == 3  # keys 0, 3 and 6 visited; 1, 2, 4, 5, 7 deleted
        assert sorted(int.from_bytes(k, "little") for k in m.keys()) == [0, 3, 6]
        assert m._cursors == []


def test_maps_too_big_for_the_memory_cap_are_a_clear_error() -> None:
    """A (bit-flipped) max_entries whose values do not fit: a MapError with ENOMEM, as
    the kernel's allocation fails, never an OSError or MemoryError traceback; fd arrays
    keep only their filled slots (before: [None] * max_entries)."""
    res = run_limited("""
        import json
        from pybpf.errors import PyBPFError
        from pybpf.maps import MapSpec
        out = {}
        for args in [("array", 4, 8, 1 << 28), ("prog_array", 4, 4, 1 << 28),
                     ("devmap", 4, 4, 1 << 28), ("prog_array", 4, 4, 1 << 26)]:
            try:
                m = MapSpec(*args).create()
                out[f"{args[0]}/{args[3]}"] = "created"
                m.close()
            except PyBPFError as e:
                out[f"{args[0]}/{args[3]}"] = f"{type(e).__name__}: {e}"
        print(json.dumps(out))
    """, timeout=60)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.json()
    for name in ("array/268435456", "prog_array/268435456", "devmap/268435456"):
        assert "ENOMEM" in out[name], out
    assert out["prog_array/67108864"] == "created"
