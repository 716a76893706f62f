"""The `pybpf` command: a thin layer over the library. Bad input ends with a one-line
message on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import PyBPFError

_HEX_TEXT = re.compile(r"^[0-9a-fA-F\s]*$")


class CLIError(PyBPFError):
    """Bad command-line input (file, arguments)."""


def _strip_comments(text: str) -> str:
    return "\n".join(re.split(r"[;#]|//", line, maxsplit=1)[0] for line in text.splitlines())


def detect_syntax(text: str) -> str:
    """The assembly syntax of `text`: conformance (`mov %r0, 1`) or kernel (`r0 = 1`)."""
    return "conformance" if "%r" in text else "kernel"


def read_program(path: str, syntax: str | None = None) -> bytes:
    """Bytecode from FILE: raw binary, hex text (bytes or 64-bit words), or assembly."""
    try:
        data = Path(path).read_bytes() if path != "-" else sys.stdin.buffer.read()
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
        is_text = all(c.isprintable() or c.isspace() for c in text)
    except UnicodeDecodeError:
        is_text = False
    if not is_text:
        if len(data) % 8:
            raise CLIError(f"{path}: binary bytecode of {len(data)} bytes is not a multiple of 8")
        return data
    body = _strip_comments(text)
    if syntax is None and body.strip() and _HEX_TEXT.match(body):
        digits = "".join(body.split())
        if len(digits) % 16:
            raise CLIError(f"{path}: hex bytecode of {len(digits) // 2} bytes is not a "
                           "multiple of 8")
        return bytes.fromhex(digits)
    from .asm import assemble
    return assemble(text, syntax=syntax or detect_syntax(text))


def parse_hex_arg(value: str, what: str) -> bytes:
    """HEX (spaces allowed) or @FILE holding hex or raw bytes."""
    if value.startswith("@"):
        try:
            data = Path(value[1:]).read_bytes()
        except OSError as e:
            raise CLIError(f"cannot read {value[1:]}: {e.strerror}") from None
        try:
            text = data.decode("ascii")
            if _HEX_TEXT.match(_strip_comments(text)):
                value = _strip_comments(text)
            else:
                return data
        except UnicodeDecodeError:
            return data
    digits = "".join(value.split())
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise CLIError(f"{what} is not valid hex: {value[:40]!r}") from None


# --- commands --------------------------------------------------------------------------

def _read_text(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise CLIError(f"{path} is not UTF-8 text") from None


def cmd_asm(args: argparse.Namespace) -> int:
    from .asm import assemble
    text = _read_text(args.file)
    code = assemble(text, syntax=args.syntax or detect_syntax(text))
    if args.output:
        try:
            Path(args.output).write_bytes(code)
        except OSError as e:
            raise CLIError(f"cannot write {args.output}: {e.strerror}") from None
    else:
        for i in range(0, len(code), 8):
            print(code[i:i + 8].hex(" "))
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    from .asm import disassemble
    code = read_program(args.file)
    sys.stdout.write(disassemble(code, syntax=args.syntax))
    return 0


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _progress(total: int) -> "Callable[[int, int], None] | None":
    """A progress bar on stderr for long captures (only on a terminal)."""
    if total < 500 or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if done % 100 and done != total:
            return
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{total} packets")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def cmd_run_object(args: argparse.Namespace) -> int:
    """`pybpf run FILE.o`: instantiate the object, run one program on the input or once
    per packet of a capture, print retval/data_out (or verdict counts) and the maps."""
    from . import load
    from .objects.runner import dump_maps, pick_program, run_pcap, verdict_name
    from .objects.session import (apply_sets, format_extras, map_entry_text, run_extras,
                                  run_session)
    spec = load(args.file)
    apply_sets(spec, args.set)  # typed by BTF: ints, bools, enum names, strings, JSON
    out: dict = {}
    with run_session(spec, args) as (obj, capture):  # --map, then records and printk
        prog = pick_program(obj, args.program)
        if args.pcap:
            from .pcap import read_pcap, write_pcap
            packets = read_pcap(args.pcap)
            report = run_pcap(prog, packets, progress=_progress(len(packets)))
            out["program"] = prog.name
            out["packets"] = report.packets
            out["verdicts"] = dict(report.verdicts.most_common())
            if report.errors:
                out["errors"] = dict(report.errors)
            if args.pcap_out:
                write_pcap(args.pcap_out, report.passed)
                out["pcap_out"] = {"path": args.pcap_out, "packets": len(report.passed)}
        else:
            data_in = parse_hex_arg(args.data_in, "--data-in") if args.data_in else None
            ctx_in = parse_hex_arg(args.ctx_in, "--ctx-in") if args.ctx_in else None
            res = prog.test_run(data_in, ctx_in=ctx_in, repeat=args.repeat)
            out.update({"program": prog.name, "retval": res.retval,
                        "verdict": verdict_name(prog.type, res.retval),
                        "data_out": res.data_out.hex(), "duration_ns": res.duration})
            if res.ctx_out:
                out["ctx_out"] = res.ctx_out.hex()
        out["maps"] = dump_maps(obj)
        out.update(run_extras(obj, capture))  # globals, records, printk
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(f"program {out['program']} on the {args.backend}")
    if "verdicts" in out:
        print(f"{out['packets']} packets:")
        for verdict, n in out["verdicts"].items():
            print(f"  {verdict:<20} {n:>8}")
        for err, n in out.get("errors", {}).items():
            print(f"  ({n} x {err})")
        if "pcap_out" in out:
            print(f"wrote {out['pcap_out']['packets']} passed packets to {out['pcap_out']['path']}")
    else:
        print(f"retval {out['retval']} ({out['verdict']}), {out['duration_ns']} ns/run")
        if out["data_out"]:
            print(f"data_out {out['data_out']}")
        if "ctx_out" in out:
            print(f"ctx_out {out['ctx_out']}")
    sys.stdout.write(format_extras(out))
    for name, entries in out["maps"].items():
        print(f"map {name}:")
        for e in entries[:50]:
            print(f"  {map_entry_text(e)}")
        if len(entries) > 50:
            print(f"  ... {len(entries) - 50} more")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from . import run
    if _is_elf(args.file):
        return cmd_run_object(args)
    if args.pcap or args.program or args.data_in or args.ctx_in:
        raise CLIError("--pcap, --program, --data-in and --ctx-in need an ELF object file")
    code = read_program(args.file, args.syntax)
    mem = parse_hex_arg(args.mem, "--mem") if args.mem is not None else None
    if args.backend == "vm":
        from .vm import run as vm_run
        r0 = vm_run(code, mem, insn_budget=args.budget)
    else:
        r0 = run(code, mem, backend=args.backend)
    if args.json:
        print(json.dumps({"r0": r0, "r0_hex": f"{r0:#x}"}))
    else:
        signed = r0 - (1 << 64) if r0 >> 63 else r0
        print(f"r0 = {r0:#x} ({signed})")
    return 0


def cmd_plugin(args: argparse.Namespace) -> int:
    from .conformance import plugin_main
    return plugin_main(args.memory, sys.stdin, sys.stdout, sys.stderr, backend=args.backend,
                       program_hex=args.program)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_interp, bench_kernel, bench_maps
    if args.what == "maps":
        return bench_maps(ops=args.ops, repeat=args.repeat, kernel=not args.no_kernel)
    if args.what == "kernel":
        return bench_kernel(repeat=args.repeat, iterations=args.iterations)
    return bench_interp(repeat=args.repeat, iterations=args.iterations)


def cmd_obj_show(args: argparse.Namespace) -> int:
    from . import load
    from .objects.show import describe, format_show
    desc = describe(load(args.file))
    if args.json:
        print(json.dumps(desc, indent=2))
    else:
        sys.stdout.write(format_show(desc))
    return 0


def cmd_btf_dump(args: argparse.Namespace) -> int:
    from . import btf
    data = _read_bytes(args.file)
    if data[:4] == b"\x7fELF":
        from . import load
        spec = load(args.file)
        if spec.btf is None:
            raise CLIError(f"{args.file} has no .BTF section")
        blob = spec.btf
    else:
        blob = btf.parse(data)
    if args.format == "c":
        sys.stdout.write(btf.dump_c(blob))
    else:
        sys.stdout.write(btf.dump_raw(blob))
    return 0


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror}") from None


def cmd_fuzz_elf(args: argparse.Namespace) -> int:
    import random

    from .fuzz import elf_campaign
    seeds = [_read_bytes(p) for p in args.seeds]
    if not seeds:
        raise CLIError("give at least one real object file to mutate")
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    show = None if args.quiet else (lambda n: n % 1000 == 0 and sys.stderr.write(
        f"\r{n}/{args.count} inputs") and sys.stderr.flush())
    t0 = time.monotonic()
    stats = elf_campaign(seeds, args.count, seed, progress=show)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"seed {seed}: {stats.runs} mutated objects from {len(seeds)} seeds in "
          f"{time.monotonic() - t0:.0f} s: {stats.loaded} loaded, {stats.rejected} rejected "
          f"with ELFError/PyBPFError, {len(stats.crashes)} uncaught exceptions")
    for reason, n in sorted(stats.reasons.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  x{n}: {reason}")
    for crash in stats.crashes:
        print(f"  CRASH {crash}")
    return 1 if stats.crashes else 0


def cmd_features(args: argparse.Namespace) -> int:
    if args.backend == "vm":
        return _features_vm(args)
    from .kernel import features_report, format_features
    report = features_report(helpers=not args.no_helpers)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        sys.stdout.write(format_features(report))
    return 0


def _vm_helper_status(prog_types: list[dict[str, Any]]) -> list[dict[str, object]]:
    """Every helper pybpf knows a prototype for: its C declaration and the program
    types whose VM registry implements it (from progtypes.describe()'s `helpers_vm`;
    empty: the VM does not run it)."""
    from . import helper_protos
    types_of: dict[str, list[str]] = {}
    for t in prog_types:
        for name in t.get("helpers_vm", []):
            types_of.setdefault(name, []).append(t["prog_type"])
    out = []
    for p in helper_protos.all_protos():
        types = types_of.get("bpf_" + p.name, [])
        out.append({"id": p.id, "name": "bpf_" + p.name, "proto": p.render(),
                    "status": "vm" if types else "kernel only", "prog_types": types})
    return out


def _features_vm(args: argparse.Namespace) -> int:
    """What the VM backend supports: program types (with their helpers), map types and
    every helper with its prototype and status."""
    from . import progtypes
    from .maps.spec import type_names
    prog_types = progtypes.describe()
    report = {"backend": "vm", "prog_types": prog_types, "map_types": type_names(),
              "helpers": _vm_helper_status(prog_types)}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print("Program types on the VM")
    for t in report["prog_types"]:
        print(f"  {t['prog_type']:<24} {t['status']:<12} test_run: {t.get('test_run', '-')}, "
              f"{len(t.get('helpers_vm', []))} helpers")
    print(f"\nMap types on the VM ({len(report['map_types'])})")
    print("  " + ", ".join(report["map_types"]))
    helpers = report["helpers"]
    on_vm = sum(1 for h in helpers if h["status"] == "vm")
    print(f"\nHelpers ({on_vm} of {len(helpers)} run on the VM; the prototypes are the "
          f"kernel's)")
    for h in helpers:
        print(f"  {h['id']:4d}  {h['status']:<11}  {h['proto']}")
    return 0


def prog_type_value(name: str) -> int:
    """A program type by the kernel's name: `xdp`, `socket_filter`, `BPF_PROG_TYPE_XDP`."""
    from .kernel import ProgType
    key = name.upper().removeprefix("BPF_PROG_TYPE_").replace("-", "_")
    aliases = {"TC": "SCHED_CLS", "CLASSIFIER": "SCHED_CLS", "ACTION": "SCHED_ACT",
               "SOCKET": "SOCKET_FILTER", "RAW_TP": "RAW_TRACEPOINT", "UPROBE": "KPROBE",
               "PERF": "PERF_EVENT"}
    key = aliases.get(key, key)
    try:
        return int(ProgType[key])
    except KeyError:
        names = ", ".join(t.name.lower() for t in ProgType if t.name != "UNSPEC")
        raise CLIError(f"unknown program type {name!r}; one of: {names}") from None


