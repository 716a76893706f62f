"""Instantiating object files: map specs checked at instantiate (named, fixable before),
perf event arrays sized by the possible CPUs, maps pinned by name (kernel), choosing the
programs to load, and set_global errors that name the variable."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import pybpf
from pybpf.errors import PyBPFError
from pybpf.maps import MapSpec, MapSpecError, possible_cpus
from pybpf.objects.errors import (
    GlobalValueError,
    GlobalVarError,
    ObjectError,
    UnknownGlobalError,
)
from pybpf.objects.instance import DEFAULT_PIN_ROOT

DATA = Path(__file__).resolve().parent / "data"
BACKENDS = ["vm", pytest.param("kernel", marks=pytest.mark.kernel)]
XDP_PASS, XDP_DROP = 2, 1
PACKET = bytes(64)


# --- 1. map specs: checked at instantiate, worded as spec errors, fixable before ---------

def test_bad_map_spec_loads_and_waits_for_instantiate() -> None:
    spec = pybpf.load(DATA / "bad_mapspec.o")  # no error here: the spec can still be fixed
    assert spec.maps["counts"].max_entries == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_map_spec_is_a_named_spec_error_at_instantiate(backend: str) -> None:
    spec = pybpf.load(DATA / "bad_mapspec.o")
    with pytest.raises(MapSpecError) as e:
        spec.instantiate(backend)
    assert str(e.value) == "map 'counts': max_entries 0 is invalid for hash maps (must be > 0)"
    assert e.value.errno == errno.EINVAL          # what BPF_MAP_CREATE would answer
    assert "create:" not in str(e.value) and "Invalid argument" not in str(e.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_map_spec_fixed_between_load_and_instantiate(backend: str) -> None:
    spec = pybpf.load(DATA / "bad_mapspec.o")
    spec.maps["counts"] = spec.maps["counts"].with_(max_entries=8)
    with spec.instantiate(backend) as obj:
        prog = obj.programs["count_packets"]
        assert prog.test_run(PACKET).retval == XDP_PASS
        assert prog.test_run(PACKET).retval == XDP_PASS
        assert obj.maps["counts"][0] == (2).to_bytes(8, "little")
        assert obj.maps["counts"].spec.max_entries == 8


def test_map_spec_put_in_by_hand_is_named_by_its_key() -> None:
    spec = pybpf.load(DATA / "bad_mapspec.o")
    spec.maps["counts"] = MapSpec("hash", 4, 8, 0, check=False)   # no name of its own
    with pytest.raises(MapSpecError, match="^map 'counts': max_entries 0 is invalid"):
        spec.instantiate("vm")
    spec.maps["counts"] = {"type": "hash"}
    with pytest.raises(ObjectError, match="map 'counts': .* MapSpecs, not dict"):
        spec.instantiate("vm")


# --- 2. perf event arrays without max_entries ----------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_perf_event_array_max_entries_0_is_the_possible_cpus(backend: str) -> None:
    spec = pybpf.load(DATA / "perf_events.o")
    assert spec.maps["events"].max_entries == 0       # the spec keeps what the object says
    with spec.instantiate(backend) as obj:
        events = obj.maps["events"]
        assert events.spec.max_entries == possible_cpus()
        if backend == "kernel":
            assert events.kmap.info().max_entries == possible_cpus()
        # nobody reads the ring: the output fails inside, the program still passes
        assert obj.programs["report_len"].test_run(PACKET).retval == XDP_PASS


@pytest.mark.parametrize("backend", BACKENDS)
def test_legacy_maps_section_conventions(backend: str) -> None:
    """falco-style `struct bpf_map_def` maps: the perf event array takes the CPU count,
    the hash map with max_entries 0 is named at instantiate, and fixable."""
    spec = pybpf.load(DATA / "legacy_maps.o")
    with pytest.raises(MapSpecError, match="^map 'settings': max_entries 0 is invalid "
                                           r"for hash maps \(must be > 0\)$"):
        spec.instantiate(backend)
    spec.maps["settings"] = spec.maps["settings"].with_(max_entries=1)
    with spec.instantiate(backend) as obj:
        assert obj.maps["perf_map"].spec.max_entries == possible_cpus()
        obj.maps["settings"][0] = 20
        prog = obj.programs["legacy_report"]
        assert prog.test_run(bytes(64)).retval == XDP_DROP
        assert prog.test_run(bytes(20)).retval == XDP_PASS


# --- 3. LIBBPF_PIN_BY_NAME ------------------------------------------------------------------



def test_pin_root_default_is_libbpfs() -> None:
    assert DEFAULT_PIN_ROOT == "/sys/fs/bpf"
    assert pybpf.load(DATA / "pinned.o").maps["pybpf_pin_counts"].pinning == 1


@pytest.mark.kernel
def test_pinned_map_outlives_the_object_and_is_reused(bpffs: str) -> None:
    spec = pybpf.load(DATA / "pinned.o")
    path = os.path.join(bpffs, "pybpf_pin_counts")
    with spec.instantiate("kernel", pin_root=bpffs) as first:
        assert first.pinned == {"pybpf_pin_counts": path} and os.path.exists(path)
        assert not os.path.exists(os.path.join(bpffs, "private_counts"))  # not pinned
        for _ in range(3):
            assert first.programs["count_pinned"].test_run(PACKET).retval == XDP_PASS
        first_id = first.maps["pybpf_pin_counts"].id
    assert os.path.exists(path)                       # the pin keeps the map
    with spec.instantiate("kernel", pin_root=bpffs) as second:
        pinned = second.maps["pybpf_pin_counts"]
        assert pinned.id == first_id and pinned.reused
        assert pinned.spec.key_type == spec.maps["pybpf_pin_counts"].key_type  # BTF kept
        assert pinned[0] == (3).to_bytes(8, "little")          # reused, contents kept
        assert second.maps["private_counts"][0] == bytes(8)   # a fresh private map
        second.programs["count_pinned"].test_run(PACKET)
        assert pinned[0] == (4).to_bytes(8, "little")
        second.unpin_maps()
    assert not os.path.exists(path)


@pytest.mark.kernel
def test_incompatible_pinned_map_is_a_clear_error(bpffs: str) -> None:
    spec = pybpf.load(DATA / "pinned.o")
    with spec.instantiate("kernel", pin_root=bpffs):
        pass
    spec.maps["pybpf_pin_counts"] = spec.maps["pybpf_pin_counts"].with_(max_entries=8)
    with pytest.raises(MapSpecError) as e:
        spec.instantiate("kernel", pin_root=bpffs)
    assert "map 'pybpf_pin_counts'" in str(e.value)
    assert "max_entries 4 (pinned) vs 8 (this object)" in str(e.value)


@pytest.mark.kernel
def test_pin_root_that_is_not_a_bpffs_is_refused(tmp_path: Path) -> None:
    spec = pybpf.load(DATA / "pinned.o")
    with pytest.raises(PyBPFError, match="pybpf_pin_counts.* is not a bpffs"):
        spec.instantiate("kernel", pin_root=tmp_path)


def test_pin_by_name_on_the_vm_is_a_warning() -> None:
    with pybpf.load(DATA / "pinned.o").instantiate("vm") as obj:
        assert obj.pinned == {}
        assert any("pybpf_pin_counts" in w and "only in the kernel" in w for w in obj.warnings)


# --- 5. choosing the programs to load ---------------------------------------------------------

def test_programs_choose_what_is_loaded_on_the_vm() -> None:
    spec = pybpf.load(DATA / "one_refused.o")
    with spec.instantiate("vm", programs=["good_pass"]) as obj:
        assert list(obj.programs) == ["good_pass"] and obj.skipped == ["bad_unchecked_read"]
    with spec.instantiate("vm", programs="bad_unchecked_read") as obj:   # one name
        assert list(obj.programs) == ["bad_unchecked_read"]
    with pytest.raises(ObjectError, match="no program 'nope' in this object "
                                          r"\(programs: good_pass, bad_unchecked_read\)"):
        spec.instantiate("vm", programs=["good_pass", "nope"])


@pytest.mark.kernel
def test_one_refused_program_does_not_stop_the_others() -> None:
    spec = pybpf.load(DATA / "one_refused.o")
    with pytest.raises(pybpf.kernel.KernelVerifierError) as e:
        spec.instantiate("kernel")
    assert "program bad_unchecked_read (xdp)" in str(e.value)   # the error names it
    with spec.instantiate("kernel", programs=["good_pass"]) as obj:
        assert obj.programs["good_pass"].test_run(PACKET).retval == XDP_PASS
        assert obj.skipped == ["bad_unchecked_read"]
    spec.programs["bad_unchecked_read"].autoload = False   # libbpf's set_autoload(false)
    with spec.instantiate("kernel") as obj:
        assert list(obj.programs) == ["good_pass"]
    # an explicit list overrides autoload
    with pytest.raises(pybpf.kernel.KernelVerifierError, match="bad_unchecked_read"):
        spec.instantiate("kernel", programs=["bad_unchecked_read"])


def test_autoload_false_on_the_vm() -> None:
    spec = pybpf.load(DATA / "one_refused.o")
    spec.programs["good_pass"].autoload = False
    with spec.instantiate("vm") as obj:
        assert list(obj.programs) == ["bad_unchecked_read"] and obj.skipped == ["good_pass"]


# --- 6. set_global errors name the variable ---------------------------------------------------

def test_set_global_errors_name_the_variable() -> None:
    spec = pybpf.load(DATA / "btf_attach.o")
    spec.set_global("sys_enter_hits", 7)
    assert spec.global_bytes("sys_enter_hits") == (7).to_bytes(8, "little")
    with pytest.raises(UnknownGlobalError) as unknown:
        spec.set_global("sys_exit_hits", 1)
    assert isinstance(unknown.value, KeyError) and isinstance(unknown.value, PyBPFError)
    assert str(unknown.value) == ("no global variable 'sys_exit_hits' "
                                  "(globals: sys_enter_hits)")
    assert unknown.value.name == "sys_exit_hits"
    for value, match in [(1 << 70, "global sys_enter_hits: 1180591620717411303424 does "
                                   "not fit 'unsigned long long'"),
                         (b"abc", "global sys_enter_hits is 8 bytes, got 3"),
                         ("7", "global sys_enter_hits: expected an int, got str"),
                         (3.5, "global sys_enter_hits: expected an int, got float")]:
        with pytest.raises(GlobalValueError, match=match) as bad:
            spec.set_global("sys_enter_hits", value)  # type: ignore[arg-type]
        assert isinstance(bad.value, ValueError) and isinstance(bad.value, GlobalVarError)
        assert bad.value.name == "sys_enter_hits"
    assert spec.global_bytes("sys_enter_hits") == (7).to_bytes(8, "little")  # unchanged


@pytest.mark.kernel
def test_default_pin_root_is_sys_fs_bpf() -> None:
    from pybpf.kernel import is_bpffs
    if not is_bpffs(DEFAULT_PIN_ROOT):
        pytest.skip(f"{DEFAULT_PIN_ROOT} is not a bpffs here")
    path = os.path.join(DEFAULT_PIN_ROOT, "pybpf_pin_counts")
    if os.path.exists(path):
        pytest.skip(f"{path} exists (not ours to remove)")
    obj = pybpf.load(DATA / "pinned.o").instantiate("kernel")
    try:
        assert obj.pinned == {"pybpf_pin_counts": path} and os.path.exists(path)
        assert obj.maps["pybpf_pin_counts"].pin_path == path
    finally:
        obj.unpin_maps()
        obj.close()
    assert not os.path.exists(path)


def test_programs_must_be_names() -> None:
    spec = pybpf.load(DATA / "one_refused.o")
    with pytest.raises(TypeError, match="programs must be program names, not int"):
        spec.instantiate("vm", programs=5)  # type: ignore[arg-type]
    with pytest.raises(ObjectError, match="no program 5"):
        spec.instantiate("vm", programs=[5])  # type: ignore[list-item]
