"""kfunc calls and ksym lddws checked against this machine's kernel BTF as the kernel's
pre-pass does (ids that are no function or no kfunc, non-GPL callers, module offsets
without fd_array, ksyms that are neither variable nor function); a real kfunc is
reported as not modelled, and the VM refuses to run it. Each case is compared with the
kernel in both capability modes."""

from __future__ import annotations

import os

import pytest

from pybpf.asm import assemble_insns
from pybpf.isa import BPF_PSEUDO_BTF_ID, BPF_PSEUDO_KFUNC_CALL, OPCODE_LDDW, Instruction
from pybpf.verifier import ALL_CAPS, verify
from pybpf.verifier.kfunc import kernel_btf, kernel_func_id
from tests.conftest import kernel_available
from tests.verifier.kernelcmp import _drop_caps, first_error_line

XDP = 6
MODES = {"all": ALL_CAPS, "bpf+net_admin": ("bpf", "net_admin")}


@pytest.fixture(scope="module")
def btf():
    kb = kernel_btf()
    if kb is None:
        pytest.skip("the kernel's BTF (/sys/kernel/btf/vmlinux) is not readable")
    return kb[0]


def _kfunc(imm: int, off: int = 0) -> list[Instruction]:
    return (assemble_insns("r1 = 0") + [Instruction(0x85, 0, BPF_PSEUDO_KFUNC_CALL, off, imm)]
            + assemble_insns("r0 = 2\nexit"))


def _ksym(imm: int) -> list[Instruction]:
    return [Instruction(OPCODE_LDDW, 1, BPF_PSEUDO_BTF_ID, 0, imm, 0)] + \
        assemble_insns("r0 = 2\nexit")


def cases(btf) -> dict[str, tuple[list[Instruction], str, str | None]]:
    struct = btf.find("task_struct")[0]
    sched = kernel_func_id("schedule")
    return {
        "kfunc_is_a_struct": (_kfunc(struct), "GPL",
                              f"kernel btf_id {struct} is not a function"),
        "kfunc_out_of_range": (_kfunc(10**8), "GPL", "kernel btf_id 100000000 is not a function"),
        "kfunc_not_a_kfunc": (_kfunc(sched), "GPL",
                              "calling kernel function schedule is not allowed"),
        "kfunc_module_offset": (_kfunc(sched, 1), "GPL",
                                "kfunc offset > 0 without fd_array is invalid"),
        "kfunc_unresolved": (_kfunc(0), "GPL",
                             "invalid kernel function call not eliminated in verifier pass"),
        "kfunc_non_gpl": (_kfunc(sched), "Dual MIT/GPL-not",
                          "cannot call kernel function from non-GPL compatible program"),
        "kfunc_non_gpl_bad_id": (_kfunc(struct), "MIT",
                                 "cannot call kernel function from non-GPL compatible program"),
        "ksym_is_a_struct": (_ksym(struct), "GPL",
                             f"pseudo btf_id {struct} in ldimm64 isn't KIND_VAR or KIND_FUNC"),
        "ksym_out_of_range": (_ksym(10**8), "GPL",
                              "ldimm64 insn specifies invalid btf_id 100000000."),
    }


def test_the_kernels_refusals(btf) -> None:
    for name, (insns, lic, error) in cases(btf).items():
        r = verify(insns, XDP, license=lic)
        assert not r.accepted and r.error == error, (name, r.error)


def test_a_real_kfunc_is_not_modelled(btf) -> None:
    rid = kernel_func_id("bpf_rcu_read_lock")
    if not rid:
        pytest.skip("no bpf_rcu_read_lock kfunc in this kernel")
    r = verify(_kfunc(rid), XDP)
    assert not r.accepted and r.error.startswith("pybpf verifier:")
    assert "bpf_rcu_read_lock" in r.error


def test_the_vm_refuses_to_run_a_kfunc() -> None:
    import pybpf
    from pybpf.errors import PyBPFError
    code = b"".join(i.encode() for i in _kfunc(kernel_func_id("bpf_rcu_read_lock") or 1))
    with pytest.raises(PyBPFError, match="kfunc call .*the VM has no kernel functions"):
        pybpf.run(code, b"")


def _kernel_error(insns: list[Instruction], lic: str, caps: tuple[str, ...]) -> str | None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            from pybpf.kernel.errors import KernelVerifierError
            from pybpf.kernel.progs import prog_load
            if caps != ALL_CAPS:
                _drop_caps(caps)
            try:
                prog_load(XDP, insns, lic, log_level=1).close()
                out = "None"
            except KernelVerifierError as e:
                out = first_error_line(e.log) or f"errno {e.errno}"
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = f"harness error: {e!r}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    text = data.decode()
    return None if text == "None" else text


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
def test_against_kernel(btf, mode: str) -> None:
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)
    diff = []
    for name, (insns, lic, _) in cases(btf).items():
        k = _kernel_error(insns, lic, MODES[mode])
        r = verify(insns, XDP, license=lic, caps=MODES[mode])
        if k != (None if r.accepted else r.error):
            diff.append((name, k, r.error))
    assert not diff, diff