def cmd_prog_load(args: argparse.Namespace) -> int:
    from .kernel import KernelVerifierError, available, prog_load
    ptype = prog_type_value(args.type)
    code = read_program(args.file, args.syntax)
    ok, reason = available()
    if not ok:
        raise CLIError(f"cannot load into the kernel: {reason}")
    try:
        with prog_load(ptype, code, args.license, log_level=args.log_level,
                       name=Path(args.file).stem[:15]) as prog:
            sys.stdout.write(prog.log)
            info = prog.info(insns=False)
            print(f"accepted: {len(code) // 8} instructions, {info.verified_insns} verified, "
                  f"xlated {info.xlated_prog_len} bytes, jited {info.jited_prog_len} bytes")
    except KernelVerifierError as e:
        sys.stdout.write(e.log)
        print(f"rejected: {e.reason} ({e.errno_name})", file=sys.stderr)
        return 1
    return 0


def cmd_fuzz_diff(args: argparse.Namespace) -> int:
    import random

    from .fuzz import campaign, progress_bar
    from .kernel import available
    ok, reason = available()
    if not ok:
        raise CLIError(f"the kernel is needed for a differential campaign: {reason}")
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    stats = campaign(args.count, seed, Path(args.out),
                     progress=None if args.quiet else progress_bar(args.count),
                     max_segments=args.max_segments)
    if not args.quiet:
        print(file=sys.stderr)
    print(stats.summary(seed))
    return 1 if stats.mismatches else 0


