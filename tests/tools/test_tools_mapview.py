"""`pybpf map dump|lookup|update|delete`: elements decoded by the map's BTF (read from
the kernel), written from bpftool-style bytes, integers or the BTF type's terms;
compared with `bpftool -j map dump` on maps the test creates."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from pybpf import kernel
from pybpf.btf import Builder
from pybpf.cpus import possible_cpus
from pybpf.kernel.abi import MapType
from pybpf.tools.mapview import MapViewError, parse_bytes
from tests.conftest import run_cli

pytestmark = pytest.mark.kernel


def _bpftool(*args: str) -> Any:
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    return json.loads(subprocess.run(["bpftool", "-j", *args], capture_output=True,
                                     text=True, check=True).stdout)


@pytest.fixture
def typed():  # type: ignore[no-untyped-def]
    """A hash map keyed by u32 with a struct value {u64 packets; u32 proto; char
    tag[4]}, created with that BTF (as libbpf creates BTF-defined maps)."""
    b = Builder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("unsigned long long", 8)
    char = b.int("char", 1, char=True)
    val = b.struct("flow", [("packets", u64), ("proto", u32), ("tag", b.array(char, 4))])
    btf = kernel.btf_load(b.btf.to_bytes())
    m = kernel.Map.create(MapType.HASH, 4, 16, 8, name="pybpf_typed", btf_fd=btf,
                          btf_key_type_id=u32, btf_value_type_id=val)
    yield m
    m.close()
    btf.close()


def test_dump_lookup_update_delete_by_btf(typed, capsys) -> None:  # type: ignore[no-untyped-def]
    mid = str(kernel.map_get_info(typed).id)
    rc, out, err = run_cli(capsys, "map", "update", mid, "7",
                           '{"packets": 3, "proto": 17, "tag": "abc"}')
    assert rc == 0, err
    raw = typed.lookup(7)
    assert int.from_bytes(raw[:8], "little") == 3 and raw[8:12] == (17).to_bytes(4, "little")
    assert raw[12:15] == b"abc"
    # bpftool's byte syntax for the key, hex for the value
    rc, _, err = run_cli(capsys, "map", "update", "name", "pybpf_typed", "key", "0x09", "0",
                         "0", "0", "value", "hex", "05000000000000000600000078797a00")
    assert rc == 0, err
    rc, out, _ = run_cli(capsys, "map", "lookup", mid, "9", "-j")
    rec = json.loads(out)
    assert rec["key"] == ["0x09", "0x00", "0x00", "0x00"]
    assert rec["formatted"] == {"key": 9, "value": {"packets": 5, "proto": 6, "tag": "xyz"}}
    rc, out, _ = run_cli(capsys, "map", "dump", mid, "-j")
    mine = sorted(json.loads(out), key=lambda r: r["key"])
    theirs = sorted(_bpftool("map", "dump", "id", mid), key=lambda r: r["key"])
    assert [(r["key"], r["value"]) for r in mine] == [(r["key"], r["value"]) for r in theirs]
    for m, t in zip(mine, theirs):
        assert m["formatted"]["key"] == t["formatted"]["key"]
        tv = t["formatted"]["value"]
        assert m["formatted"]["value"]["packets"] == tv["packets"]
        assert m["formatted"]["value"]["proto"] == tv["proto"]
    rc, out, _ = run_cli(capsys, "map", "dump", mid)
    assert '"packets": 3' in out and out.rstrip().endswith("Found 2 elements")
    rc, _, err = run_cli(capsys, "map", "update", mid, "7", "1", "--flags", "noexist")
    assert rc == 1 and "fit" in err  # an int is not the struct
    rc, _, err = run_cli(capsys, "map", "update", mid, "7", '{"packets": 1}', "--flags",
                         "noexist")
    assert rc == 1 and "exists" in err.lower()
    rc, out, _ = run_cli(capsys, "map", "delete", mid, "7")
    assert rc == 0 and typed.get(7) is None
    rc, _, err = run_cli(capsys, "map", "delete", mid, "7")
    assert rc == 1 and "no element with key 07 00 00 00" in err
    rc, _, err = run_cli(capsys, "map", "lookup", mid, "8")
    assert rc == 1 and "no element" in err


def test_percpu_and_untyped_maps(capsys) -> None:  # type: ignore[no-untyped-def]
    with kernel.Map.create(MapType.PERCPU_ARRAY, 4, 8, 2, name="pybpf_pcpu") as m:
        mid = str(kernel.map_get_info(m).id)
        rc, _, err = run_cli(capsys, "map", "update", mid, "1", "hex", "2a00000000000000")
        assert rc == 0, err
        assert m.lookup_percpu(1) == [(42).to_bytes(8, "little")] * possible_cpus()
        rc, out, _ = run_cli(capsys, "map", "dump", mid, "-j")
        mine = json.loads(out)
        assert len(mine) == 2 and len(mine[1]["values"]) == possible_cpus()
        assert mine[1]["values"][0] == {"cpu": 0, "value": ["0x2a"] + ["0x00"] * 7}
        assert "formatted" not in mine[1]  # no BTF
        theirs = _bpftool("map", "dump", "id", mid)
        assert [(r["key"], r["values"]) for r in mine] == \
            [(r["key"], r["values"]) for r in theirs]
        rc, out, _ = run_cli(capsys, "map", "lookup", mid, "1")
        assert out.startswith("key:\n01 00 00 00\nvalue (CPU 00): 2a 00 00 00 00 00 00 00")
    with kernel.Map.create(MapType.HASH, 2, 3, 4, name="pybpf_raw") as m:
        m.update(b"\x01\x02", b"abc")
        mid = str(kernel.map_get_info(m).id)
        rc, out, _ = run_cli(capsys, "map", "dump", mid)
        assert out == "key: 01 02  value: 61 62 63\nFound 1 element\n"
        rc, out, _ = run_cli(capsys, "map", "dump", mid, "-j")
        assert json.loads(out) == _bpftool("map", "dump", "id", mid)


def test_maps_without_keys_are_refused_by_name(capsys) -> None:  # type: ignore[no-untyped-def]
    with kernel.Map.create(MapType.QUEUE, 0, 4, 4, name="pybpf_q") as m:
        mid = str(kernel.map_get_info(m).id)
        rc, _, err = run_cli(capsys, "map", "dump", mid)
        assert rc == 1 and "is a queue" in err and "no keys" in err


def test_parse_bytes_hostile_input() -> None:
    assert parse_bytes(["hex", "01", "02"], 2, "key") == b"\x01\x02"
    assert parse_bytes(["1", "0x02", "ff"], 3, "key") == b"\x01\x02\xff"
    assert parse_bytes(["258"], 4, "key") == (258).to_bytes(4, "little")
    assert parse_bytes(["-1"], 2, "key") == b"\xff\xff"
    for words, size, msg in ((["hex", "zz"], 2, "not hex"), (["hex", "01"], 2, "is 1 bytes"),
                             (["70000"], 2, "does not fit"), (["a", "b"], 4, "give 4 bytes"),
                             ([], 4, "no key"), (["1", "2", "300"], 3, "give 3 bytes")):
        with pytest.raises(MapViewError, match=msg):
            parse_bytes(words, size, "key")


def test_prog_array_dump_matches_bpftool(capsys) -> None:  # type: ignore[no-untyped-def]
    """A prog array reads back the ids of the programs in its slots, byte for byte as
    bpftool prints them."""
    from pathlib import Path

    import pybpf
    examples = Path(__file__).resolve().parents[2] / "examples"
    with pybpf.load(examples / "tailcall_dispatch.o").instantiate("kernel") as obj:
        jt = obj.maps["jump_table"]
        mid = str(kernel.map_get_info(jt.fd).id)
        rc, out, err = run_cli(capsys, "map", "dump", mid, "-j")
        assert rc == 0, err
        mine = json.loads(out)
        ids = {p.handle.id for n, p in obj.programs.items() if n != "dispatcher"}
        assert {int.from_bytes(bytes(int(b, 16) for b in r["value"]), "little")
                for r in mine} == ids
        assert mine == _bpftool("map", "dump", "id", mid)
        rc, out, _ = run_cli(capsys, "map", "show", mid, "-j")
        assert json.loads(out)["owner_prog_type"] == "xdp"
        assert json.loads(out) == _bpftool("map", "show", "id", mid)
