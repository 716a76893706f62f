"""The bpf_conformance vectors (../shared/conformance) under the JIT: every one passes
as on the interpreter, with the same r0."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf import jit
from pybpf.conformance import check_vector, conformance_helpers
from tests.conformance.test_vectors import BPF_CONF, NEGATIVE, ids
from tests.conftest import conformance_dir


def _run_jit(vec) -> int:  # type: ignore[no-untyped-def]
    return jit.run(vec.program(), vec.mem, helpers=conformance_helpers())


def test_all_vectors_are_there() -> None:
    conformance_dir()
    assert len(BPF_CONF) == 313


@pytest.mark.parametrize("path", BPF_CONF + NEGATIVE, ids=ids(BPF_CONF + NEGATIVE))
def test_vector_under_jit(path: Path) -> None:
    """Every vector passes; the negative ones (malformed on purpose) fare as on the
    interpreter."""
    outcome = check_vector(path, _run_jit)
    assert outcome.passed or path in NEGATIVE, outcome.detail
    interp = check_vector(path)
    assert (outcome.r0, outcome.passed) == (interp.r0, interp.passed)