def _positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return v


def _positive_int(value: str) -> int:
    try:
        v = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return v


def cmd_top(args: argparse.Namespace) -> int:
    """`pybpf top`: per-protocol packet and byte counts from the socket filter example,
    over a capture or live traffic."""
    from .tools import top
    if args.pcap:
        live_only = [o for o, v in (("--interface", args.interface), ("--interval", args.interval),
                                    ("--duration", args.duration), ("--count", args.count))
                     if v is not None]
        if live_only:
            raise CLIError(f"{', '.join(live_only)} only apply to --live")
        result = top.top_pcap(args.pcap, args.backend)
        if args.json:
            print(json.dumps(result.as_dict(), indent=2))
        else:
            sys.stdout.write(result.format())
        return 0
    if args.backend != "kernel" and args.backend_given:
        raise CLIError("--live counts in the kernel; --backend applies to --pcap")
    top.top_live(sys.stdout, interface=args.interface, interval=args.interval or 1.0,
                 duration=args.duration, count=args.count, as_json=args.json)
    return 0


def cmd_trace_syscalls(args: argparse.Namespace) -> int:
    """`pybpf trace syscalls`: syscall counts and latency from the tracepoint example."""
    from .tools import trace
    trace.trace_syscalls(sys.stdout, duration=args.duration, interval=args.interval,
                         pid=args.pid, top=args.top, latency=args.latency, as_json=args.json)
    return 0


