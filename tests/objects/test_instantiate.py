"""Instantiating object files: map specs checked at instantiate (named, fixable before),
perf event arrays sized by the possible CPUs, maps pinned by name and in iproute2's
namespaces (kernel), choosing the programs to load (with their tail-call targets), the
verifier log of accepted programs, and set_global errors that name the variable."""

from __future__ import annotations

import errno
import hashlib
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
        # created with the object's BTF, as its unpinned maps are (bpftool decodes it)
        pinned_info = first.maps["pybpf_pin_counts"].kmap.info()
        private_info = first.maps["private_counts"].kmap.info()
        assert pinned_info.btf_id and pinned_info.btf_id == private_info.btf_id
        assert pinned_info.btf_value_type_id and first.warnings == []
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


# --- 3b. iproute2's pinning namespaces -------------------------------------------------------
# iproute2 (bpf_legacy.c) pins a `struct bpf_elf_map` with PIN_GLOBAL_NS at
# <bpffs>/tc/globals/<name> and with PIN_OBJECT_NS at <bpffs>/tc/<sha1 of the object
# file>/<name>, and reuses what it finds there. (The `tc` of this machine is built on
# libbpf >= 1.0, which refuses legacy map sections, so it cannot be the oracle here.)

IPROUTE2 = DATA / "iproute2_pinned.o"


def test_iproute2_namespaces_are_in_the_spec() -> None:
    from pybpf.maps import Pinning
    spec = pybpf.load(IPROUTE2)
    assert spec.maps["pybpf_ip_global"].pinning is Pinning.IPROUTE2_GLOBAL_NS
    assert spec.maps["pybpf_ip_object"].pinning is Pinning.IPROUTE2_OBJECT_NS
    assert spec.maps["pybpf_ip_private"].pinning is Pinning.NONE
    assert spec.sha1 == hashlib.sha1(IPROUTE2.read_bytes()).hexdigest()
    assert spec.warnings == []


@pytest.mark.kernel
def test_iproute2_pins_where_iproute2_does_and_reuses(bpffs: str) -> None:
    spec = pybpf.load(IPROUTE2)
    global_path = os.path.join(bpffs, "tc", "globals", "pybpf_ip_global")
    object_path = os.path.join(bpffs, "tc", spec.sha1, "pybpf_ip_object")
    with spec.instantiate("kernel", pin_root=bpffs) as first:
        assert first.pinned == {"pybpf_ip_global": global_path,
                                "pybpf_ip_object": object_path}
        assert os.path.exists(global_path) and os.path.exists(object_path)
        assert oct(os.stat(os.path.join(bpffs, "tc")).st_mode & 0o777) == "0o700"
        assert not any("pybpf_ip_private" in f for _, _, fs in os.walk(bpffs) for f in fs)
        for _ in range(2):
            assert first.programs["count_pinned"].test_run(PACKET).retval == 0
    with spec.instantiate("kernel", pin_root=bpffs) as second:   # both reused
        for name in ("pybpf_ip_global", "pybpf_ip_object"):
            assert second.maps[name].reused and second.maps[name][0] == (2).to_bytes(8, "little")
        assert second.maps["pybpf_ip_private"][0] == bytes(8)   # the object's own
    # another object (other bytes, another SHA-1) shares the global map, not the object's
    other = bytearray(IPROUTE2.read_bytes())
    other += b"\0" * 8  # ELF padding past the section data: the same object, another hash
    spec2 = pybpf.load(bytes(other))
    assert spec2.sha1 != spec.sha1
    with spec2.instantiate("kernel", pin_root=bpffs) as third:
        assert third.maps["pybpf_ip_global"].reused
        assert not third.maps["pybpf_ip_object"].reused
        assert third.pinned["pybpf_ip_object"] == os.path.join(bpffs, "tc", spec2.sha1,
                                                               "pybpf_ip_object")
        third.unpin_maps()
    assert not os.path.exists(global_path) and os.path.exists(object_path)


@pytest.mark.kernel
def test_iproute2_incompatible_pinned_map_is_refused(bpffs: str) -> None:
    spec = pybpf.load(IPROUTE2)
    with spec.instantiate("kernel", pin_root=bpffs):
        pass
    spec.maps["pybpf_ip_global"] = spec.maps["pybpf_ip_global"].with_(max_entries=4)
    with pytest.raises(MapSpecError) as e:
        spec.instantiate("kernel", pin_root=bpffs)
    assert str(e.value).startswith("map 'pybpf_ip_global': the map pinned at "
                                   f"{bpffs}/tc/globals/pybpf_ip_global cannot be reused")
    assert "max_entries 2 (pinned) vs 4 (this object)" in str(e.value)


@pytest.mark.kernel
def test_iproute2_object_namespace_needs_the_objects_hash(bpffs: str) -> None:
    spec = pybpf.load(IPROUTE2)
    spec.sha1 = ""   # a spec put together by hand: no object file to hash
    with pytest.raises(MapSpecError, match="^map 'pybpf_ip_object': iproute2's PIN_OBJECT_NS "
                                           "pins under the SHA-1 of the object file"):
        spec.instantiate("kernel", pin_root=bpffs)


