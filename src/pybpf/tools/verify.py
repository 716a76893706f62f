"""The logic behind `pybpf verify`, `pybpf fuzz verify` and `pybpf bench verify`: each
command is an `add_*_arguments(parser)` that declares its options and a `run_*(args)`
that returns the exit status (printing text or --json); the work itself is in plain
functions returning data (verify_file, cfg_dot, bench_verify).

`pybpf verify FILE`: every program of an ELF object (its type from SEC()) or raw
bytecode / assembly with --type, through pybpf's verifier; exit 0 when all are
accepted, 1 when any is refused, 2 on bad input. --compare-kernel also asks the kernel
(same capabilities) and shows the first log line where the two differ."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import PyBPFError
from .verifydot import cfg_dot, render_svg, write_dot  # noqa: F401 - tools.verify's API
from ..isa import Instruction, decode

EXIT_ACCEPTED, EXIT_REFUSED, EXIT_BAD_INPUT = 0, 1, 2
CAPS_HELP = "comma list of bpf,perfmon,net_admin,sys_admin, or all / none (default all)"


class VerifyInputError(PyBPFError):
    """Bad input to `pybpf verify` (a file, a type, an option): exit status 2."""


# --- reading the input ----------------------------------------------------------------------------

def read_code(path: str, syntax: str | None = None) -> list[Instruction]:
    """The instructions of FILE: raw bytecode, hex text or assembly (tools.progfile, the
    reader the other commands share); a bad file is a VerifyInputError (exit 2)."""
    from .progfile import ProgramFileError, read_program_bytes
    try:
        return decode(read_program_bytes(path, syntax))
    except ProgramFileError as e:
        raise VerifyInputError(str(e)) from None


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _caps(value: "str | Iterable[str] | None") -> frozenset[str]:
    from ..kernel.verdict import parse_caps
    try:
        return parse_caps(value)
    except ValueError as e:
        raise VerifyInputError(f"--caps: {e}") from None


def _prog_type(name: str) -> int:
    from ..objects.spec import ProgramTypeError, program_type
    try:
        t = program_type(name)
    except ProgramTypeError as e:
        raise VerifyInputError(str(e)) from None
    if not t:
        raise VerifyInputError("--type unspec is no program type")
    return t


def _type_name(t: int) -> str:
    from .objdump import prog_type_name
    return prog_type_name(t)


# --- the verdicts ---------------------------------------------------------------------------------

def _result_dict(name: str, section: str | None, prog_type: int, r: Any,
                 insns: Sequence[Instruction] = (), line_info: Any = ()) -> dict[str, Any]:
    """The issue's JSON fields, and beyond them for a refusal: "hint", "source" (the
    failing instruction's source line from BTF line info, or null) and "path" (the
    branch decisions that reached it, each {"pc", "insn", "taken", "source"})."""
    from ..verifier import SourceLines, describe_path
    d = {"name": name, "section": section, "type": _type_name(prog_type),
         "accepted": bool(r.accepted), "error": None if r.accepted else r.error,
         "pc": None if r.accepted else r.pc, "insns_processed": r.insns_processed,
         "verify_ns": r.verify_ns, "log": r.log,
         **({"hint": r.hint} if getattr(r, "hint", None) else {})}
    if not r.accepted:
        src = getattr(r, "source", None)
        d["source"] = src.to_dict() if src is not None else None
        d["path"] = describe_path(insns, getattr(r, "path", ()), SourceLines(line_info or ()))
    return d


def first_difference(ours: str, theirs: str) -> dict[str, Any] | None:
    """The first line where two verifier logs differ (the BPF_LOG_STATS lines, which
    only the kernel's log has, aside): {"line": n (1-based), "pybpf", "kernel"}."""
    def lines(log: str) -> list[str]:
        return [ln.rstrip() for ln in log.splitlines()
                if ln.strip() and not ln.startswith(("verification time", "stack depth"))]
    a, b = lines(ours), lines(theirs)
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            return {"line": i + 1, "pybpf": x, "kernel": y}
    return None


def _kernel_side(case: Any, log_level: int, oracle: Any) -> dict[str, Any]:
    v = oracle.verdict(case.insns, case.prog_type, maps=case.maps,
                       expected_attach_type=case.expected_attach_type, caps=case.caps,
                       license=case.license, log_level=max(log_level, 1), btf=case.btf,
                       func_info=case.func_info)
    return {"accepted": v.accepted, "error": v.error_line,
            "errno": v.errno_name or None, "insns_processed": v.insns_processed,
            "verify_us": v.verify_us, "log": v.log}


def verify_file(path: str, *, program: str | None = None, type_name: str | None = None,
                caps: "str | Iterable[str] | None" = None, log_level: int = 0,
                compare_kernel: bool = False, syntax: str | None = None,
                oracle: Any = None, counterexample: bool = False,
                counterexample_dir: "str | Path | None" = None) -> list[dict[str, Any]]:
    """The verdicts on FILE's programs (see the module docstring), one dict each with the
    issue's JSON fields; with `compare_kernel` also "kernel" (its verdict, first error
    line and log) and "first_difference" (None when the logs agree line by line); with
    `counterexample`, for each refused program of an object, "counterexample" (an input
    on which the unverified program faults, its packet written to `counterexample_dir`,
    and the `pybpf run` command; null when none) and "counterexample_note" (why none)."""
    from ..verifier import verify, verify_spec
    from .verifygen.case import Case
    from .verifygen.objects import program_case
    capset = _caps(caps)
    if log_level not in (0, 1, 2):
        raise VerifyInputError(f"--log-level must be 0, 1 or 2, not {log_level}")
    out: list[dict[str, Any]] = []
    cases: list[Any] = []
    if _is_elf(path):
        if syntax is not None:
            raise VerifyInputError(f"--syntax applies to assembly; {path} is an ELF object")
        from .. import load
        spec = load(path)
        names = list(spec.programs)
        if program is not None:
            if program not in spec.programs:
                raise VerifyInputError(f"no program {program!r}; {path} has: "
                                       f"{', '.join(names) or 'no programs'}")
            names = [program]
        if type_name is not None:
            t = _prog_type(type_name)
            if program is None and len(names) > 1:
                raise VerifyInputError("--type sets the type of one program; choose it with "
                                       f"--program ({', '.join(names)})")
            spec.programs[names[0]].type = t
        names = [n for n in names if spec.programs[n].type or program == n]
        if not names:
            raise VerifyInputError(f"{path} has no program of a known type; give one with "
                                   "--program NAME --type TYPE")
        for n in names:
            p = spec.programs[n]
            if not p.type:
                raise VerifyInputError(f"program {n} (SEC(\"{p.section}\")) has no known type; "
                                       "give it with --type")
            # the bytes both verifiers see are the same: the program as a case (maps by
            # index, CO-RE resolved); one a case cannot hold goes through verify_spec
            try:
                case: Any = program_case(spec, n).with_caps(capset)
            except PyBPFError as e:
                case = e
                r = verify_spec(spec, n, caps=tuple(sorted(capset)), log_level=log_level)
                insns: Sequence[Instruction] = p.instructions
            else:
                r = verify(case.insns, case.prog_type, maps=dict(enumerate(case.maps)),
                           expected_attach_type=case.expected_attach_type,
                           caps=tuple(sorted(capset)), license=case.license,
                           log_level=log_level, func_info=case.func_info or None,
                           line_info=p.line_info or None, btf=case.btf)
                insns = case.insns
            out.append(_result_dict(n, p.section, p.type, r, insns, p.line_info))
            if counterexample and not r.accepted:
                out[-1].update(_counterexample(spec, n, r, insns, path, counterexample_dir))
            cases.append(case)
    else:
        if type_name is None:
            raise VerifyInputError("--type is needed for raw bytecode or assembly (an ELF "
                                   "object's programs take theirs from SEC())")
        if program is not None:
            raise VerifyInputError(f"--program needs an ELF object; {path} is not one")
        t = _prog_type(type_name)
        insns = read_code(path, syntax)
        r = verify(insns, t, caps=tuple(sorted(capset)), log_level=log_level)
        out.append(_result_dict(Path(path).stem, None, t, r, insns))
        if compare_kernel:
            cases.append(Case(tuple(insns), t, caps=capset))
    if compare_kernel:
        from ..kernel.verdict import KernelOracle
        own = oracle is None
        oracle = oracle or KernelOracle()
        try:
            for rec, case in zip(out, cases):
                if isinstance(case, PyBPFError):
                    rec["kernel"] = {"accepted": None, "error": f"not loaded: {case}"}
                    rec["first_difference"] = None
                    continue
                k = _kernel_side(case, log_level, oracle)
                rec["kernel"] = k
                rec["agree"] = k["accepted"] == rec["accepted"]
                rec["first_difference"] = first_difference(rec["log"], k["log"]) \
                    if log_level else (None if rec["error"] == k["error"] else
                                       {"line": 1, "pybpf": rec["error"], "kernel": k["error"]})
        finally:
            if own:
                oracle.close()
    return out


def _counterexample(spec: Any, name: str, r: Any, insns: Sequence[Instruction], path: str,
                    directory: "str | Path | None") -> dict[str, Any]:
    from .counterexample import confirm, find_counterexample, write_counterexample
    try:
        cx, why = find_counterexample(spec, name, r, insns)
        if cx is not None and not confirm(spec, cx, r):
            cx, why = None, "an input was found but a fresh VM object does not repeat it"
    except (PyBPFError, RecursionError, ValueError) as e:  # the verdict stands without it
        cx, why = None, f"the search stopped: {e}"
    if cx is None:
        return {"counterexample": None, "counterexample_note": why}
    import tempfile
    write_counterexample(cx, path, directory or Path(tempfile.gettempdir()) /
                         "pybpf-counterexamples")
    return {"counterexample": cx.to_dict(), "counterexample_note": None}


# --- pybpf verify ---------------------------------------------------------------------------------

def add_verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="an ELF object (every program, its type from SEC()) or raw "
                                "bytecode, hex or assembly (with --type)")
    p.add_argument("--program", help="objects: verify only this program")
    p.add_argument("--type", help="program type (xdp, sched_cls, socket_filter, kprobe, ...): "
                                  "needed for raw bytecode; for an object, the type of "
                                  "--program")
    p.add_argument("--caps", default="all", help=CAPS_HELP)
    p.add_argument("--log-level", type=int, default=0, choices=[0, 1, 2],
                   help="the verifier log in the kernel's format (1: the failing path, 2: "
                        "every instruction's state)")
    p.add_argument("--syntax", choices=["kernel", "conformance"],
                   help="assembly syntax (default: detected)")
    p.add_argument("--compare-kernel", action="store_true",
                   help="also load each program in the kernel with the same capabilities: "
                        "both verdicts and the first log line where they differ")
    p.add_argument("--dot", metavar="OUT", help="write the control-flow graph with the "
                                                "failing path marked (Graphviz DOT; SVG "
                                                "beside it when Graphviz is installed)")
    p.add_argument("--no-counterexample", action="store_true",
                   help="do not search a counterexample for refused programs (an input on "
                        "which the program, run on the VM unverified, really faults)")
    p.add_argument("--counterexample-dir", metavar="DIR",
                   help="where counterexample packets are written (default: "
                        "$TMPDIR/pybpf-counterexamples)")
    p.add_argument("-j", "--json", action="store_true", help="machine-readable JSON")


