"""The top-level API as the README shows it: every ```python block of README.md runs
as written, and pybpf.run takes bytecode or assembly text (anything else is a clear
TypeError)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import pybpf

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(),
                    re.MULTILINE | re.DOTALL)


def _run_block(code: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(ROOT)  # the snippets name examples/ relative to the project
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    return out.getvalue()


def test_readme_has_the_api_snippets() -> None:
    assert len(BLOCKS) >= 3
    assert any("obj.globals" in b and ".typed" in b for b in BLOCKS)


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if '"kernel")' not in b])
def test_readme_python_block_runs(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run_block(BLOCKS[index], monkeypatch)
    if "xdp_firewall" in BLOCKS[index]:
        lines = out.splitlines()
        # the rate limit set to 10 before loading is what the object reads
        assert lines[0].endswith(" 10") and lines[-1] == "10"
        stats = eval(lines[1])  # noqa: S307 - our own printed dict
        assert stats[1] == 8  # the blocklisted /24's 8 SYNs


@pytest.mark.kernel
@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if '"kernel")' in b])
def test_readme_python_block_runs_with_the_kernel(index: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if '"veth0"' not in BLOCKS[index]:
        _run_block(BLOCKS[index], monkeypatch)
        return
    # a snippet attaching to an interface runs in a network namespace of its own,
    # where veth0 is one end of a veth pair
    from tests.kernel.netenv import VethPair, need_netns
    need_netns()
    pair = VethPair("readme", dev_a="veth0")
    try:
        out = pair.in_a(lambda: _run_block(BLOCKS[index], monkeypatch))
        assert pair.in_a(lambda: pybpf.kernel.xdp_state(
            __import__("socket").if_nametoindex("veth0"))).mode == "none"  # detached
    finally:
        pair.close()
    if "xdp_firewall" in BLOCKS[index]:
        lines = out.splitlines()
        assert lines[0].startswith("skb LinkInfo(") and "target='veth0'" in lines[0]
        assert all(line.startswith("{") for line in lines[1:])


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_run_assembles_text(backend: str) -> None:
    assert pybpf.run("r0 = 1\nexit", backend=backend) == 1
    assert pybpf.run("mov %r0, 42\nexit\n", backend=backend) == 42  # conformance syntax
    assert pybpf.run("r0 = *(u8 *)(r1 + 1)\nexit", b"\x05\x07", backend=backend) == 7
    assert pybpf.run(bytearray(pybpf.assemble("r0 = 3\nexit")), backend=backend) == 3
    from pybpf.isa import decode
    assert pybpf.run(decode(pybpf.assemble("r0 = 4\nexit")), backend=backend) == 4


@pytest.mark.parametrize("bad", [42, None, 1.5, [1, 2], ROOT / "examples/xdp_firewall.o"])
def test_run_refuses_what_it_cannot_take(bad: object) -> None:
    with pytest.raises(TypeError, match=r"pybpf\.run takes bytecode \(bytes\) or assembly "
                                        r"text \(str\), not "):
        pybpf.run(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mem must be bytes, not str"):
        pybpf.run("r0 = 0\nexit", "0102")  # type: ignore[arg-type]
    with pytest.raises(pybpf.AsmError, match="line 1"):
        pybpf.run("r0 = \nexit")
