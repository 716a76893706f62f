"""Every restricted-Python example passes pybpf's own verifier (all capabilities), as it
passes the kernel's (test_examples_python; bpftool loadall in test_frontend_cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.frontend.python import compile_file
from pybpf.verifier import verify_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "python").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_python_example_passes_pybpfs_verifier(path: Path) -> None:
    spec = compile_file(str(path)).spec()
    assert spec.programs, path
    for name in spec.programs:
        r = verify_spec(spec, name)
        assert r.accepted, f"{path.name}:{name}: {r.error}\n{r.log}"
        assert r.insns_processed > 0
