"""A program the kernel verifier refuses is reported at the Python line of the refused
instruction (BTF line info carries the Python file, line, column and text)."""

from __future__ import annotations

import textwrap

import pytest

from pybpf.frontend.python import ProgramRefused, compile_source

SRC = textwrap.dedent("""\
    from pybpf.frontend.python import *
    LICENSE = "GPL"
    counts = HashMap(u32, u64, 4)

    @xdp
    def p(ctx):
        slot = counts.lookup(1)
        slot[0] += 1
        return XDP_PASS
""")


def test_line_info_points_at_python() -> None:
    spec = compile_source(SRC, "refused.py").spec()
    lines = {(li.line_num, li.line.strip()) for li in spec.programs["p"].line_info}
    assert (7, "slot = counts.lookup(1)") in lines and (8, "slot[0] += 1") in lines
    assert all(li.file.endswith("refused.py") for li in spec.programs["p"].line_info)


@pytest.mark.kernel
def test_verifier_refusal_names_the_python_line() -> None:
    with pytest.raises(ProgramRefused) as ei:
        compile_source(SRC, "refused.py").instantiate("kernel")
    e = ei.value
    assert (e.line, e.col, e.source.strip()) == (8, 5, "slot[0] += 1")
    assert str(e).startswith(f"{e.file}:8:5: the kernel verifier refused program p at "
                             "`slot[0] += 1`: R0 invalid mem access 'map_value_or_null'")
    assert e.__cause__ is not None and "map_value_or_null" in e.log
