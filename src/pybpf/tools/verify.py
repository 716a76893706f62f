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
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import PyBPFError
from ..isa import BPF_PSEUDO_CALL, InsnKind, Instruction, classify, decode, slot_offsets

EXIT_ACCEPTED, EXIT_REFUSED, EXIT_BAD_INPUT = 0, 1, 2
CAPS_HELP = "comma list of bpf,perfmon,net_admin,sys_admin, or all / none (default all)"


class VerifyInputError(PyBPFError):
    """Bad input to `pybpf verify` (a file, a type, an option): exit status 2."""


# --- reading the input ----------------------------------------------------------------------------

_HEX = re.compile(r"^[0-9a-fA-F\s]*$")


def _strip_comments(text: str) -> str:
    return "\n".join(re.split(r"[;#]|//", ln, maxsplit=1)[0] for ln in text.splitlines())


def read_code(path: str, syntax: str | None = None) -> list[Instruction]:
    """The instructions of FILE: raw bytecode, hex text or assembly (kernel syntax, or
    the conformance one when it uses %r registers)."""
    try:
        data = Path(path).read_bytes() if path != "-" else sys.stdin.buffer.read()
    except OSError as e:
        raise VerifyInputError(f"cannot read {path}: {e.strerror}") from None
    if not data.strip():
        raise VerifyInputError(f"{path} is empty: no bytecode, hex or assembly to verify")
    try:
        text = data.decode("utf-8")
        is_text = all(c.isprintable() or c.isspace() for c in text)
    except UnicodeDecodeError:
        text, is_text = "", False
    if not is_text:
        if len(data) % 8:
            raise VerifyInputError(f"{path}: binary bytecode of {len(data)} bytes is not a "
                                   "multiple of 8")
        return decode(data)
    body = _strip_comments(text)
    if syntax is None and body.strip() and _HEX.match(body):
        digits = "".join(body.split())
        if len(digits) % 16:
            raise VerifyInputError(f"{path}: hex bytecode of {len(digits) // 2} bytes is not a "
                                   "multiple of 8")
        return decode(bytes.fromhex(digits))
    from ..asm import assemble_insns
    return assemble_insns(text, syntax=syntax or ("conformance" if "%r" in text else "kernel"))


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

def _result_dict(name: str, section: str | None, prog_type: int, r: Any) -> dict[str, Any]:
    return {"name": name, "section": section, "type": _type_name(prog_type),
            "accepted": bool(r.accepted), "error": None if r.accepted else r.error,
            "pc": None if r.accepted else r.pc, "insns_processed": r.insns_processed,
            "verify_ns": r.verify_ns, "log": r.log,
            **({"hint": r.hint} if getattr(r, "hint", None) else {})}


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
                oracle: Any = None) -> list[dict[str, Any]]:
    """The verdicts on FILE's programs (see the module docstring), one dict each with the
    issue's JSON fields; with `compare_kernel` also "kernel" (its verdict, first error
    line and log) and "first_difference" (None when the logs agree line by line)."""
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
            else:
                r = verify(case.insns, case.prog_type, maps=dict(enumerate(case.maps)),
                           expected_attach_type=case.expected_attach_type,
                           caps=tuple(sorted(capset)), license=case.license,
                           log_level=log_level, func_info=case.func_info or None,
                           btf=case.btf)
            out.append(_result_dict(n, p.section, p.type, r))
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
        out.append(_result_dict(Path(path).stem, None, t, r))
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


# --- the control-flow graph in DOT ----------------------------------------------------------------

def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("{", "\\{").replace(
        "}", "\\}").replace("<", "\\<").replace(">", "\\>").replace("|", "\\|")


