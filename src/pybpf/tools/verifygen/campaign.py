"""The campaign: pybpf's verifier against the kernel's on generated cases (and on every
program of the project's objects), verdict by verdict. A false accept (pybpf accepts,
the kernel refuses) is a safety bug: each is saved as a case file that
tests/regressions replays. The report gives agreement, false accepts and refusals, the
first-error-line match rate and the refused share, per capability mode and per
mutation, and the rate in cases per second."""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .case import Case, caps_name, save_case
from .generator import DEFAULT_CAPS_MODES, Generator, Mix

DEFAULT_TIMEOUT = 20.0  # seconds pybpf may spend on one case before it is counted as such
SAMPLES = 25  # disagreements of each kind kept in the report


_INSN_LINE = re.compile(r"^\d+: \([0-9a-f]{2}\)", re.M)


def refusal_line(error_line: str | None, log: str) -> str | None:
    """The kernel's refusal line: its first error line unless the verifier went on
    walking instructions after it (a warning, e.g. "arg#0 reference type('UNKNOWN ')
    size cannot be determined" about a main program's BTF), then the next such line."""
    from ...kernel.verdict import first_error_line
    line, rest = error_line, log
    while line is not None:
        i = rest.find(line)
        if i < 0:
            return line
        after = rest[i + len(line):]
        nxt = first_error_line(after) if _INSN_LINE.search(after) else None
        if nxt is None:
            return line
        line, rest = nxt, after
    return line


