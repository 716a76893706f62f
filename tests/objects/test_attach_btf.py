"""tp_btf / fentry / fexit / lsm programs: attach_btf_id found in vmlinux BTF by the
kernel's naming rules at kernel instantiation. On a kernel under lockdown only tp_btf
loads, so the other kinds are checked against vmlinux BTF and by their error."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf.btf import BtfKind
from pybpf.objects.attachbtf import (
    attach_target,
    needs_attach_btf_id,
    resolve_attach_btf_id,
)
from pybpf.objects.errors import ObjectError
from pybpf.uapi import AttachType, ProgType

DATA = Path(__file__).resolve().parent / "data"
VMLINUX = "/sys/kernel/btf/vmlinux"
needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX), reason=f"no {VMLINUX}")

# program name -> (BTF name, kind) the kernel expects for it
EXPECTED = {
    "count_sys_enter": ("btf_trace_sys_enter", BtfKind.TYPEDEF),
    "enter_unlinkat": ("do_unlinkat", BtfKind.FUNC),
    "exit_unlinkat": ("do_unlinkat", BtfKind.FUNC),
    "check_file_open": ("bpf_lsm_file_open", BtfKind.FUNC),
}


@pytest.fixture(scope="module")
def vmlinux():  # type: ignore[no-untyped-def]
    if not os.path.exists(VMLINUX):
        pytest.skip(f"no {VMLINUX}")
    from pybpf.btf import load_vmlinux
    return load_vmlinux()


def test_section_names_map_to_the_kernels_btf_names() -> None:
    spec = pybpf.load(DATA / "btf_attach.o")
    for name, (btf_name, kind) in EXPECTED.items():
        p = spec.programs[name]
        assert needs_attach_btf_id(p.type, p.expected_attach_type)
        target = attach_target(p.name, p.type, p.expected_attach_type, p.attach_to)
        assert (target.name, target.kind) == (btf_name, kind)
    assert spec.programs["count_sys_enter"].expected_attach_type == AttachType.TRACE_RAW_TP
    assert spec.programs["check_file_open"].expected_attach_type == AttachType.LSM_MAC
    assert not needs_attach_btf_id(ProgType.XDP, AttachType.XDP)
    assert attach_target("it", ProgType.TRACING, AttachType.TRACE_ITER, "task").name == \
        "bpf_iter_task"


def test_ids_resolve_in_vmlinux_btf(vmlinux: Any) -> None:
    spec = pybpf.load(DATA / "btf_attach.o")
    for name, (btf_name, kind) in EXPECTED.items():
        p = spec.programs[name]
        tid = resolve_attach_btf_id(vmlinux, p.name, p.type, p.expected_attach_type,
                                    p.attach_to)
        t = vmlinux[tid]
        assert t.name == btf_name and t.kind == kind


@pytest.mark.parametrize("attach_type,attach_to,match", [
    (AttachType.TRACE_FENTRY, "", "names no function"),
    (AttachType.TRACE_FENTRY, "no_such_function_in_any_kernel",
     "function 'no_such_function_in_any_kernel' is not in the kernel's BTF "
     r"\(no FUNC no_such_function_in_any_kernel\)"),
    (AttachType.TRACE_RAW_TP, "no_such_tp", r"no TYPEDEF btf_trace_no_such_tp"),
    (AttachType.LSM_MAC, "no_such_hook", r"no FUNC bpf_lsm_no_such_hook"),
    (AttachType.TRACE_FENTRY, "some_module:func", "kernel module"),
])
def test_unresolvable_targets_name_the_program(vmlinux: Any, attach_type: int,
                                               attach_to: str, match: str) -> None:
    prog_type = ProgType.LSM if attach_type == AttachType.LSM_MAC else ProgType.TRACING
    with pytest.raises(ObjectError, match=f"^program probe: .*{match}"):
        resolve_attach_btf_id(vmlinux, "probe", prog_type, attach_type, attach_to)


@pytest.mark.kernel
@needs_vmlinux
def test_tp_btf_loads_with_the_resolved_id_and_runs_when_attached() -> None:
    spec = pybpf.load(DATA / "btf_attach.o")
    with spec.instantiate("kernel", programs=["count_sys_enter"]) as obj:
        prog = obj.programs["count_sys_enter"]
        info = prog.handle.info(insns=False)
        assert info.attach_btf_id == prog.attach_btf_id != 0
        hits = obj.maps[".bss"]
        assert hits[0] == bytes(8)          # loaded, not attached: nothing counted
        time.sleep(0.05)
        assert hits[0] == bytes(8)
        with prog.attach() as link:
            assert isinstance(link, pybpf.kernel.Link) and link.is_bpf_link
            info = link.info()
            # tp_btf is attached through a raw tracepoint link (fentry: a tracing one)
            assert info.kind == link.kind == "raw_tracepoint"
            assert info.prog_id == prog.handle.id and info.target == "sys_enter"
            os.getppid()
            os.stat("/")
        time.sleep(0.05)                    # detached: runs in flight finish
        n = int.from_bytes(hits[0], "little")
        assert n >= 2
        os.stat("/")
        time.sleep(0.05)
        assert int.from_bytes(hits[0], "little") == n


@pytest.mark.kernel
@needs_vmlinux
def test_refused_btf_programs_are_named_and_skippable() -> None:
    """Under lockdown the kernel refuses fentry/fexit/lsm (EPERM); elsewhere they load.
    Either way the outcome names the program, and the rest stay loadable."""
    spec = pybpf.load(DATA / "btf_attach.o")
    try:
        obj = spec.instantiate("kernel")
    except pybpf.kernel.KernelError as e:
        assert any(f"program {n} " in str(e) for n in
                   ("enter_unlinkat", "exit_unlinkat", "check_file_open")), str(e)
    else:
        with obj:
            for prog in obj.programs.values():
                assert prog.handle.info(insns=False).attach_btf_id == prog.attach_btf_id
    for name in EXPECTED:
        try:
            with spec.instantiate("kernel", programs=[name]) as one:
                assert list(one.programs) == [name]
        except pybpf.kernel.KernelError as e:
            assert f"program {name} " in str(e)


def test_expected_attach_type_follows_the_section_when_the_type_is_set_by_hand() -> None:
    from pybpf.objects.attachbtf import expected_attach_type
    assert expected_attach_type(ProgType.TRACING, 0, "tp_btf/sys_enter") == \
        AttachType.TRACE_RAW_TP
    assert expected_attach_type(ProgType.TRACING, 0, "fexit.s/do_unlinkat") == \
        AttachType.TRACE_FEXIT
    assert expected_attach_type(ProgType.LSM, 0, "lsm/file_open") == AttachType.LSM_MAC
    assert expected_attach_type(ProgType.TRACING, AttachType.TRACE_FENTRY,
                                "tp_btf/x") == AttachType.TRACE_FENTRY   # its own wins
    assert expected_attach_type(ProgType.XDP, 0, "fentry/x") == 0        # not tracing


@pytest.mark.kernel
@needs_vmlinux
def test_tp_btf_with_type_set_by_hand_loads() -> None:
    spec = pybpf.load(DATA / "btf_attach.o")
    p = spec.programs["count_sys_enter"]
    p.expected_attach_type = 0            # as a program of unknown section would be
    with spec.instantiate("kernel", programs=["count_sys_enter"]) as obj:
        assert obj.programs["count_sys_enter"].attach_btf_id == \
            obj.programs["count_sys_enter"].handle.info(insns=False).attach_btf_id != 0
