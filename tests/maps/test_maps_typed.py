"""TypedMap (`m.typed`): keys and values as Python data through BTF codecs, the same
on a VM map and a kernel map; per-CPU values one per CPU and summed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.btf import BTFError, Builder, TypeCodec
from pybpf.maps import MapKeyError, MapSpec, Record, possible_cpus, percpu_sum

BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]


def _types() -> tuple[Any, int, int, int]:
    b = Builder()
    u8, u16, u32, u64 = (b.int(n, s) for n, s in
                         (("__u8", 1), ("__u16", 2), ("__u32", 4), ("__u64", 8)))
    ch = b.int("char", 1, signed=True)
    mode = b.enum("mode", ["MODE_OFF", "MODE_ON"])
    key = b.struct("flow_key", [("addr", u32), ("port", u16), ("proto", u8), ("pad", u8)])
    val = b.struct("flow_stats", [("packets", u64), ("bytes", u64), ("tag", b.array(ch, 8)),
                                  ("mode", mode)])
    return b.btf, u32, key, val


def typed_map(backend: str, mtype: str, key: str = "struct", entries: int = 8) -> Any:
    btf, u32, key_t, val_t = _types()
    kid = key_t if key == "struct" else u32
    m = MapSpec(mtype, btf.size_of(kid), btf.size_of(val_t), entries).create(backend)
    m.key_codec = TypeCodec(btf, kid, m.key_size)
    m.value_codec = TypeCodec(btf, val_t, m.value_size)
    return m


@pytest.mark.parametrize("backend", BACKENDS)
def test_struct_keys_and_values(backend: str) -> None:
    with typed_map(backend, "hash") as m:
        t = m.typed
        k = {"addr": 0x0100000A, "port": 80, "proto": 6}
        t[k] = {"packets": 1, "bytes": 60, "tag": "web", "mode": "MODE_ON"}
        assert t[k] == {"packets": 1, "bytes": 60, "tag": "web", "mode": "MODE_ON"}
        # the bytes are the C layout: key 4+2+1+1, value 8+8+8+4 (+4 padding)
        assert m[bytes.fromhex("0a000001" "5000" "06" "00")][16:19] == b"web"
        # a partial struct keeps the members it does not name
        t[k] = {"packets": 2}
        assert t[k] == {"packets": 2, "bytes": 60, "tag": "web", "mode": "MODE_ON"}
        # keys decode to hashable Records, so the view is a dict
        d = dict(t)
        assert list(d) == [{"addr": 0x0100000A, "port": 80, "proto": 6, "pad": 0}]
        assert isinstance(next(iter(t)), Record)
        assert k in t and {"addr": 1} not in t and "junk" not in t
        del t[k]
        with pytest.raises(MapKeyError):
            t[k]
        assert len(t) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_values_name_the_member(backend: str) -> None:
    with typed_map(backend, "hash") as m:
        t = m.typed
        with pytest.raises(BTFError, match="port: 70000 does not fit"):
            t[{"port": 70000}] = {}
        with pytest.raises(BTFError, match="has no member 'nope'"):
            t[{"addr": 1}] = {"nope": 1}
        with pytest.raises(BTFError, match="enumerator 'MODE_X'"):
            t[{"addr": 1}] = {"mode": "MODE_X"}
        with pytest.raises(BTFError, match="expected an int"):
            t[{"addr": "10.0.0.1"}] = {}  # text only with text_ints
        t.put({"addr": "10.0.0.1", "port": "0x50"}, {"packets": "7"}, text_ints=True)
        assert dict(t) == {Record(addr=0x0100000A, port=80, proto=0, pad=0):
                           {"packets": 7, "bytes": 0, "tag": "", "mode": "MODE_OFF"}}
        assert len(m) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_percpu_values_and_sums(backend: str) -> None:
    n = possible_cpus()
    with typed_map(backend, "percpu_array", key="u32", entries=2) as m:
        t = m.typed
        t[0] = {"packets": 3, "bytes": 100, "tag": "x"}  # one value: every CPU
        assert t[0] == [{"packets": 3, "bytes": 100, "tag": "x", "mode": "MODE_OFF"}] * n
        assert t.sum(0) == {"packets": 3 * n, "bytes": 100 * n, "tag": "x",
                            "mode": "MODE_OFF"}
        per_cpu = [{"packets": i, "bytes": 10 * i, "tag": f"c{i}"} for i in range(n)]
        t[1] = per_cpu  # one value per CPU
        summed = t.summed()
        assert summed[1]["packets"] == sum(range(n)) and summed[1]["bytes"] == 10 * sum(range(n))
        # strings that differ between CPUs are kept per CPU
        assert summed[1]["tag"] == ([f"c{i}" for i in range(n)] if n > 1 else "c0")
        # a partial value on a per-CPU map keeps each CPU's other members
        t[1] = {"bytes": 5}
        assert [v["packets"] for v in t[1]] == list(range(n))


@pytest.mark.parametrize("backend", BACKENDS)
def test_untyped_sides_stay_bytes(backend: str) -> None:
    with MapSpec("hash", 4, 8, 4).create(backend) as m:
        t = m.typed
        t[1] = 5
        assert dict(t) == {(1).to_bytes(4, "little"): (5).to_bytes(8, "little")}
        assert t.summed() == dict(t)


@pytest.mark.kernel
def test_same_view_on_both_backends() -> None:
    views = []
    for backend in ("vm", "kernel"):
        with typed_map(backend, "lru_hash") as m:
            for i in range(5):
                m.typed[{"addr": i, "port": i * 10}] = {"packets": i, "tag": str(i)}
            views.append(sorted(m.typed.items(), key=lambda kv: kv[0]["addr"]))
    assert views[0] == views[1]


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8))
def test_percpu_sum_of_numbers(values: list[int]) -> None:
    assert percpu_sum(values) == sum(values)
    assert percpu_sum([{"a": v, "b": [v, 1]} for v in values]) == \
        {"a": sum(values), "b": [sum(values), len(values)]}
    assert percpu_sum([v > 5 for v in values]) == any(v > 5 for v in values)