class CaseTimeout(BaseException):
    """pybpf's verifier took longer than the campaign's per-case limit (a BaseException,
    so that no `except Exception` in the code under test swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise CaseTimeout in the body after `seconds` (SIGALRM: main thread only;
    elsewhere, or with None, no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_sig: int, _frame: Any) -> None:
        raise CaseTimeout(f"pybpf took longer than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def pybpf_verifier() -> tuple[Callable[..., Any] | None, str]:
    """pybpf.verifier.verify, or None and why it cannot be used."""
    try:
        from ...verifier import verify
    except ImportError as e:
        return None, f"pybpf.verifier is not available: {e}"
    return verify, ""


@dataclass
class Outcome:
    """One case under both verifiers. `failure` is set when pybpf raised (a bug) or ran
    out of time; `pybpf` is then None."""

    index: int | str
    case: Case
    kernel: Any  # KernelVerdict
    pybpf: Any = None  # VerifierResult
    failure: str | None = None
    timeout: bool = False
    pybpf_seconds: float = 0.0

    @property
    def verdict(self) -> str:
        """agree, false_accept, false_refusal, error (pybpf raised), timeout or
        unchecked (no pybpf verifier), kernel_bug (the kernel's verifier failed on
        itself, EFAULT "verifier bug: ...": no verdict to compare with)."""
        if not self.kernel.accepted and (self.kernel.error_line or "").startswith(
                "verifier bug"):
            return "kernel_bug"
        if self.timeout:
            return "timeout"
        if self.failure is not None:
            return "error"
        if self.pybpf is None:
            return "unchecked"
        if self.pybpf.accepted == self.kernel.accepted:
            return "agree"
        return "false_accept" if self.pybpf.accepted else "false_refusal"

    @property
    def line_match(self) -> bool | None:
        """For a program both refuse: whether pybpf's error is the kernel's first error
        line (None otherwise)."""
        if self.verdict != "agree" or self.kernel.accepted:
            return None
        want = refusal_line(self.kernel.error_line, self.kernel.log or "")
        if want is None:  # refused before verification (EPERM, E2BIG ...): no line
            return None
        return (self.pybpf.error or "").strip() == want.strip()

    def summary(self) -> dict[str, Any]:
        p = self.pybpf
        return {"index": self.index, "kind": self.case.kind, "origin": self.case.origin,
                "type": self.case.type_name, "caps": caps_name(self.case.caps),
                "kernel": self.kernel.to_dict(),
                "pybpf": None if p is None else {"accepted": p.accepted, "error": p.error,
                                                  "pc": p.pc},
                "failure": self.failure}


@dataclass
class Tally:
    """Counts over a set of outcomes."""

    cases: int = 0
    kernel_refused: int = 0
    pybpf_refused: int = 0
    agree: int = 0
    false_accepts: int = 0
    false_refusals: int = 0
    both_refused_with_line: int = 0
    line_match: int = 0
    errors: int = 0
    timeouts: int = 0
    unchecked: int = 0
    kernel_bugs: int = 0  # the kernel's verifier failed on itself (EFAULT "verifier bug")
    kernel_us: int = 0
    pybpf_seconds: float = 0.0

    def add(self, o: Outcome) -> None:
        self.cases += 1
        self.kernel_refused += not o.kernel.accepted
        self.kernel_us += o.kernel.verify_us or 0
        self.pybpf_seconds += o.pybpf_seconds
        v = o.verdict
        if o.pybpf is not None:
            self.pybpf_refused += not o.pybpf.accepted
        self.agree += v == "agree"
        self.false_accepts += v == "false_accept"
        self.false_refusals += v == "false_refusal"
        self.errors += v == "error"
        self.timeouts += v == "timeout"
        self.unchecked += v == "unchecked"
        self.kernel_bugs += v == "kernel_bug"
        m = o.line_match
        if m is not None:
            self.both_refused_with_line += 1
            self.line_match += m

    @property
    def checked(self) -> int:
        """Cases with a verdict from both sides (a pybpf error or timeout counts as a
        disagreement: it is no verdict; a kernel verifier bug is no kernel verdict)."""
        return self.cases - self.unchecked - self.kernel_bugs

    def to_dict(self) -> dict[str, Any]:
        def rate(n: int, d: int) -> float | None:
            return round(n / d, 4) if d else None
        return {"cases": self.cases, "refused_share": rate(self.kernel_refused, self.cases),
                "agreement": rate(self.agree, self.checked),
                "false_accepts": self.false_accepts, "false_refusals": self.false_refusals,
                "errors": self.errors, "timeouts": self.timeouts, "unchecked": self.unchecked,
                "kernel_bugs": self.kernel_bugs,
                "first_line_match": rate(self.line_match, self.both_refused_with_line),
                "both_refused_with_line": self.both_refused_with_line,
                "kernel_refused": self.kernel_refused, "pybpf_refused": self.pybpf_refused,
                "kernel_verify_s": round(self.kernel_us / 1e6, 3),
                "pybpf_verify_s": round(self.pybpf_seconds, 3)}


@dataclass
class CampaignReport:
    count: int
    seed: int
    caps_modes: list[str]
    seconds: float = 0.0
    pybpf: str = "available"
    total: Tally = field(default_factory=Tally)
    per_mode: dict[str, Tally] = field(default_factory=dict)
    per_mutation: dict[str, Tally] = field(default_factory=dict)
    per_type: dict[str, Tally] = field(default_factory=dict)
    objects: Tally | None = None
    false_accepts: list[dict[str, Any]] = field(default_factory=list)
    false_refusals: list[dict[str, Any]] = field(default_factory=list)
    kernel_bugs: list[dict[str, Any]] = field(default_factory=list)
    line_mismatches: list[dict[str, Any]] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    skipped_objects: list[str] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Cases (generated and object programs) per second."""
        n = self.total.cases + (self.objects.cases if self.objects else 0)
        return n / self.seconds if self.seconds else 0.0

    def add(self, o: Outcome, *, is_object_pass: bool = False) -> None:
        if is_object_pass:
            if self.objects is None:
                self.objects = Tally()
            self.objects.add(o)
        else:
            self.total.add(o)
            self.per_mode.setdefault(caps_name(o.case.caps), Tally()).add(o)
            for name in (o.case.mutation or o.case.kind).split("+"):
                self.per_mutation.setdefault(name, Tally()).add(o)
            self.per_type.setdefault(o.case.type_name, Tally()).add(o)
        v = o.verdict
        if v == "false_accept":
            self.false_accepts.append(o.summary())
        elif v == "false_refusal" and len(self.false_refusals) < SAMPLES:
            self.false_refusals.append(o.summary())
        elif v in ("error", "timeout"):
            self.errors[(o.failure or v).splitlines()[0][:160]] += 1
        elif v == "kernel_bug" and len(self.kernel_bugs) < SAMPLES:
            self.kernel_bugs.append(o.summary())
        if o.line_match is False and len(self.line_mismatches) < SAMPLES:
            self.line_mismatches.append({"index": o.index, "kind": o.case.kind,
                                         "kernel": refusal_line(o.kernel.error_line,
                                                                o.kernel.log or ""),
                                         "pybpf": o.pybpf.error})

    @property
    def ok(self) -> bool:
        """No false accept, no pybpf error (the campaign's pass condition)."""
        t = [self.total] + ([self.objects] if self.objects else [])
        return all(x.false_accepts == 0 and x.errors == 0 for x in t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count, "seed": self.seed, "caps_modes": self.caps_modes,
            "seconds": round(self.seconds, 2), "cases_per_second": round(self.rate, 2),
            "pybpf": self.pybpf, "total": self.total.to_dict(),
            "per_mode": {k: v.to_dict() for k, v in self.per_mode.items()},
            "per_mutation": {k: v.to_dict() for k, v in sorted(self.per_mutation.items())},
            "per_type": {k: v.to_dict() for k, v in sorted(self.per_type.items())},
            "objects": self.objects.to_dict() if self.objects else None,
            "false_accepts": self.false_accepts, "false_refusals": self.false_refusals,
            "kernel_bugs": self.kernel_bugs, "line_mismatches": self.line_mismatches,
            "errors": [{"error": e, "count": n} for e, n in self.errors.most_common(20)],
            "skipped_objects": self.skipped_objects, "saved": self.saved,
        }

    def format_text(self) -> str:
        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.1f}%"

        def row(name: str, t: Tally) -> str:
            d = t.to_dict()
            return (f"  {name:<24} {t.cases:>7} {pct(d['refused_share']):>8} "
                    f"{pct(d['agreement']):>9} {t.false_accepts:>6} {t.false_refusals:>6} "
                    f"{pct(d['first_line_match']):>8} {t.errors + t.timeouts:>6}")
        head = (f"  {'':<24} {'cases':>7} {'refused':>8} {'agree':>9} {'FA':>6} {'FR':>6} "
                f"{'1st line':>8} {'err/to':>6}")
        out = [(f"pybpf fuzz verify: {self.count} cases, seed {self.seed}, caps "
               f"{' and '.join(self.caps_modes)}: {self.seconds:.1f} s "
               f"({self.rate:.1f} cases/s)")]
        if self.pybpf != "available":
            out.append(f"  pybpf's verifier: {self.pybpf}; the kernel's verdicts only")
        out += [head, row("all", self.total)]
        for k, t in self.per_mode.items():
            out.append(row(f"caps {k}", t))
        if self.objects:
            out.append(row("object programs", self.objects))
        out.append("per mutation:")
        out += [row(k, t) for k, t in sorted(self.per_mutation.items())]
        out.append("per program type:")
        out += [row(k, t) for k, t in sorted(self.per_type.items())]
        if self.false_accepts:
            out.append(f"false accepts ({len(self.false_accepts)}; pybpf accepts, the "
                       "kernel refuses):")
            for fa in self.false_accepts[:SAMPLES]:
                k = fa["kernel"]
                out.append(f"  #{fa['index']} {fa['kind']} {fa['type']} caps {fa['caps']} "
                           f"({fa['origin']}): kernel {k['error'] or k['errno']}")
        if self.false_refusals:
            out.append(f"false refusals (first {len(self.false_refusals)}):")
            for fr in self.false_refusals[:10]:
                out.append(f"  #{fr['index']} {fr['kind']} {fr['type']} caps {fr['caps']}: "
                           f"pybpf {fr['pybpf']['error']}")
        if self.kernel_bugs:
            out.append(f"kernel verifier bugs ({self.total.kernel_bugs}; EFAULT, no verdict "
                       "to compare with, not counted):")
            for kb in self.kernel_bugs[:10]:
                out.append(f"  #{kb['index']} {kb['kind']} {kb['type']} caps {kb['caps']}: "
                           f"kernel {kb['kernel']['error']}")
        if self.line_mismatches:
            out.append(f"first error lines that differ (first {len(self.line_mismatches)}):")
            for m in self.line_mismatches[:10]:
                out.append(f"  #{m['index']} {m['kind']}: kernel {m['kernel']!r}, "
                           f"pybpf {m['pybpf']!r}")
        if self.errors:
            out.append("pybpf errors and timeouts:")
            out += [f"  {n:>5} x {e}" for e, n in self.errors.most_common(10)]
        if self.saved:
            out.append(f"reproducers saved: {len(self.saved)} (e.g. {self.saved[0]})")
        return "\n".join(out) + "\n"