# --- parser ----------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"pybpf: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _group(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """A command with subcommands of its own (`pybpf fuzz diff`, `pybpf prog load`)."""
    parser = sub.add_parser(name, help=help_text)
    group = parser.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    group.required = True
    return group


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pybpf", description="The eBPF platform in Python.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    syntaxes = ["kernel", "conformance"]

    a = sub.add_parser("asm", help="assemble a file to bytecode")
    a.add_argument("file", help="assembly file, or - for stdin")
    a.add_argument("-o", "--output", help="write raw bytecode here (default: hex on stdout)")
    a.add_argument("--syntax", choices=syntaxes, help="default: detected from the text")
    a.set_defaults(fn=cmd_asm)

    d = sub.add_parser("disasm", help="disassemble bytecode (raw binary or hex text)")
    d.add_argument("file")
    d.add_argument("--syntax", choices=syntaxes, default="kernel")
    d.set_defaults(fn=cmd_disasm)

    r = sub.add_parser("run", help="run a program: an ELF object (test_run semantics) or "
                                   "assembly, hex or raw bytecode (r1 = --mem)")
    r.add_argument("file")
    r.add_argument("--mem", help="raw programs: input memory as HEX or @FILE; r1 points to "
                                 "it, r2 = length")
    r.add_argument("--program", help="objects: which program (default: the only one)")
    r.add_argument("--data-in", help="objects: the packet as HEX or @FILE")
    r.add_argument("--ctx-in", help="objects: the context as HEX or @FILE")
    r.add_argument("--pcap", help="objects: run once per packet of this capture")
    r.add_argument("--pcap-out", help="with --pcap: write the packets that pass here")
    r.add_argument("--repeat", type=int, default=1)
    r.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="objects: set a global variable (e.g. a .rodata config) first; "
                        "typed by BTF: 10, 0x1f, true, an enumerator, a string, JSON")
    r.add_argument("--map", action="append", metavar="NAME=@FILE.json",
                   help="objects: fill a map first from JSON (a list of {\"key\", "
                        "\"value\"} or an object of key: value; typed by BTF)")
    r.add_argument("--record-type", action="append", metavar="MAP=TYPE[,TYPE]",
                   help="objects: decode the records of a ring buffer or perf event array "
                        "as this BTF type (the one whose size fits each record)")
    r.add_argument("--syntax", choices=syntaxes, help="assembly syntax (default: detected)")
    r.add_argument("--backend", choices=["vm", "kernel"], default="vm")
    r.add_argument("--budget", type=int, default=1_000_000,
                   help="instruction budget on the VM (default 1000000)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(fn=cmd_run)

    c = sub.add_parser("conformance-plugin",
                       help="the bpf_conformance plugin protocol (program hex on stdin)")
    c.add_argument("memory", nargs="*", help="input memory as base16")
    c.add_argument("--program", help="program bytes as base16 (instead of stdin)")
    c.add_argument("--backend", choices=["vm", "kernel"], default="vm")
    c.set_defaults(fn=cmd_plugin)

    fsub = _group(sub, "fuzz", "differential fuzzing against the kernel")
    fd = fsub.add_parser("diff", help="random verifier-accepted programs on the VM and the "
                                      "kernel; mismatches are shrunk and saved")
    fd.add_argument("--count", type=int, default=1000)
    fd.add_argument("--seed", type=int)
    fd.add_argument("--out", default="tests/regressions",
                    help="where minimal reproducers are written (default tests/regressions)")
    fd.add_argument("--max-segments", type=int, default=12)
    fd.add_argument("--quiet", action="store_true", help="no progress bar")
    fd.set_defaults(fn=cmd_fuzz_diff)
    fel = fsub.add_parser("elf", help="mutated real objects into the ELF loader: every input "
                                      "must load or give a clear error")
    fel.add_argument("seeds", nargs="+", help="real BPF object files to mutate")
    fel.add_argument("--count", type=int, default=10_000)
    fel.add_argument("--seed", type=int)
    fel.add_argument("--quiet", action="store_true")
    fel.set_defaults(fn=cmd_fuzz_elf)

    osub = _group(sub, "obj", "BPF ELF objects")
    osh = osub.add_parser("show", help="sections, programs, maps and globals of an object")
    osh.add_argument("file")
    osh.add_argument("--json", action="store_true")
    osh.set_defaults(fn=cmd_obj_show)

    tsub = _group(sub, "btf", "BTF")
    tdump = tsub.add_parser("dump", help="the BTF of an object or a raw BTF file "
                                         "(bpftool btf dump style)")
    tdump.add_argument("file")
    tdump.add_argument("--format", choices=["raw", "c"], default="raw")
    tdump.set_defaults(fn=cmd_btf_dump)

    fe = sub.add_parser("features", help="what this kernel's BPF supports (like bpftool "
                                         "feature probe)")
    fe.add_argument("--json", action="store_true")
    fe.add_argument("--no-helpers", action="store_true", help="skip the per-type helper probes")
    fe.add_argument("--backend", choices=["kernel", "vm"], default="kernel")
    fe.set_defaults(fn=cmd_features)

    prsub = _group(sub, "prog", "programs in the kernel")
    pl = prsub.add_parser("load", help="load into the kernel and print the verifier log "
                                       "(exit 0 accepted, 1 rejected)")
    pl.add_argument("file", help="assembly, hex or raw bytecode")
    pl.add_argument("--type", required=True, help="program type, e.g. xdp, socket_filter")
    pl.add_argument("--log-level", type=int, default=1, choices=[0, 1, 2])
    pl.add_argument("--license", default="GPL")
    pl.add_argument("--syntax", choices=syntaxes)
    pl.set_defaults(fn=cmd_prog_load)

    bsub = _group(sub, "bench", "benchmarks")
    bi = bsub.add_parser("interp", help="interpreter speed in executed instructions per second")
    bi.add_argument("--repeat", type=int, default=3)
    bi.add_argument("--iterations", type=int, default=100_000)
    bi.set_defaults(fn=cmd_bench)
    bk = bsub.add_parser("kernel", help="ns per run on the VM and in the kernel, same programs")
    bk.add_argument("--repeat", type=int, default=3)
    bk.add_argument("--iterations", type=int, default=10_000)
    bk.set_defaults(fn=cmd_bench)
    bm = bsub.add_parser("maps", help="map lookups/updates per second, VM maps and kernel maps")
    bm.add_argument("--repeat", type=int, default=3)
    bm.add_argument("--ops", type=int, default=20_000)
    bm.add_argument("--no-kernel", action="store_true", help="VM maps only")
    bm.set_defaults(fn=cmd_bench)
    tp = sub.add_parser("top", help="packets and bytes per IP protocol and a packet size "
                                     "histogram (the socket filter example), over a capture "
                                     "or live")
    src = tp.add_mutually_exclusive_group(required=True)
    src.add_argument("--pcap", metavar="FILE", help="run the filter over this capture")
    src.add_argument("--live", action="store_true",
                     help="attach the filter to a packet socket in the kernel")
    tp.add_argument("--backend", choices=["vm", "kernel"], default=None,
                    help="--pcap: where the filter runs (default vm)")
    tp.add_argument("--interface", "-i", help="--live: one interface (default: all)")
    tp.add_argument("--interval", type=_positive, help="--live: seconds between redraws "
                                                      "(default 1)")
    tp.add_argument("--duration", type=_positive, help="--live: stop after this many seconds")
    tp.add_argument("--count", type=_positive_int, help="--live: stop after this many redraws")
    tp.add_argument("--json", action="store_true", help="machine-readable output (--live: "
                                                        "one JSON object per line)")
    tp.set_defaults(fn=cmd_top)

    trsub = _group(sub, "trace", "trace kernel events with the example programs")
    ts = trsub.add_parser("syscalls", help="syscall counts per syscall and process, errors and "
                                           "a latency histogram (the tracepoint example)")
    ts.add_argument("--duration", type=_positive, default=5.0,
                    help="seconds to trace (default 5)")
    ts.add_argument("--interval", type=_positive, default=1.0,
                    help="seconds between redraws (default 1)")
    ts.add_argument("--pid", type=_positive_int, help="only this process (thread group)")
    ts.add_argument("--top", type=_positive_int, default=10,
                    help="rows of syscalls and processes (default 10)")
    ts.add_argument("--latency", action="store_true",
                    help="show the latency histogram at every redraw, not only at the end")
    ts.add_argument("--json", action="store_true", help="one JSON object per line")
    ts.set_defaults(fn=cmd_trace_syscalls)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "fn", None) is cmd_top:
        args.backend_given = args.backend is not None
        args.backend = args.backend or ("kernel" if args.live else "vm")
    fn: Callable[[argparse.Namespace], int] = args.fn
    try:
        return fn(args)
    except PyBPFError as e:
        print(f"pybpf: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pybpf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
