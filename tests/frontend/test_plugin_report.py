"""A test of a compiled Python program written with the plugin's bpf_backend fixture
runs on each backend, and its failure report shows the disassembly under the Python
lines it came from (and, in the kernel, the verifier's log of a refused program)."""

from __future__ import annotations

import pytest

from tests.conftest import kernel_available

pytest_plugins = ["pytester"]

PROGRAM = '''
from pybpf.frontend.python import *
LICENSE = "GPL"
hits = HashMap(u32, u64, 4)

@xdp
def p(ctx):
    slot = hits.lookup(0)
    if slot is not None:
        slot[0] += 1
    return XDP_PASS
'''


def test_failure_report_shows_python_lines(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(prog=PROGRAM)
    pytester.makepyfile("""
        from pybpf.frontend.python import compile_file

        def test_verdict(bpf_backend):
            with compile_file("prog.py").spec().instantiate(bpf_backend) as obj:
                assert obj.programs["p"].test_run(bytes(64)).retval == 3
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    n = 2 if kernel_available()[0] else 1
    result.assert_outcomes(failed=n, skipped=2 - n)
    result.stdout.fnmatch_lines(["*program p (xdp):*",
                                 "*; slot?0? += 1  ?*prog.py:9:9?*",
                                 "*; return XDP_PASS  ?*prog.py:10:5?*"])


@pytest.mark.kernel
def test_refused_program_report_has_the_log(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(prog=PROGRAM.replace("    if slot is not None:\n        slot[0]",
                                             "    if True:\n        slot[0]"))
    pytester.makepyfile("""
        from pybpf.frontend.python import compile_file

        def test_load(bpf_backend):
            with compile_file("prog.py").spec().instantiate(bpf_backend) as obj:
                assert obj.programs["p"]
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    # both backends refuse it: the VM verifies every program as the kernel does
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*invalid mem access 'map_value_or_null'*"])
