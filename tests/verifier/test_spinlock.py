"""bpf_spin_lock in map values (tests/verifier/data/spinlock.c), as the 6.18 verifier
checks it: the lock found in the value's BTF (nested structs too), at a constant offset,
one at a time, unlocked on the same value, no helper calls and no exit of the main
program while it is held, no load or store over it (also the bounds check of pointer
arithmetic without CAP_PERFMON), and the program types that cannot use it. EXPECT holds
the kernel's first error line per program (None: accepted), with all capabilities and,
where different, with only CAP_BPF + CAP_NET_ADMIN; the kernel test loads every program
in both modes and compares."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.errors import VerifierError
from pybpf.verifier import ALL_CAPS, verify_spec
from tests.conftest import kernel_available
from tests.verifier.kernelcmp import object_differences, table_mismatches

OBJ = Path(__file__).parent / "data" / "spinlock.o"
MODES = {"all": ALL_CAPS, "bpf+net_admin": ("bpf", "net_admin")}
_EXIT = "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region"
_CALL = "function calls are not allowed while holding a lock"
_DIRECT = "bpf_spin_lock cannot be accessed directly by load/store"
EXPECT: dict[str, "str | None | tuple[str | None, str | None]"] = {
    "ok_lock": None,
    # c->bytes or c->count by a branch: the pointer moves 16 or 8 bytes by one `r3 += r2`,
    # which a mask against Spectre v1 cannot cover on both paths
    "ok_hash_lock": (None, "R3 tried to add from different maps, paths or scalars, "
                           "pointer arithmetic with it prohibited for !root"),
    # &n->c.lock: without CAP_PERFMON the pointer's new place is checked as an access
    "ok_nested": (None, _DIRECT),
    "bad_exit_locked": _EXIT,
    "bad_exit_one_branch": _EXIT,
    "bad_call_locked": _CALL,
    "bad_unlock_only": "bpf_spin_unlock without taking a lock",
    "bad_two_locks": _CALL,  # the second bpf_spin_lock is a call while holding one
    "bad_other_unlock": "bpf_spin_unlock of different lock",
    "bad_lock_offset": "off 8 doesn't point to 'struct bpf_spin_lock' that is at 0",
    "bad_no_lock_in_value": "map 'plain' has no valid bpf_spin_lock",
    "bad_read_lock": _DIRECT,
    "bad_write_over_lock": _DIRECT,
    "bad_var_lock": ("R1 doesn't have constant offset. bpf_spin_lock has to be at the "
                     "constant offset", _DIRECT),
    "bad_lock_stack": "R1 type=fp expected=map_value, ptr_",
    "static_call_locked": None,
    "ok_unlock_in_static": None,
    "sockfilter_lock": "socket filter progs cannot use bpf_spin_lock yet",
    # the argument check comes first: a 24-byte memory argument covers the lock
    "bad_global_call_locked": _DIRECT,
}


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return pybpf.load(str(OBJ))


def test_every_program_is_in_the_table(spec) -> None:  # type: ignore[no-untyped-def]
    assert sorted(spec.programs) == sorted(EXPECT)


@pytest.mark.parametrize("mode", list(MODES))
def test_verdicts_are_the_kernels(spec, mode: str) -> None:  # type: ignore[no-untyped-def]
    wrong = table_mismatches(spec, EXPECT, mode, MODES[mode])
    assert not wrong, wrong


def test_without_btf_the_lock_is_refused(spec) -> None:  # type: ignore[no-untyped-def]
    """A map created without BTF types (as the VM's own MapSpecs are) has no lock the
    verifier can find: the kernel's wording for a map without BTF."""
    plain = pybpf.load(str(OBJ))  # its own copy: the maps are changed below
    plain.maps["counters"] = plain.maps["counters"].with_(key_type=None, value_type=None)
    r = verify_spec(plain, "ok_lock", caps=ALL_CAPS)
    assert r.error == "map 'counters' has to have BTF in order to use bpf_spin_lock"


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_locked_programs_run(spec, backend: str) -> None:  # type: ignore[no-untyped-def]
    """The same runs on both backends leave the same counters (the kernel hides the
    lock word from user space; the VM's stays 0)."""
    if backend == "kernel" and not kernel_available()[0]:
        pytest.skip(kernel_available()[1])
    with spec.instantiate(backend, programs=["ok_lock", "static_call_locked"]) as obj:
        for _ in range(3):
            assert obj.programs["ok_lock"].test_run(data_in=bytes(64)).retval == 0
        obj.programs["static_call_locked"].test_run(data_in=bytes(64))
        value = obj.maps["counters"][(0).to_bytes(4, "little")]
        assert value[:8] == bytes(8)  # the lock word and padding
        assert int.from_bytes(value[8:16], "little") == 4  # count
        assert int.from_bytes(value[16:24], "little") == 3 * 64  # bytes
    with pytest.raises(VerifierError, match="cannot be used inside bpf_spin_lock-ed"):
        spec.instantiate(backend, programs=["bad_exit_locked"])


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
def test_table_against_kernel(mode: str) -> None:
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    diff = object_differences(OBJ, MODES[mode])
    assert not diff, diff