def _path_pcs(path: Sequence[Any]) -> set[int]:
    """The instructions a verifier path names: ints are pcs, pairs are (from, to)
    branch decisions, dicts carry "pc" / "from" / "to"."""
    pcs: set[int] = set()
    for item in path or ():
        if isinstance(item, int):
            pcs.add(item)
        elif isinstance(item, (tuple, list)):
            pcs.update(x for x in item[:2] if isinstance(x, int))
        elif isinstance(item, dict):
            pcs.update(v for k, v in item.items() if k in ("pc", "from", "to")
                       and isinstance(v, int))
    return pcs


def cfg_dot(insns: Sequence[Instruction], *, name: str = "prog", error_pc: int | None = None,
            path: Sequence[Any] = (), error: str | None = None, cluster: bool = False) -> str:
    """The control-flow graph of a program in Graphviz DOT: one node per basic block
    (its instructions, disassembled, with their pcs), edges for fall-through, taken
    jumps ("T" / "F") and local calls (dashed); the blocks and edges of the failing
    `path` in red and the failing instruction's block filled."""
    from ..asm import disassemble_insn
    if not insns:
        return f'digraph "{_dot_escape(name)}" {{}}\n'
    pcs = slot_offsets(insns)
    index = {pc: i for i, pc in enumerate(pcs)}
    end = pcs[-1] + insns[-1].slots
    leaders = {0}
    for i, insn in enumerate(insns):
        k = classify(insn)
        pc = pcs[i]
        tgt = None
        if k in (InsnKind.JA, InsnKind.JCOND, InsnKind.MAY_GOTO):
            tgt = pc + 1 + (insn.imm if k == InsnKind.JA and insn.cls == 6 else insn.off)
        elif k == InsnKind.CALL and insn.src == BPF_PSEUDO_CALL:
            tgt = pc + 1 + insn.imm
        if tgt is not None and tgt in index:
            leaders.add(tgt)
        if k in (InsnKind.JA, InsnKind.JCOND, InsnKind.MAY_GOTO, InsnKind.EXIT) and \
                pc + insn.slots < end:
            leaders.add(pc + insn.slots)
    starts = sorted(leaders)
    block_of: dict[int, int] = {}
    blocks: list[list[int]] = []
    for b, s in enumerate(starts):
        stop = starts[b + 1] if b + 1 < len(starts) else end
        members = [i for i in range(index[s], len(insns)) if pcs[i] < stop]
        blocks.append(members)
        for i in members:
            block_of[pcs[i]] = b
    on_path = _path_pcs(path)
    hot_blocks = {block_of[p] for p in on_path if p in block_of}
    err_block = block_of.get(error_pc) if error_pc is not None else None
    if err_block is not None:
        hot_blocks.add(err_block)
    pre = f"{name}_" if cluster else ""
    out = [f'subgraph "cluster_{_dot_escape(name)}" {{' if cluster else
           f'digraph "{_dot_escape(name)}" {{',
           f'  label="{_dot_escape(name)}"; labelloc=t;' if cluster else "",
           '  node [shape=record, fontname="monospace", fontsize=10];']
    for b, members in enumerate(blocks):
        lines = []
        for i in members:
            try:
                text = disassemble_insn(insns[i])
            except PyBPFError:
                text = f"(bad instruction {insns[i].opcode:#04x})"
            mark = "  <-- " + error if (pcs[i] == error_pc and error) else ""
            lines.append(_dot_escape(f"{pcs[i]}: {text}{mark}") + "\\l")
        style = ""
        if b == err_block:
            style = ', style=filled, fillcolor="#ffd0d0", color=red, penwidth=2'
        elif b in hot_blocks:
            style = ", color=red, penwidth=2"
        out.append(f'  {pre}b{b} [label="{{{"".join(lines)}}}"{style}];')
    for b, members in enumerate(blocks):
        last = insns[members[-1]]
        pc = pcs[members[-1]]
        k = classify(last)
        nxt = pc + last.slots
        edges: list[tuple[int, str, str]] = []
        if k == InsnKind.EXIT:
            pass
        elif k == InsnKind.JA:
            edges.append((pc + 1 + (last.imm if last.cls == 6 else last.off), "", ""))
        elif k in (InsnKind.JCOND, InsnKind.MAY_GOTO):
            edges.append((pc + 1 + last.off, "T", ""))
            edges.append((nxt, "F", ""))
        else:
            edges.append((nxt, "", ""))
        for i in members:
            ins = insns[i]
            if classify(ins) == InsnKind.CALL and ins.src == BPF_PSEUDO_CALL:
                edges.append((pcs[i] + 1 + ins.imm, "call", "dashed"))
        for tgt, label, st in edges:
            if tgt not in block_of:
                continue
            tb = block_of[tgt]
            attrs = []
            if label:
                attrs.append(f'label="{label}"')
            if st:
                attrs.append(f"style={st}")
            if b in hot_blocks and tb in hot_blocks and (on_path or tb == err_block):
                attrs.append("color=red, penwidth=2")
            a = f" [{', '.join(attrs)}]" if attrs else ""
            out.append(f"  {pre}b{b} -> {pre}b{tb}{a};")
    out.append("}")
    return "\n".join(x for x in out if x) + "\n"


