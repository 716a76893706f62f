"""The README's restricted-Python example and its pytest test work as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(first_line: str) -> str:
    for m in re.finditer(r"```python\n(.*?)```", README.read_text(), re.DOTALL):
        if m.group(1).startswith(first_line):
            return m.group(1)
    raise AssertionError(f"README has no python block starting {first_line!r}")


def test_readme_count_example(bpf_backend: str, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "count.py").write_text(_block("# count.py"))
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(_block("# test_count.py"), "test_count.py", "exec"), ns)  # noqa: S102
    ns["test_count"](bpf_backend)
    assert os.path.exists("count.py")
