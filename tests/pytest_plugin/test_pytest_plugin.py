"""The pytest plugin, run on test files of its own through pytester: the backend
fixture runs a test once per backend (the kernel run skipped with the reason where
bpf(2) is unavailable), and a failing test's report shows the disassembly with source
lines, the verifier log and the map differences."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

COUNTER = '''
from pybpf.builder import FP, R0, R1, R2, ObjectBuilder

def counter(verdict=2, helper=None):
    ob = ObjectBuilder()
    ob.map("hits", "array", key="u32", value="u64", max_entries=1)
    p = ob.program("prog", "xdp")
    p.stw(FP, -4, 0)
    p.mov64(R2, FP).add64(R2, -4)
    p.ld_map_fd(R1, "hits").call("map_lookup_elem")
    p.jeq(R0, 0, "out")
    if helper:
        p.mov64(R2, R0).call(helper).stxdw(R2, 0, R0)  # r2 is clobbered: refused
    p.mov64(R1, 1).atomic_add("dw", R0, 0, R1)
    p.label("out")
    p.ret(verdict)  # THE VERDICT LINE
    return ob.build()
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(helpers=COUNTER)
    return pytester


def test_plugin_is_registered_by_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_it(request):
            assert request.config.pluginmanager.has_plugin("pybpf")
    """)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_backend_fixture_runs_the_test_on_each_backend(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        from helpers import counter

        def test_count(bpf_backend):
            with counter().instantiate(bpf_backend) as obj:
                assert obj.programs["prog"].test_run(bytes(64)).retval == 2
                assert obj.maps["hits"].typed[0] == 1
    """)
    result = suite.runpytest_subprocess("-v")
    result.stdout.fnmatch_lines(["*test_count?vm? PASSED*"])
    from tests.conftest import kernel_available
    if kernel_available()[0]:
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(["*test_count?kernel? PASSED*"])
    else:
        result.assert_outcomes(passed=1, skipped=1)
    suite.runpytest_subprocess("--bpf-backends=vm").assert_outcomes(passed=1)
    result = suite.runpytest_subprocess("--bpf-backends=vm,bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_kernel_run_skips_with_the_reason(suite: pytest.Pytester) -> None:
    suite.makeconftest("""
        import pytest

        @pytest.fixture(autouse=True)
        def no_bpf(monkeypatch):
            import pybpf.pytest_plugin as plugin
            monkeypatch.setattr(plugin, "_kernel_available",
                                lambda caps: (False, f"simulated, needs {', '.join(caps)}"))
    """)
    suite.makepyfile("""
        import pytest

        @pytest.mark.bpf_caps("CAP_NET_ADMIN")
        def test_it(bpf_backend):
            assert bpf_backend in ("vm", "kernel")

        @pytest.mark.bpf_backends("vm")
        def test_vm_only(bpf_backend):
            assert bpf_backend == "vm"
    """)
    result = suite.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*kernel backend: bpf(2) unavailable: simulated, "
                                 "needs CAP_BPF, CAP_NET_ADMIN*"])


def test_failure_shows_disassembly_with_source_and_map_changes(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        from helpers import counter

        def test_wrong_verdict(bpf_backend):
            with counter(verdict=1).instantiate(bpf_backend) as obj:
                assert obj.programs["prog"].test_run(bytes(64)).retval == 2
    """)
    result = suite.runpytest_subprocess("--bpf-backends=vm")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- pybpf -*",
        "object <builder> on the vm",
        "  program prog (xdp):",
        "*p.ret(verdict)  # THE VERDICT LINE*helpers.py:*",
        "*: r0 = 1",
        "*: exit",
        "  maps changed during the test:",
        "  map hits: 1 entries differ",
        "    ?0? at load: (none)  at end: 1",
    ])


def test_unused_plugin_adds_nothing(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        from helpers import counter

        def test_plain():
            with counter(verdict=1).instantiate("vm") as obj:
                assert obj.programs["prog"].test_run(bytes(64)).retval == 2

        def test_reported(bpf_backend):
            with counter(verdict=1).instantiate("vm") as obj:
                assert obj.programs["prog"].test_run(bytes(64)).retval == 2
    """)
    result = suite.runpytest_subprocess("--bpf-backends=vm")
    result.assert_outcomes(failed=2)
    assert result.stdout.str().count("object <builder> on the vm") == 1
    result = suite.runpytest_subprocess("--bpf-backends=vm", "--bpf-report=none")
    assert "object <builder>" not in result.stdout.str()
    result = suite.runpytest_subprocess("--bpf-backends=vm", "--bpf-report=all")
    assert result.stdout.str().count("object <builder> on the vm") == 2


@pytest.mark.kernel
def test_kernel_failure_shows_the_verifier_log(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        import pytest
        from helpers import counter

        @pytest.mark.bpf_backends("kernel")
        def test_refused(bpf_backend):
            counter(helper="ktime_get_ns").instantiate(bpf_backend)

        @pytest.mark.bpf_backends("kernel")
        def test_accepted_but_wrong(bpf_backend):
            with counter(verdict=1).instantiate(bpf_backend) as obj:
                assert obj.programs["prog"].verifier_log is None  # not asked for
                assert obj.programs["prog"].test_run(bytes(64)).retval == 2
    """)
    result = suite.runpytest_subprocess()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "object <builder> on the kernel: instantiation failed: " in out
    assert "verifier log of prog (refused):" in out
    assert "R2 !read_ok" in out  # the kernel's reason, on a line of its own
    assert "p.mov64(R2, R0).call(helper).stxdw(R2, 0, R0)" in out
    assert "verifier log of prog:" in out and "processed" in out
    assert "[0] at load: (none)  at end: 1" in out


@pytest.mark.kernel
def test_maps_compared_with_the_other_backend_run(suite: pytest.Pytester) -> None:
    suite.makepyfile("""
        from pybpf.builder import FP, R0, R1, R2, R3, R4, ObjectBuilder

        def stamp():
            ob = ObjectBuilder()
            ob.map("t", "array", key="u32", value="u64", max_entries=2)
            p = ob.program("prog", "xdp")
            p.call("get_prandom_u32").or64(R0, 1).stxdw(FP, -16, R0)
            p.stw(FP, -4, 0)
            p.ld_map_fd(R1, "t").mov64(R2, FP).add64(R2, -4)
            p.mov64(R3, FP).add64(R3, -16).mov64(R4, 0).call("map_update_elem")
            p.ret(2)
            return ob.build()

        def test_stamp(bpf_backend):
            with stamp().instantiate(bpf_backend) as obj:
                obj.programs["prog"].test_run(bytes(64))
                assert False, "show me the maps"
    """)
    result = suite.runpytest_subprocess()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*maps at end, vm run vs this kernel run:",
                                 "  map t: 1 entries differ",
                                 "    ?0? vm: * kernel: *"])
