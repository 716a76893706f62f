"""An object's kernel maps are created with its BTF, as libbpf creates them: BTF-defined
maps with their key and value types, data sections with their DATASEC as value type,
so bpftool and `pybpf map dump` decode their elements; BTF the kernel refuses for a map
is dropped for that map with a warning."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf.btf.types import BtfKind, Datasec
from pybpf.maps import MapSpec
from pybpf.maps.kernelmap import btf_type_ids
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
FIREWALL = ROOT / "examples" / "xdp_firewall.o"


def _bpftool(*args: str) -> Any:
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    return json.loads(subprocess.run(["bpftool", "-j", *args], capture_output=True,
                                     text=True, check=True).stdout)


def test_spec_records_key_and_value_types() -> None:
    spec = pybpf.load(FIREWALL)
    rate = spec.maps["rate_table"]
    assert spec.btf[rate.value_type].name == "rate_state"
    assert spec.btf.size_of(rate.key_type) == 4
    ro = spec.maps[".rodata"]
    assert ro.key_type is None
    sec = spec.btf[ro.value_type]
    assert isinstance(sec, Datasec) and sec.name == ".rodata"
    again = pybpf.load(FIREWALL)  # deterministic: the same ids on every load
    assert {n: (m.key_type, m.value_type) for n, m in again.maps.items()} == \
        {n: (m.key_type, m.value_type) for n, m in spec.maps.items()}


def test_btf_type_ids_follow_libbpf() -> None:
    hash_ = MapSpec("hash", 4, 16, 8, key_type=3, value_type=7)
    assert btf_type_ids(hash_) == (3, 7)
    assert btf_type_ids(hash_.with_(key_type=None)) == (0, 7)  # data sections: no key type
    assert btf_type_ids(hash_.with_(value_type=None)) == (0, 0)
    assert btf_type_ids(hash_.with_(value_type=True)) == (0, 0)  # not a type id
    assert btf_type_ids(hash_.with_(value_type="rate_state")) == (0, 0)
    perf = MapSpec("perf_event_array", 4, 4, 4, key_type=3, value_type=3)
    assert btf_type_ids(perf) == (0, 0)  # libbpf creates fd maps without BTF types
    queue = MapSpec("queue", 0, 8, 4, value_type=3)
    assert btf_type_ids(queue) == (0, 0)


@pytest.mark.kernel
def test_object_maps_carry_btf_in_the_kernel(capsys: Any) -> None:
    spec = pybpf.load(FIREWALL)
    with spec.instantiate("kernel") as obj:
        assert obj.warnings == []
        btf_ids = set()
        for name, m in obj.maps.items():
            info = m.kmap.info()
            assert info.btf_id, name
            btf_ids.add(info.btf_id)
            want = btf_type_ids(spec.maps[name])
            assert (info.btf_key_type_id, info.btf_value_type_id) == want, name
            shown = _bpftool("map", "show", "id", str(m.id))
            assert shown["btf_id"] == info.btf_id
        assert len(btf_ids) == 1  # the object's one BTF
        rate = obj.maps["rate_table"]
        key = bytes([10, 0, 0, 7])
        rate.update(key, struct.pack("<QQ", 123456789, 42))
        rc, out, err = run_cli(capsys, "map", "dump", str(rate.id), "--json")
        assert rc == 0, err
        (rec,) = json.loads(out)
        assert rec["formatted"]["value"] == {"window_start_ns": 123456789, "count": 42}
        assert rec["formatted"]["key"] == int.from_bytes(key, "little")
        theirs = _bpftool("map", "dump", "id", str(rate.id))
        assert theirs[0]["formatted"]["value"] == {"window_start_ns": 123456789, "count": 42}
        ro = obj.maps[".rodata"]
        rc, out, err = run_cli(capsys, "map", "dump", str(ro.id), "--json")
        assert rc == 0, err
        (rec,) = json.loads(out)
        # the DATASEC decodes the section's variables (no key type: none shown)
        assert rec["formatted"] == {"value": {".rodata": [{"rate_limit_pps": 100},
                                                          {"rate_window_ns": 1000000000}]}}


@pytest.mark.kernel
def test_btf_the_kernel_refuses_is_dropped_with_a_warning() -> None:
    spec = pybpf.load(FIREWALL)
    (u32,) = spec.btf.find("__u32", BtfKind.TYPEDEF)
    # a 4-byte value type for 16-byte values: BPF_MAP_CREATE says EINVAL
    spec.maps["rate_table"] = spec.maps["rate_table"].with_(value_type=u32)
    with spec.instantiate("kernel") as obj:
        assert [w for w in obj.warnings if "rate_table" in w and "without BTF" in w]
        assert obj.maps["rate_table"].kmap.info().btf_id == 0
        assert obj.maps["blocklist"].kmap.info().btf_id  # the others keep theirs
