"""CO-RE: an object compiled against local struct definitions is relocated against the
running kernel's BTF at instantiation, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf

CORE_O = Path(__file__).resolve().parents[1] / "btf" / "data" / "core.o"
VMLINUX = Path("/sys/kernel/btf/vmlinux")

pytestmark = pytest.mark.skipif(not VMLINUX.exists() or not CORE_O.exists(),
                                reason="needs /sys/kernel/btf/vmlinux and the CO-RE fixture")


def test_spec_records_relocations_at_linked_pcs() -> None:
    spec = pybpf.load(CORE_O)
    prog = spec.programs["skb_len_proto"]
    assert len(prog.core_relos) == 4
    assert all(0 <= r.pc < prog.insn_count for r in prog.core_relos)


def test_core_socket_filter_on_the_vm() -> None:
    with pybpf.load(CORE_O).instantiate("vm") as obj:
        res = obj.programs["skb_len_proto"].test_run(bytes(64))
        assert res.retval != 0
        # programs whose helpers the VM lacks still load; the object says which
        assert any("bpf_get_current_task" in w for w in obj.warnings)


@pytest.mark.kernel
def test_core_relocated_programs_load_in_the_kernel_and_agree() -> None:
    retvals = {}
    for backend in ("kernel", "vm"):
        with pybpf.load(CORE_O).instantiate(backend) as obj:
            assert len(obj.programs) == 5
            retvals[backend] = [obj.programs["skb_len_proto"].test_run(bytes(n)).retval
                                for n in (14, 64, 300)]
    assert retvals["kernel"] == retvals["vm"]
