"""Refused C programs (tests/verifier/data/*.c), one per common refusal, compiled with
clang for the source-line, hint and counterexample tests; and the kernel's own log with
line info, from libbpf (bpftool prog load), to compare source lines with."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
# program file -> (capabilities of the refusal, the kernel's first error line's start)
REFUSED = {
    "pkt_unchecked": ("all", "invalid access to packet"),
    "pkt_popped": ("all", "invalid access to packet"),
    "pkt_proto": ("all", "invalid access to packet"),
    "null_check": ("all", "R0 invalid mem access 'map_value_or_null'"),
    "var_offset": ("all", "invalid access to map value"),
    "map_index": ("all", "R0 unbounded memory access"),
    "uninit_stack": ("bpf,net_admin", "invalid read from stack"),
    "ref_leak": ("all", "Unreleased reference"),
    "r0_range": ("all", "At program exit the register R0"),
    "helper_arg": ("all", "R2 type=scalar expected="),
}


@functools.cache
def _outdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pybpf-refused-"))


def compiled(name: str) -> Path:
    """tests/verifier/data/NAME.c compiled (-O2 -g, so with BTF line info) to an object;
    skips without clang."""
    from pybpf.frontend.c import CCompileError, find_toolchain
    try:
        find_toolchain()
    except CCompileError:
        pytest.skip("no C compiler (clang, or the ziglang package; the refused programs "
                    "are C)")
    out = _outdir() / f"{name}.o"
    if not out.exists():
        from pybpf.frontend.c import compile_c_object
        out.write_bytes(compile_c_object(DATA / f"{name}.c").elf)
    return out


_BEGIN = re.compile(r"-- BEGIN PROG LOAD LOG --\n(.*?)-- END PROG LOAD LOG --", re.S)


def libbpf_log(obj: Path) -> str:
    """The kernel's verifier log (level 1) of a program the kernel refuses, loaded by
    libbpf (bpftool), which passes the object's BTF line info. Skips without bpftool;
    nothing stays pinned (a program the kernel accepts is unpinned at once)."""
    tool = shutil.which("bpftool")
    if tool is None:
        pytest.skip("bpftool is not installed (libbpf loads the object with its line info)")
    pin = Path("/sys/fs/bpf") / f"pybpf-refused-{os.getpid()}"
    try:
        r = subprocess.run([tool, "prog", "load", str(obj), str(pin)], capture_output=True,
                           text=True, timeout=60, check=False)
    finally:
        if pin.exists():
            pin.unlink()
    m = _BEGIN.search(r.stderr)
    assert m is not None, f"bpftool printed no verifier log: {r.stderr[-2000:]}"
    return m.group(1)


def source_lines(log: str) -> list[tuple[str, int | None]]:
    """The "; <line> @ file:N" lines of a log, each with the insn printed after it."""
    out: list[tuple[str, int | None]] = []
    lines = log.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("; ") and " @ " in ln:
            nxt = re.match(r"^(\d+): \(", lines[i + 1]) if i + 1 < len(lines) else None
            out.append((ln, int(nxt.group(1)) if nxt else None))
    return out
