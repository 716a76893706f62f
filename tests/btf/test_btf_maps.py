"""BTF-defined maps (.maps): definitions read back from clang's encoding, malformed ones
named precisely, and the kernel creating maps from them with their BTF key/value types."""

from __future__ import annotations

import pytest

from pybpf.btf import BTFError, Builder, sanitize_for_kernel
from pybpf.btf.maps import parse_map_def, parse_maps_section
from pybpf.kernel import MapType, btf_load, map_create

from .conftest import Obj


def test_maps_of_kinds_object(kinds_obj: Obj) -> None:
    b = kinds_obj.btf
    maps = parse_maps_section(b)
    assert sorted(maps) == ["amap", "bloom", "hmap", "jmp_table", "outer_map"]
    h = maps["hmap"]
    assert (h.type, h.max_entries, h.key_size, h.value_size) == (MapType.HASH, 16, 20, 16)
    assert b[h.key_type_id].name == "inner" and b[h.value_type_id].name == "bits"
    a = maps["amap"]
    assert (a.type, a.key_size, a.value_size) == (MapType.ARRAY, 4, 320)
    o = maps["outer_map"]
    assert o.type == MapType.ARRAY_OF_MAPS and o.value_size == 4 and o.inner is not None
    assert (o.inner.type, o.inner.max_entries, o.inner.value_size) == (MapType.ARRAY, 4, 8)
    j = maps["jmp_table"]
    assert j.type == MapType.PROG_ARRAY and j.key_size == 4 and j.values_proto
    bl = maps["bloom"]
    assert (bl.type, bl.map_extra, bl.key_size, bl.value_size) == \
        (MapType.BLOOM_FILTER, 3, 0, 4)
    assert parse_maps_section(b, ".no_such_section") == {}


def _def(members: list) -> tuple[Builder, int]:  # type: ignore[type-arg]
    b = Builder()
    return b, b.var("m", b.struct("", members))


def test_malformed_definitions() -> None:
    b = Builder()
    i = b.int("int", 4, True)
    u64 = b.int("unsigned long long", 8)

    def uint(n: int) -> int:
        return b.ptr(b.array(i, n))

    cases = [
        ([("type", i)], "map m.type: expected __uint"),
        ([("type", b.ptr(i))], "pointer to INT"),
        ([("key", i)], "map m.key: expected __type"),
        ([("key_size", uint(8)), ("key", b.ptr(i))], "key_size 8 conflicts"),
        ([("flavor", uint(1))], "unknown map attribute 'flavor'"),
        ([("map_extra", uint(1))], "expected __ulong"),
        ([("values", b.ptr(i))], "expected __array"),
        ([("values", b.array(i, 0))], "elements must be pointers"),
    ]
    for members, message in cases:
        v = b.var("m", b.struct("", members))
        with pytest.raises(BTFError, match=message):
            parse_map_def(b.btf, v)
    inner2 = b.struct("", [("values", b.array(b.ptr(b.struct("", [])), 0))])
    outer = b.var("m", b.struct("", [("values", b.array(b.ptr(inner2), 0))]))
    with pytest.raises(BTFError, match="inner maps cannot have inner maps"):
        parse_map_def(b.btf, outer)
    with pytest.raises(BTFError, match="not a struct"):
        parse_map_def(b.btf, b.var("m", u64))


@pytest.mark.kernel
def test_kernel_creates_maps_from_definitions(kinds_obj: Obj) -> None:
    res = sanitize_for_kernel(kinds_obj.btf, kinds_obj.elf.sizes,
                              kinds_obj.elf.symbol_offsets())
    btf = btf_load(res.btf.to_bytes())
    maps = parse_maps_section(res.btf)
    fds = []
    for name in ("hmap", "amap"):
        d = maps[name]
        fds.append(map_create(d.type, d.key_size, d.value_size, d.max_entries, name=name,
                              btf_fd=btf, btf_key_type_id=d.key_type_id,
                              btf_value_type_id=d.value_type_id))
    bl = maps["bloom"]
    fds.append(map_create(bl.type, bl.key_size, bl.value_size, bl.max_entries,
                          map_extra=bl.map_extra))
    o = maps["outer_map"]
    assert o.inner is not None
    inner = map_create(o.inner.type, o.inner.key_size, o.inner.value_size,
                       o.inner.max_entries)
    fds.append(map_create(o.type, o.key_size, o.value_size, o.max_entries,
                          inner_map_fd=inner))
    for fd in fds + [inner]:
        fd.close()
    btf.close()