@pytest.mark.kernel
def test_iproute2_pin_root_that_is_not_a_bpffs(tmp_path: Path) -> None:
    with pytest.raises(MapSpecError, match="^map 'pybpf_ip_global' is pinned in iproute2's "
                                           "global namespace .PIN_GLOBAL_NS., but the pin "
                                           "root .* is not a bpffs"):
        pybpf.load(IPROUTE2).instantiate("kernel", pin_root=tmp_path)


def test_iproute2_pinning_on_the_vm_is_a_warning() -> None:
    with pybpf.load(IPROUTE2).instantiate("vm") as obj:
        assert obj.pinned == {}
        assert any(w.startswith("map pybpf_ip_global: iproute2's PIN_GLOBAL_NS pins only in "
                                "the kernel") for w in obj.warnings)
        assert obj.programs["count_pinned"].test_run(PACKET).retval == 0
        assert obj.maps["pybpf_ip_object"][0] == (1).to_bytes(8, "little")


# --- 5. choosing the programs to load ---------------------------------------------------------

def test_programs_choose_what_is_loaded_on_the_vm() -> None:
    spec = pybpf.load(DATA / "one_refused.o")
    with spec.instantiate("vm", programs=["good_pass"]) as obj:
        assert list(obj.programs) == ["good_pass"] and obj.skipped == ["bad_unchecked_read"]
    with pytest.raises(pybpf.VerifierError, match="bad_unchecked_read"):  # one name
        spec.instantiate("vm", programs="bad_unchecked_read", verify=True)  # as in the kernel
    with spec.instantiate("vm", programs="bad_unchecked_read", verify=False) as obj:
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


DISPATCH = DATA.parent.parent.parent / "examples" / "tailcall_dispatch.o"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_chosen_program_comes_with_its_tail_call_targets(backend: str) -> None:
    spec = pybpf.load(DISPATCH)
    with spec.instantiate(backend, programs=["dispatcher"]) as obj:   # as cilium/ebpf does
        assert list(obj.programs) == ["handle_ipv4", "handle_ipv6", "dispatcher"]
        assert obj.skipped == [] and obj.warnings == []
    with spec.instantiate(backend, programs=["dispatcher"], tail_calls=False) as obj:
        assert list(obj.programs) == ["dispatcher"]
        assert obj.skipped == ["handle_ipv4", "handle_ipv6"]
        assert any("jump_table slot 0: program handle_ipv4 is not loaded" in w
                   for w in obj.warnings)
    spec.programs["handle_ipv6"].autoload = False   # a target the user leaves out stays out
    with spec.instantiate(backend, programs=["dispatcher"]) as obj:
        assert list(obj.programs) == ["handle_ipv4", "dispatcher"]


def test_select_programs_is_what_instantiate_loads() -> None:
    from pybpf.objects.instance import select_programs, tail_call_targets
    spec = pybpf.load(DISPATCH)
    assert tail_call_targets(spec) == ["handle_ipv4", "handle_ipv6"]
    assert select_programs(spec, "dispatcher") == ["handle_ipv4", "handle_ipv6", "dispatcher"]
    assert select_programs(spec, ["dispatcher"], tail_calls=False) == ["dispatcher"]
    assert select_programs(spec, None) == list(spec.programs)


@pytest.mark.kernel
def test_verifier_log_of_accepted_programs() -> None:
    spec = pybpf.load(DATA / "one_refused.o")
    with spec.instantiate("kernel", programs=["good_pass"]) as obj:
        assert obj.programs["good_pass"].verifier_log is None      # no log asked for
    with spec.instantiate("kernel", programs=["good_pass"], log_level=1) as obj:
        assert "processed" in obj.programs["good_pass"].verifier_log
    with spec.instantiate("kernel", programs=["good_pass"], log_level=2) as obj:
        log = obj.programs["good_pass"].verifier_log
        # level 2: the state at each instruction, e.g. "0: R1=ctx() R10=fp0"
        assert "R10=fp0" in log and "processed" in log
    with pytest.raises(pybpf.kernel.KernelVerifierError) as e:
        spec.instantiate("kernel", programs=["bad_unchecked_read"], log_level=2)
    assert "R10=fp0" in e.value.log   # a rejection carries the log at the level asked


def test_verifier_log_level_is_checked_and_the_vm_keeps_pybpfs_log() -> None:
    spec = pybpf.load(DATA / "one_refused.o")
    with spec.instantiate("vm", programs=["good_pass"], log_level=2, verify=True) as obj:
        log = obj.programs["good_pass"].verifier_log   # pybpf's verifier, the kernel's format
        assert log is not None and "R10=fp0" in log and "processed" in log
    with spec.instantiate("vm", programs=["good_pass"], log_level=2, verify=False) as obj:
        assert obj.programs["good_pass"].verifier_log is None
    for bad in (-1, 8, True, "2"):
        with pytest.raises(ValueError, match="log_level must be 0..7"):
            spec.instantiate("vm", log_level=bad)  # type: ignore[arg-type]


def test_autoload_false_on_the_vm() -> None:
    spec = pybpf.load(DATA / "one_refused.o")
    spec.programs["good_pass"].autoload = False
    with spec.instantiate("vm", verify=False) as obj:  # the other is refused when verified
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
