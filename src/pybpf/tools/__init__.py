"""The example tools: `pybpf top` (packets and bytes per protocol, from the socket
filter example) and `pybpf trace syscalls` (syscall counts and latency, from the
tracepoint example), and their BCC-style log2 histograms.

The tools load the example objects shipped as package data in `pybpf/tools/data/`
(copied there from examples/ by scripts/build-examples), so an installed pybpf needs
neither clang nor the source tree.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PyBPFError

DATA = Path(__file__).resolve().parent / "data"


class ToolError(PyBPFError):
    """A tool cannot run: no such interface, no tracefs, no bpf(2), ..."""


def example_object(name: str) -> Path:
    """The path of a shipped example object ("sockfilter_proto" -> .../sockfilter_proto.o)."""
    path = DATA / f"{name}.o"
    if not path.is_file():
        raise ToolError(f"the example object {path} is missing from the installation "
                        "(scripts/build-examples copies it there)")
    return path