def _dot_programs(args: argparse.Namespace, results: list[dict[str, Any]]) -> list[tuple]:
    """(name, insns, result, line info) for --dot: the instructions as verified."""
    progs: list[tuple] = []
    if _is_elf(args.file):
        from .. import load
        from .verifygen.objects import program_case
        spec = load(args.file)
        for rec in results:
            if args.type is not None:
                spec.programs[rec["name"]].type = _prog_type(args.type)
            p = spec.programs[rec["name"]]
            try:
                insns: list[Instruction] = list(program_case(spec, rec["name"]).insns)
            except PyBPFError:
                insns = list(p.instructions)
            progs.append((rec["name"], insns, rec, p.line_info))
    else:
        progs.append((results[0]["name"], read_code(args.file, args.syntax), results[0], ()))
    return progs


def format_verify(results: list[dict[str, Any]], log_level: int = 0) -> str:
    from ..verifier import format_path
    out = []
    for r in results:
        if log_level and r["log"]:
            out.append(r["log"].rstrip("\n"))
        head = f"{r['name']} ({r['type']})"
        if r["accepted"]:
            out.append(f"{head}: accepted, {r['insns_processed']} insns processed in "
                       f"{r['verify_ns'] / 1e6:.2f} ms")
        else:
            out.append(f"{head}: refused at insn {r['pc']}: {r['error']}")
            src = r.get("source")
            if src:
                out.append(f"  at {src['file'].rsplit('/', 1)[-1]}:{src['line']}: "
                           f"{src['text']}")
            if r.get("hint"):
                out.append(f"  hint: {r['hint']}")
            steps = format_path(r.get("path") or ())
            for i, step in enumerate(steps):
                out.append(("  path: " if i == 0 else "        ") + step)
            out += _format_counterexample(r)
        k = r.get("kernel")
        if k is not None:
            if k.get("accepted") is None:
                out.append(f"  kernel: {k['error']}")
                continue
            verdict = "accepted" if k["accepted"] else \
                f"refused: {k['error'] or k.get('errno')}"
            agree = "same verdict" if r.get("agree") else "DIFFERENT VERDICT"
            out.append(f"  kernel: {verdict} ({agree})")
            d = r.get("first_difference")
            if d is not None:
                out.append(f"  first differing log line ({d['line']}):")
                out.append(f"    pybpf:  {d['pybpf']}")
                out.append(f"    kernel: {d['kernel']}")
    return "\n".join(out) + "\n"