def render_svg(dot_text: str, out: Path) -> bool:
    """DOT to SVG with Graphviz's `dot` (or the graphviz package); False when neither
    is installed."""
    exe = shutil.which("dot")
    if exe:
        res = subprocess.run([exe, "-Tsvg", "-o", str(out)], input=dot_text.encode(),
                             capture_output=True, timeout=60)
        if res.returncode != 0:
            raise VerifyInputError(f"dot could not render the graph: "
                                   f"{res.stderr.decode(errors='replace').strip()[:200]}")
        return True
    try:
        import graphviz  # type: ignore[import-not-found]  # optional, and without stubs
    except ImportError:
        return False
    out.write_bytes(graphviz.Source(dot_text).pipe(format="svg"))
    return True


def write_dot(path: str, programs: Sequence[tuple[str, Sequence[Instruction], dict[str, Any],
                                                  Sequence[Any]]]) -> list[str]:
    """Write the graphs of `programs` ((name, insns, result dict, path)) to PATH (DOT);
    SVG beside it (PATH with .svg) when Graphviz is installed. Returns the files."""
    if len(programs) == 1:
        name, insns, rec, vpath = programs[0]
        text = cfg_dot(insns, name=name, error_pc=rec.get("pc"), path=vpath,
                       error=rec.get("error"))
    else:
        parts = [cfg_dot(insns, name=name, error_pc=rec.get("pc"), path=vpath,
                         error=rec.get("error"), cluster=True)
                 for name, insns, rec, vpath in programs]
        text = "digraph verify {\n" + "".join(parts) + "}\n"
    out = Path(path)
    try:
        out.write_text(text)
    except OSError as e:
        raise VerifyInputError(f"cannot write {path}: {e.strerror}") from None
    files = [str(out)]
    svg = out.with_suffix(".svg") if out.suffix != ".svg" else out.with_suffix(".svg.svg")
    if render_svg(text, svg):
        files.append(str(svg))
    return files


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
    p.add_argument("-j", "--json", action="store_true", help="machine-readable JSON")


def _dot_programs(args: argparse.Namespace, results: list[dict[str, Any]]) -> list[tuple]:
    """(name, insns, result, path) for --dot: the instructions as verified."""
    from ..verifier import verify, verify_spec
    progs = []
    if _is_elf(args.file):
        from .. import load
        from .verifygen.objects import program_case
        spec = load(args.file)
        for rec in results:
            if args.type is not None:
                spec.programs[rec["name"]].type = _prog_type(args.type)
            try:
                insns: list[Instruction] = list(program_case(spec, rec["name"]).insns)
            except PyBPFError:
                insns = list(spec.programs[rec["name"]].instructions)
            try:
                case = program_case(spec, rec["name"])
                r = verify(case.insns, case.prog_type, maps=dict(enumerate(case.maps)),
                           expected_attach_type=case.expected_attach_type,
                           caps=tuple(sorted(_caps(args.caps))), license=case.license)
            except PyBPFError:
                r = verify_spec(spec, rec["name"], caps=tuple(sorted(_caps(args.caps))))
            progs.append((rec["name"], insns, rec, getattr(r, "path", ())))
    else:
        insns = read_code(args.file, args.syntax)
        r = verify(insns, _prog_type(args.type), caps=tuple(sorted(_caps(args.caps))))
        progs.append((results[0]["name"], insns, results[0], getattr(r, "path", ())))
    return progs


