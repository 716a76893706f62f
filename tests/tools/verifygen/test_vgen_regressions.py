"""Replays every verifier case file in tests/regressions (verifier-*.json, written by
`pybpf fuzz verify --save`): pybpf's verifier must give the kernel's recorded verdict,
and the kernel (where bpf(2) is usable) must still give it too. For the
verifier-line-*.json files (a refusal whose first error line pybpf once got wrong) the
line must be the kernel's recorded one as well."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.tools.verifygen import load_case
from tests.conftest import kernel_available

REGRESSIONS = Path(__file__).resolve().parents[2] / "regressions"
FILES = sorted(REGRESSIONS.glob("verifier-*.json"))


def test_the_replay_sees_the_files() -> None:
    assert REGRESSIONS.is_dir()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_pybpf_gives_the_kernels_verdict(path: Path) -> None:
    from pybpf.verifier import verify
    saved = load_case(path)
    c = saved.case
    extra = {"func_info": c.func_info, "btf": c.btf} if c.func_info else {}
    r = verify(c.insns, c.prog_type, maps=dict(enumerate(c.maps)),
               expected_attach_type=c.expected_attach_type, caps=tuple(sorted(c.caps)),
               license=c.license, **extra)
    want = saved.kernel["accepted"]
    assert r.accepted == want, (f"{path.name}: kernel {'accepts' if want else 'refuses'} "
                                f"({saved.kernel.get('error') or saved.kernel.get('errno')}), "
                                f"pybpf says {r.error or 'accepted'}")
    if path.name.startswith("verifier-line-"):
        assert r.error == saved.kernel["error"]


@pytest.mark.kernel
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_the_kernel_still_says_so(path: Path) -> None:
    if not kernel_available()[0]:
        pytest.skip("bpf(2) unavailable")
    from pybpf.kernel.verdict import kernel_verdict
    saved = load_case(path)
    c = saved.case
    v = kernel_verdict(c.insns, c.prog_type, maps=c.maps,
                       expected_attach_type=c.expected_attach_type, caps=c.caps,
                       license=c.license, btf=c.btf, func_info=c.func_info)
    assert v.accepted == saved.kernel["accepted"]
    if path.name.startswith("verifier-line-"):
        from pybpf.tools.verifygen.campaign import refusal_line
        assert refusal_line(v.error_line, v.log) == saved.kernel["error"]