def _entries_text(entries: list[dict[str, Any]], limit: int = 2) -> str:
    shown = ", ".join(f"{json.dumps(e['key'])}: {json.dumps(e['value'])}"
                      for e in entries[:limit])
    return shown + (", ..." if len(entries) > limit else "")


def _format_counterexample(r: dict[str, Any]) -> list[str]:
    if "counterexample" not in r:
        return []
    cx = r["counterexample"]
    if cx is None:
        return [f"  counterexample: none: {r['counterexample_note']}"]
    what = []
    if cx["data_in"] is not None:
        what.append(f"a {len(cx['data_in']) // 2}-byte packet")
    if cx["ctx_in"] is not None:
        what.append(f"ctx_in {cx['ctx_in']}")
    for name, entries in cx.get("maps", {}).items():
        what.append(f"map {name} with {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
                    f" ({_entries_text(entries)})")
    return [f"  counterexample: {' and '.join(what) or 'any input'}, run on the VM "
            f"without the verifier: {cx['outcome']}",
            f"    {cx['command']}"]


def run_verify(args: argparse.Namespace) -> int:
    """`pybpf verify`: 0 all accepted, 1 any refused, 2 bad input."""
    try:
        results = verify_file(args.file, program=args.program, type_name=args.type,
                              caps=args.caps, log_level=args.log_level,
                              compare_kernel=args.compare_kernel,
                              syntax=getattr(args, "syntax", None),
                              counterexample=not getattr(args, "no_counterexample", False),
                              counterexample_dir=getattr(args, "counterexample_dir", None))
        files = write_dot(args.dot, _dot_programs(args, results)) if args.dot else []
    except VerifyInputError as e:
        print(f"pybpf: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PyBPFError as e:
        if args.compare_kernel and type(e).__module__.startswith("pybpf.kernel"):
            print(f"pybpf: error: the kernel comparison failed: {e}", file=sys.stderr)
            return EXIT_REFUSED
        print(f"pybpf: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps({"programs": results}, indent=2))
    else:
        sys.stdout.write(format_verify(results, args.log_level))
        for f in files:
            print(f"wrote {f}", file=sys.stderr)
    refused = any(not r["accepted"] for r in results)
    return EXIT_REFUSED if refused else EXIT_ACCEPTED


# --- pybpf fuzz verify ----------------------------------------------------------------------------

def _count(value: str) -> int:
    try:
        n = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 < n <= 10_000_000:
        raise argparse.ArgumentTypeError(f"must be 1..10000000, not {n}")
    return n


def _seed(value: str) -> int:
    try:
        n = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= n < 1 << 63:
        raise argparse.ArgumentTypeError(f"must be 0..2**63-1, not {n}")
    return n


def _timeout(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 < x <= 3600:
        raise argparse.ArgumentTypeError(f"must be in (0, 3600] seconds, not {value}")
    return x


def add_fuzz_verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=_count, default=1000, help="generated cases (default 1000)")
    p.add_argument("--seed", type=_seed, default=0, help="generator seed (default 0)")
    p.add_argument("--caps", action="append", metavar="CAPS",
                   help="a capability mode (" + CAPS_HELP.replace("(default all)", "") +
                   "); repeat for several; default: all, and bpf,net_admin")
    p.add_argument("--save", metavar="DIR", help="write each false accept here as a case "
                                                 "file (JSON) tests/regressions can replay")
    p.add_argument("--objects", action="store_true",
                   help="first verify every program of the project's and xdp-tools' objects "
                        "in each mode (reported apart)")
    p.add_argument("--timeout", type=_timeout, default=20.0,
                   help="seconds pybpf may spend on one case (default 20)")
    p.add_argument("-j", "--json", action="store_true", help="machine-readable JSON")


def run_fuzz_verify(args: argparse.Namespace, *,
                    progress_factory: Callable[..., Any] | None = None) -> int:
    """`pybpf fuzz verify`: 0 without false accepts and pybpf errors, 1 with, 2 on bad
    input (capabilities, an unusable kernel)."""
    from .verifygen import DEFAULT_CAPS_MODES, run_campaign
    try:
        modes = tuple(_caps(c) for c in args.caps) if args.caps else DEFAULT_CAPS_MODES
    except VerifyInputError as e:
        print(f"pybpf: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from ..kernel import available
    ok, why = available(("CAP_BPF",))
    if not ok:
        print(f"pybpf: error: pybpf fuzz verify needs the kernel as its oracle: {why}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if progress_factory is None:
        from .progress import progress
        progress_factory = progress
    from ..kernel.verdict import KernelOracle
    total = args.count
    oracle = KernelOracle()
    oracle.start(modes)  # the workers fork before the progress bar's thread exists
    with oracle, progress_factory(total, unit="case", desc="fuzz verify",
                                  as_json=args.json) as bar:
        counts = {"FA": 0, "FR": 0}

        def tick(o: Any) -> None:
            v = o.verdict
            if v == "false_accept":
                counts["FA"] += 1
            elif v == "false_refusal":
                counts["FR"] += 1
            if not str(o.index).startswith("obj"):
                bar.update(1)
            bar.set_postfix(f"FA {counts['FA']} FR {counts['FR']}")
        report = run_campaign(args.count, args.seed, modes, save_dir=args.save,
                              objects_pass=args.objects, timeout=args.timeout, progress=tick,
                              oracle=oracle)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        sys.stdout.write(report.format_text())
    return EXIT_ACCEPTED if report.ok else EXIT_REFUSED


# --- pybpf bench verify ---------------------------------------------------------------------------

def million_insn_program(iterations: int = 499_000) -> list[Instruction]:
    """A program the verifier walks instruction by instruction ~1M times: a counted loop
    whose counter stays precise, so no state prunes it (2 insns per iteration)."""
    from ..asm import assemble_insns
    return assemble_insns(f"r1 = 0\nloop:\nr1 += 1\nif r1 < {iterations} goto loop\n"
                          "r0 = 0\nexit")


def bench_verify(*, objects: "Sequence[str | Path] | None" = None, big: bool = True,
                 big_iterations: int = 499_000, timeout: float = 600.0) -> dict[str, Any]:
    """pybpf's verification time against the kernel's "verification time N usec" on
    the same programs, one run each: every program of the examples (median ratio) and
    one program that processes ~1M instructions."""
    from ..kernel.verdict import KernelOracle
    from ..verifier import verify
    from .verifygen.campaign import CaseTimeout, time_limit
    from .verifygen.objects import object_files, object_seeds, project_root
    paths = object_files(objects if objects is not None else [project_root() / "examples"])
    seeds = object_seeds(paths)
    rows = []
    # what the verifier loads on first use (its modules, each program type's context
    # table and helper set) is not timed, as the kernel's tables exist before a load
    from ..verifier import warm_up
    warm_up()
    with KernelOracle() as oracle:
        def one(name: str, insns: Sequence[Instruction], t: int, maps: Sequence[Any],
                eat: int | None) -> dict[str, Any]:
            k = oracle.verdict(insns, t, maps=maps, expected_attach_type=eat, log_level=0)
            t0 = time.perf_counter()
            c0 = time.thread_time_ns()
            try:
                with time_limit(timeout):
                    r = verify(insns, t, maps=dict(enumerate(maps)), expected_attach_type=eat)
                ns, ok, processed = r.verify_ns, r.accepted, r.insns_processed
                cpu_ns: int | None = time.thread_time_ns() - c0
            except CaseTimeout:
                ns, ok, processed, cpu_ns = None, None, None, None
            wall = time.perf_counter() - t0
            kus = k.verify_us
            ratio = (ns / 1000) / kus if ns and kus else None
            # CPU time: what the walk cost when other processes share the CPUs (the
            # kernel's figure is a few hundred microseconds, seldom preempted)
            cpu_ratio = (cpu_ns / 1000) / kus if cpu_ns and kus else None
            return {"program": name, "type": _type_name(t), "kernel_us": kus,
                    "kernel_accepted": k.accepted, "kernel_insns_processed": k.insns_processed,
                    "pybpf_us": None if ns is None else round(ns / 1000),
                    "pybpf_cpu_us": None if cpu_ns is None else round(cpu_ns / 1000),
                    "pybpf_wall_s": round(wall, 3), "pybpf_accepted": ok,
                    "pybpf_insns_processed": processed,
                    "ratio": None if ratio is None else round(ratio, 2),
                    "cpu_ratio": None if cpu_ratio is None else round(cpu_ratio, 2)}
        for s in seeds:
            rows.append(one(s.origin.removeprefix("object:"), s.insns, s.prog_type, s.maps,
                            s.expected_attach_type))
        big_row = one(f"counted loop of {big_iterations} iterations",
                      million_insn_program(big_iterations), 6, (), None) if big else None
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    cpu_ratios = [r["cpu_ratio"] for r in rows if r["cpu_ratio"] is not None]
    return {"programs": rows,
            "median_ratio": round(statistics.median(ratios), 2) if ratios else None,
            "median_cpu_ratio": round(statistics.median(cpu_ratios), 2) if cpu_ratios
            else None,
            "million": big_row}


def format_bench(report: dict[str, Any]) -> str:
    def us(x: Any) -> str:
        return "-" if x is None else f"{x:,}"
    def num(x: Any) -> str:
        return "-" if x is None else str(x)
    out = [f"{'program':<48} {'kernel us':>10} {'pybpf us':>12} {'ratio':>8} "
           f"{'cpu us':>12} {'cpu ratio':>9}"]
    for r in report["programs"]:
        out.append(f"{r['program'][:48]:<48} {us(r['kernel_us']):>10} {us(r['pybpf_us']):>12} "
                   f"{num(r['ratio']):>8} {us(r.get('pybpf_cpu_us')):>12} "
                   f"{num(r.get('cpu_ratio')):>9}")
    out.append(f"median ratio (pybpf / kernel): {report['median_ratio']} "
               f"(CPU time: {report.get('median_cpu_ratio')})")
    m = report.get("million")
    if m:
        out.append(f"{m['program']}: kernel {us(m['kernel_us'])} us for "
                   f"{us(m['kernel_insns_processed'])} insns; pybpf "
                   f"{us(m['pybpf_us'])} us for {us(m['pybpf_insns_processed'])} insns "
                   f"(ratio {m['ratio']}; CPU {us(m.get('pybpf_cpu_us'))} us, "
                   f"ratio {m.get('cpu_ratio')})")
    return "\n".join(out) + "\n"


def add_bench_verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-million", action="store_true",
                   help="leave out the program that processes ~1M instructions")
    p.add_argument("--timeout", type=_timeout, default=600.0,
                   help="seconds pybpf may spend on one program (default 600)")
    p.add_argument("-j", "--json", action="store_true", help="machine-readable JSON")


def run_bench_verify(args: argparse.Namespace) -> int:
    from ..kernel import available
    ok, why = available(("CAP_BPF",))
    if not ok:
        print(f"pybpf: error: pybpf bench verify compares with the kernel: {why}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    report = bench_verify(big=not args.no_million, timeout=args.timeout)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(format_bench(report))
    return 0
