"""The campaign against the kernel: a fast sample in the default suite (the machinery,
the refused share, and pybpf's verdicts: no false accept), the big one as a slow test."""

from __future__ import annotations

import os

import pytest

from pybpf.kernel.verdict import KernelOracle
from pybpf.tools.verifygen import Generator, check_case, load_case, run_campaign

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """200 cases of seed 0 in both capability modes."""
    save = tmp_path_factory.mktemp("reproducers")
    return run_campaign(200, 0, save_dir=save, timeout=20), save


def test_sample_report_adds_up(sample) -> None:
    report, _ = sample
    t = report.total
    assert t.cases == 200 and report.rate > 0
    assert t.agree + t.false_accepts + t.false_refusals + t.errors + t.timeouts + \
        t.unchecked == 200
    assert sum(m.cases for m in report.per_mode.values()) == 200
    assert set(report.per_mode) == {"all", "bpf,net_admin"}
    assert sum(x.cases for x in report.per_type.values()) == 200
    d = report.to_dict()
    assert d["total"]["cases"] == 200 and "per_mutation" in d
    assert "cases/s" in report.format_text()


def test_sample_false_accepts_are_saved_and_replay(sample) -> None:
    report, save = sample
    assert len(report.saved) == report.total.false_accepts
    with KernelOracle() as o:
        for path in report.saved:
            saved = load_case(path)
            assert saved.kernel["accepted"] is False and saved.pybpf["accepted"] is True
            again = check_case(saved.case, o, None)
            assert again.kernel.accepted is False


def test_sample_no_pybpf_errors_or_false_accepts(sample) -> None:
    """The issue's rule: 0 false accepts in every campaign (each is a safety bug)."""
    report, _ = sample
    assert report.pybpf == "available"
    assert report.total.errors == 0, report.errors.most_common(5)
    assert report.total.false_accepts == 0, [
        (f["index"], f["kind"], f["caps"], f["kernel"]["error"] or f["kernel"]["errno"])
        for f in report.false_accepts]


def test_refused_share_of_1000_cases_is_at_least_40_percent() -> None:
    g = Generator(11)
    refused = 0
    with KernelOracle() as o:
        for case in g.cases(1000):
            refused += not check_case(case, o, None).kernel.accepted
    assert refused >= 400, f"only {refused} of 1000 refused by the kernel"


@pytest.mark.slow
def test_big_campaign(tmp_path) -> None:
    """The issue's figures: >= 99% agreement in both modes, 0 false accepts, >= 90% of
    the first error lines, >= 40% refused (PYBPF_VERIFY_CASES sets the size)."""
    n = int(os.environ.get("PYBPF_VERIFY_CASES", "20000"))
    report = run_campaign(n, 1, save_dir=tmp_path, objects_pass=True)
    print(report.format_text())
    d = report.to_dict()
    assert report.total.false_accepts == 0 and report.total.errors == 0
    for mode, t in d["per_mode"].items():
        assert t["agreement"] >= 0.99, mode
    assert d["total"]["refused_share"] >= 0.40
    assert d["total"]["first_line_match"] >= 0.90
    assert report.objects is not None and report.objects.false_accepts == 0


def test_refusal_line_skips_a_warning_the_walk_went_past() -> None:
    """A BTF warning printed before the walk of a main program is not the refusal: the
    line compared is the one after which the verifier stopped."""
    from pybpf.tools.verifygen.campaign import refusal_line
    warn = "arg#0 reference type('UNKNOWN ') size cannot be determined: -22"
    log = (f"{warn}\n0: R1=ctx() R10=fp0\n0: (05) goto pc+0\n1: (95) exit\nR0 !read_ok\n"
           "verification time 56 usec\nprocessed 2 insns (limit 1000000)\n")
    assert refusal_line(warn, log) == "R0 !read_ok"
    assert refusal_line("R0 !read_ok", log) == "R0 !read_ok"
    assert refusal_line(warn, f"{warn}\nverification time 5 usec\n") == warn
    assert refusal_line(None, log) is None


def test_a_kernel_verifier_bug_is_no_verdict() -> None:
    """EFAULT "verifier bug: ..." (the kernel's verifier failing on itself) is reported
    apart, not as a false accept, and left out of the agreement."""
    from types import SimpleNamespace

    from pybpf.kernel.verdict import KernelVerdict
    from pybpf.tools.verifygen.campaign import CampaignReport, Outcome
    case = Generator(1).case(0)
    bug = KernelVerdict(False, "verifier bug: backtracking misuse", "", 29, 33, errno=14)
    ok = KernelVerdict(True, None, "", 2, 3)
    report = CampaignReport(2, 1, ["all"])
    report.add(Outcome(0, case, bug, SimpleNamespace(accepted=True, error=None, pc=None)))
    report.add(Outcome(1, case, ok, SimpleNamespace(accepted=True, error=None, pc=None)))
    assert report.total.kernel_bugs == 1 and report.total.false_accepts == 0
    assert report.to_dict()["total"]["agreement"] == 1.0
    assert len(report.kernel_bugs) == 1 and "kernel verifier bugs (1" in report.format_text()
