"""The context models of the program types only the kernel runs (sk_skb, sk_msg, flow
dissector, sk_lookup, netfilter): each access of tests/verifier/ctx_table.py gives
pybpf the kernel's verdict and first error line in both capability modes; the kernel
test re-records the table against the running kernel; the project's own objects of
these types verify as the kernel verifies them."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.verifier import ALL_CAPS, verify_spec
from tests.conftest import kernel_available
from tests.verifier.ctx_table import CTX_CASES, NETFILTER, CtxCase
from tests.verifier.kernelcmp import kernel_outcome, object_verdict, pybpf_outcome

MODES = {"all": ALL_CAPS, "bpf+net_admin": ("bpf", "net_admin")}
DATA = Path(__file__).parent.parent / "kernel" / "data"
_PERM = "access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN"
# (object, program): the kernel's first error line with all capabilities, with only
# bpf,net_admin (None: accepted)
OBJECTS: dict[tuple[str, str], tuple[str | None, str | None]] = {
    ("flow_dissector", "dissect"): (
        None, "R6 has pointer with unsupported alu operation, pointer arithmetic with it "
              "prohibited for !root"),
    ("netfilter", "nf_count_drop"): (None, f"'struct nf_hook_state' {_PERM}"),
    ("sk_lookup", "steer"): (None, None),
    ("sockmap", "parse"): (None, None),
    ("sockmap", "verdict"): (None, None),
    ("sockmap", "on_msg"): (None, None),
}


def _btf_readable() -> bool:
    from pybpf.verifier.kfunc import kernel_btf
    return kernel_btf() is not None


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", CTX_CASES, ids=[c.name for c in CTX_CASES])
def test_ctx_access(case: CtxCase, mode: str) -> None:
    if case.prog_type == NETFILTER and mode == "all" and not _btf_readable():
        pytest.skip("no readable vmlinux BTF")
    p = pybpf_outcome(case, MODES[mode])
    assert p.error == case.expected(mode)
    assert p.accepted == (p.error is None)


@pytest.fixture(scope="module")
def kernel() -> None:
    ok, why = kernel_available()
    if not ok:
        pytest.skip(why)


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
def test_ctx_table_against_kernel(kernel, mode: str) -> None:
    """The table is the running kernel's answer, and pybpf's."""
    caps = None if mode == "all" else MODES[mode]
    wrong = []
    for case in CTX_CASES:
        k = kernel_outcome(case, caps)
        p = pybpf_outcome(case, MODES[mode])
        if not k.accepted == p.accepted or k.error != p.error or \
                k.error != case.expected(mode):
            wrong.append((case.name, k.error, p.error, case.expected(mode)))
    assert not wrong, wrong


def _verify(obj: str, prog: str, mode: str) -> "str | None":
    spec = pybpf.load(str(DATA / f"{obj}.bpf.o"))
    r = verify_spec(spec, prog, caps=MODES[mode])
    assert r.accepted == (r.error is None)
    return r.error


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("obj,prog", list(OBJECTS), ids=[f"{o}:{p}" for o, p in OBJECTS])
def test_objects(obj: str, prog: str, mode: str) -> None:
    if obj == "netfilter" and mode == "all" and not _btf_readable():
        pytest.skip("no readable vmlinux BTF")
    want = OBJECTS[(obj, prog)][0 if mode == "all" else 1]
    assert _verify(obj, prog, mode) == want


@pytest.mark.kernel
@pytest.mark.parametrize("mode", list(MODES))
def test_objects_against_kernel(kernel, mode: str) -> None:
    for obj, prog in OBJECTS:
        accepted, error = object_verdict(DATA / f"{obj}.bpf.o", prog, MODES[mode])
        assert (accepted, error) == (OBJECTS[(obj, prog)][0 if mode == "all" else 1] is None,
                                     OBJECTS[(obj, prog)][0 if mode == "all" else 1])
        assert _verify(obj, prog, mode) == error
