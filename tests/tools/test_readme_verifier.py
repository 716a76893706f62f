"""The README's Verifier section is real output: its C program, compiled with clang, gives
exactly the `pybpf verify` text shown (error line, source line, hint, path,
counterexample), and the printed `pybpf run` command fails as shown."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
HEADERS = """#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

"""


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Verifier\n", 1)[1].split("\n## ", 1)[0]


def test_readme_verifier_output_is_real(capsys: pytest.CaptureFixture[str], tmp_path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (the README's program is C)")
    section = _section()
    c_src = re.search(r"```c\n(.*?)```", section, re.S)[1]  # type: ignore[index]
    shell = re.search(r"```\n(\$ .*?)```", section, re.S)[1]  # type: ignore[index]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "drop_udp.c").write_text(HEADERS + c_src +
                                         'char LICENSE[] SEC("license") = "GPL";\n')
    blocks = re.split(r"^\$ pybpf ", shell, flags=re.M)[1:]
    for block in blocks:
        cmd, _, expected = block.partition("\n")
        rc, out, err = run_cli(capsys, *cmd.split())
        if cmd.startswith("cc "):
            assert rc == 0, err
            continue
        got = out + "\n".join(ln for ln in err.splitlines() if not ln.startswith("wrote "))
        assert got.strip() == expected.strip(), cmd
        assert rc != 0
