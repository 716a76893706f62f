"""The tree stays lint-clean: ruff over src/ and tests/, mypy over src/pybpf (both configured
in pyproject.toml, both pinned in the `test` extra), and every `type: ignore` in src/ names
its error code and says why. A finding fails the test with the tool's own report."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

# `# type: ignore[code, code]  # why`: the codes, and a comment after them that says why
_IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
_REASON = re.compile(r"\s*#\s*\S")


def _tool(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args` (this interpreter's, so the venv's pinned version) in
    the project root, where pyproject.toml configures it."""
    probe = subprocess.run([sys.executable, "-m", module, "--version"], cwd=ROOT,
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"{module} is not installed for {sys.executable}: "
                    "pip install -e '.[test]' installs the pinned version")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


def test_ruff_finds_nothing() -> None:
    proc = _tool("ruff", "check", "--no-fix", "--output-format", "concise", "src", "tests")
    assert proc.returncode == 0, f"ruff check src tests:\n{proc.stdout}{proc.stderr}"


def test_mypy_finds_nothing() -> None:
    # files, options and per-module settings come from [tool.mypy]; the cache in the
    # project's .mypy_cache makes a run after a small change take seconds
    proc = _tool("mypy", "--cache-dir", str(ROOT / ".mypy_cache"))
    assert proc.returncode == 0, f"mypy (src/pybpf):\n{proc.stdout}{proc.stderr}"


def bare_ignores(source: str) -> list[tuple[int, str]]:
    """(line, comment) of each `type: ignore` comment in `source` without an error code
    or without a reason after it. Comments only: text in strings does not count."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        m = _IGNORE.search(tok.string)
        if m is None:
            continue
        codes = (m.group("codes") or "")[1:-1]
        if not codes.strip() or not _REASON.match(m.group("rest")):
            out.append((tok.start[0], tok.string))
    return out


def test_every_type_ignore_in_src_has_a_code_and_a_reason() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if not re.search(r"type:\s*ignore", text):
            continue
        for line, comment in bare_ignores(text):
            found.append(f"{path.relative_to(ROOT)}:{line}: {comment}")
    assert not found, ("type: ignore needs [code] and a reason after it "
                       "(`# type: ignore[attr-defined]  # why`):\n" + "\n".join(found))


@pytest.mark.parametrize("line, bare", [
    ("x = f()  # type: ignore", True),
    ("x = f()  # type: ignore[arg-type]", True),
    ("x = f()  # type: ignore[]  # empty", True),
    ("x = f()  # type: ignore[arg-type]  #", True),
    ("x = f()  # type:ignore[arg-type]", True),
    ("x = f()  # type: ignore[arg-type]  # the kind says it is a Ptr", False),
    ("x = f()  # type: ignore[arg-type, union-attr]  # checked above", False),
    ("x = f()  # noqa: E501", False),
    ('x = "# type: ignore"', False),
])
def test_bare_ignores_tells_a_reasoned_ignore_from_a_bare_one(line: str, bare: bool) -> None:
    assert bool(bare_ignores(line + "\n")) is bare