def check_case(case: Case, oracle: Any, verify: Callable[..., Any] | None, *,
               index: int | str = 0, timeout: float | None = DEFAULT_TIMEOUT) -> Outcome:
    """One case: the kernel's verdict (through `oracle`, a KernelOracle) and pybpf's."""
    kv = oracle.verdict(case.insns, case.prog_type, maps=case.maps,
                        expected_attach_type=case.expected_attach_type, caps=case.caps,
                        license=case.license, log_level=1, btf=case.btf,
                        func_info=case.func_info)
    out = Outcome(index, case, kv)
    if verify is None:
        return out
    t0 = time.perf_counter()
    try:
        with time_limit(timeout):
            extra: dict[str, Any] = {}
            if case.func_info:  # (insn, BTF FUNC id) pairs and the raw BTF they name
                extra = {"func_info": case.func_info, "btf": case.btf}
            if getattr(oracle, "private_stack", False):  # this kernel build's JIT feature
                extra["private_stack"] = True
            out.pybpf = verify(case.insns, case.prog_type, maps=dict(enumerate(case.maps)),
                               expected_attach_type=case.expected_attach_type,
                               caps=tuple(sorted(case.caps)), license=case.license, **extra)
    except CaseTimeout as e:
        out.timeout, out.failure = True, str(e)
    except RecursionError:
        out.failure = "RecursionError in pybpf's verifier"
    except Exception as e:  # noqa: BLE001 - a bug in pybpf's verifier, counted
        import traceback
        tb = traceback.extract_tb(e.__traceback__)[-1]
        out.failure = (f"{type(e).__name__}: {e} (at {Path(tb.filename).name}:{tb.lineno})"
                       [:300])
    out.pybpf_seconds = time.perf_counter() - t0
    return out