def format_verify(results: list[dict[str, Any]], log_level: int = 0) -> str:
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
            if r.get("hint"):
                out.append(f"  hint: {r['hint']}")
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


def run_verify(args: argparse.Namespace) -> int:
    """`pybpf verify`: 0 all accepted, 1 any refused, 2 bad input."""
    try:
        results = verify_file(args.file, program=args.program, type_name=args.type,
                              caps=args.caps, log_level=args.log_level,
                              compare_kernel=args.compare_kernel,
                              syntax=getattr(args, "syntax", None))
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
    from ..asm import assemble_insns
    verify(assemble_insns("r0 = 0\nexit"), 6)  # the first call's imports are not timed
    with KernelOracle() as oracle:
        def one(name: str, insns: Sequence[Instruction], t: int, maps: Sequence[Any],
                eat: int | None) -> dict[str, Any]:
            k = oracle.verdict(insns, t, maps=maps, expected_attach_type=eat, log_level=0)
            t0 = time.perf_counter()
            try:
                with time_limit(timeout):
                    r = verify(insns, t, maps=dict(enumerate(maps)), expected_attach_type=eat)
                ns, ok, processed = r.verify_ns, r.accepted, r.insns_processed
            except CaseTimeout:
                ns, ok, processed = None, None, None
            wall = time.perf_counter() - t0
            kus = k.verify_us
            ratio = (ns / 1000) / kus if ns and kus else None
            return {"program": name, "type": _type_name(t), "kernel_us": kus,
                    "kernel_accepted": k.accepted, "kernel_insns_processed": k.insns_processed,
                    "pybpf_us": None if ns is None else round(ns / 1000),
                    "pybpf_wall_s": round(wall, 3), "pybpf_accepted": ok,
                    "pybpf_insns_processed": processed,
                    "ratio": None if ratio is None else round(ratio, 2)}
        for s in seeds:
            rows.append(one(s.origin.removeprefix("object:"), s.insns, s.prog_type, s.maps,
                            s.expected_attach_type))
        big_row = one(f"counted loop of {big_iterations} iterations",
                      million_insn_program(big_iterations), 6, (), None) if big else None
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    return {"programs": rows,
            "median_ratio": round(statistics.median(ratios), 2) if ratios else None,
            "million": big_row}


def format_bench(report: dict[str, Any]) -> str:
    def us(x: Any) -> str:
        return "-" if x is None else f"{x:,}"
    out = [f"{'program':<48} {'kernel us':>10} {'pybpf us':>12} {'ratio':>8}"]
    for r in report["programs"]:
        out.append(f"{r['program'][:48]:<48} {us(r['kernel_us']):>10} {us(r['pybpf_us']):>12} "
                   f"{'-' if r['ratio'] is None else r['ratio']:>8}")
    out.append(f"median ratio (pybpf / kernel): {report['median_ratio']}")
    m = report.get("million")
    if m:
        out.append(f"{m['program']}: kernel {us(m['kernel_us'])} us for "
                   f"{us(m['kernel_insns_processed'])} insns; pybpf "
                   f"{us(m['pybpf_us'])} us for {us(m['pybpf_insns_processed'])} insns "
                   f"(ratio {m['ratio']})")
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