def _save(report: CampaignReport, save_dir: Path | None, o: Outcome, seed: int) -> None:
    if save_dir is None or o.verdict != "false_accept":
        return
    save_dir.mkdir(parents=True, exist_ok=True)
    name = f"false-accept-s{seed}-{o.index}-{caps_name(o.case.caps).replace(',', '_')}.json"
    path = save_case(save_dir / name, o.case, kernel=o.kernel.to_dict(),
                     pybpf=o.summary()["pybpf"])
    report.saved.append(str(path))
    report.false_accepts[-1]["reproducer"] = str(path)


def run_campaign(count: int, seed: int = 0,
                 caps_modes: Sequence[frozenset[str]] = DEFAULT_CAPS_MODES, *,
                 save_dir: "str | Path | None" = None, objects_pass: bool = False,
                 objects: "Sequence[str | Path] | None" = None,
                 timeout: float | None = DEFAULT_TIMEOUT, mix: Mix | None = None,
                 progress: Callable[[Outcome], None] | None = None,
                 oracle: Any = None) -> CampaignReport:
    """Generate `count` cases (seed `seed`, cycling through `caps_modes`) and compare
    pybpf's verdict on each with the kernel's. `objects_pass`: first, every program of
    the object files in each mode (reported apart). False accepts are saved as case
    files under `save_dir` when given. `progress` is called after each case."""
    from ...kernel.verdict import KernelOracle
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    verify, why = pybpf_verifier()
    gen = Generator(seed, caps_modes, objects=objects, mix=mix if mix is not None else Mix())
    report = CampaignReport(count, seed, [caps_name(c) for c in gen.caps_modes],
                            pybpf="available" if verify else why)
    sdir = Path(save_dir) if save_dir is not None else None
    t0 = time.monotonic()
    own = oracle is None
    oracle = oracle or KernelOracle()
    try:
        oracle.start(gen.caps_modes)
        if objects_pass:
            for j, s in enumerate(gen.object_seeds):
                for caps in gen.caps_modes:
                    case = Case(s.insns, s.prog_type, s.maps, s.expected_attach_type, caps,
                                s.origin, None, s.license, s.btf, s.func_info)
                    o = check_case(case, oracle, verify, index=f"obj{j}", timeout=timeout)
                    report.add(o, is_object_pass=True)
                    _save(report, sdir, o, seed)
                    if progress:
                        progress(o)
        for i in range(count):
            o = check_case(gen.case(i), oracle, verify, index=i, timeout=timeout)
            report.add(o)
            _save(report, sdir, o, seed)
            if progress:
                progress(o)
    finally:
        if own:
            oracle.close()
        report.seconds = time.monotonic() - t0
        report.skipped_objects = list(gen.skipped)
    return report
