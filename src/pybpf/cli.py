"""The `pybpf` command: a thin layer over the library. Bad input ends with a one-line
message on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
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
    if not data.strip():
        raise CLIError(f"{path} is empty: no bytecode, hex or assembly to read")
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
    elif args.json:
        print(json.dumps({"file": args.file, "bytes": len(code),
                          "insns": [code[i:i + 8].hex() for i in range(0, len(code), 8)]}))
    else:
        for i in range(0, len(code), 8):
            print(code[i:i + 8].hex(" "))
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    """Raw bytecode (binary, hex or assembly) as today; an ELF object program by
    program, with the C source lines from its BTF line info."""
    from .asm import disassemble
    if _is_elf(args.file):
        from .tools.objdump import dump_object, format_program
        progs = dump_object(_load_object(args.file), args.program, args.syntax)
        if args.json:
            print(json.dumps({"file": args.file, "programs": progs}, indent=2))
        else:
            sys.stdout.write("\n".join(format_program(p) for p in progs))
        return 0
    if args.program:
        raise CLIError(f"--program needs an ELF object; {args.file} is not an ELF object")
    code = read_program(args.file)
    if args.json:
        from . import isa
        from .asm import disassemble_insn
        insns, pc = [], 0
        for insn in isa.decode(code):
            insns.append({"pc": pc, "bytes": isa.encode([insn]).hex(),
                          "text": disassemble_insn(insn, args.syntax)})
            pc += insn.slots
        print(json.dumps({"file": args.file, "insns": insns}, indent=2))
        return 0
    sys.stdout.write(disassemble(code, syntax=args.syntax))
    return 0


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _load_object(path: str) -> Any:
    """The ObjectSpec of FILE, or a one-line error when it is not an ELF object."""
    data = _read_bytes(path)
    if data[:4] != b"\x7fELF":
        what = "an empty file" if not data else f"it starts with {data[:4]!r}"
        raise CLIError(f"{path}: not an ELF object ({what}, not the ELF magic \\x7fELF)")
    from . import load
    return load(path)


def _choose_programs(spec: Any, program: str | None, type_name: str | None,
                     what: str = "run") -> list[str]:
    """Apply --program and --type to an object: the names of the programs to load,
    the named one (with the tail-call targets its object's prog_array slots hold) or
    every program of known type, as instantiate(programs=...) selects them
    (select_programs); --type sets the type of the chosen program, as ProgramSpec.type
    does (for SEC() names of no known type, e.g. cilium's "2/1"). Programs of unknown
    type are refused by name."""
    from .objects.instance import select_programs, tail_call_targets
    if program is not None and program not in spec.programs:
        raise CLIError(f"no program {program!r}; {spec.path or 'the object'} has: "
                       f"{', '.join(spec.programs) or 'no programs'}")
    if type_name is not None:
        ptype = prog_type_value(type_name)
        untyped = [n for n, p in spec.programs.items() if not p.type]
        if program is not None:
            spec.programs[program].type = ptype
            # iproute2 loads every program of an object as the type its command names:
            # the tail-call targets of unknown type (cilium's "2/1") take it too
            for n in select_programs(spec, [program]):
                if not spec.programs[n].type:
                    spec.programs[n].type = ptype
        elif len(spec.programs) == 1:
            next(iter(spec.programs.values())).type = ptype
        elif untyped:  # as iproute2 does: every program of unknown type
            for n in untyped:
                spec.programs[n].type = ptype
        else:
            raise CLIError(f"--type sets the type of one program; choose it with --program "
                           f"({', '.join(spec.programs)})")
    if program is not None:
        keep = select_programs(spec, [program])
    else:
        targets = tail_call_targets(spec)
        keep = [n for n in select_programs(spec, None)
                if spec.programs[n].type or n in targets]
        for n in spec.programs:
            if n not in keep and not spec.programs[n].type:
                print(f"pybpf: note: program {n} (SEC(\"{spec.programs[n].section}\")) has "
                      f"no known program type and is not loaded; --program {n} --type TYPE "
                      f"would {what} it", file=sys.stderr)
    untyped = [n for n in keep if not spec.programs[n].type]
    if untyped or not keep:
        names = untyped or list(spec.programs)
        if not names:
            raise CLIError(f"{spec.path or 'the object'} has no programs to {what}")
        sections = ", ".join(f"{n} (SEC(\"{spec.programs[n].section}\"))" for n in names)
        raise CLIError(f"{_verb(names, 'program', 'programs')} {sections} "
                       f"{_verb(names, 'has', 'have')} no known program type; give it with "
                       "--program NAME --type TYPE (e.g. xdp, tc, socket_filter)")
    return keep


def _repeat_progress(prog: Any, data_in: bytes | None, ctx_in: bytes | None, repeat: int,
                     as_json: bool) -> Any:
    """prog.test_run(repeat=N); a long run (on a terminal) goes in steps behind a
    progress bar, its duration the mean over all of them."""
    from .objects.instance import TestRunResult
    from .tools.progress import progress
    steps = 100 if repeat >= 1000 else 1
    with progress(repeat, unit="runs", desc=prog.name, as_json=as_json,
                  minimum=1000) as bar:
        if not bar.enabled or steps == 1:
            return prog.test_run(data_in, ctx_in=ctx_in, repeat=repeat)
        done, total_ns, res = 0, 0, None
        for i in range(steps):
            n = repeat // steps + (1 if i < repeat % steps else 0)
            res = prog.test_run(data_in, ctx_in=ctx_in, repeat=n)
            done += n
            total_ns += res.duration * n
            bar.update(n)
        assert res is not None
        return TestRunResult(res.retval, res.data_out, res.ctx_out, total_ns // done)


def _verb(items: list[str], one: str, many: str) -> str:
    return one if len(items) == 1 else many


def _check_run_options(args: argparse.Namespace, is_object: bool) -> None:
    """`pybpf run` refuses what it would otherwise ignore."""
    given = lambda *names: [f"--{n.replace('_', '-')}" for n in names  # noqa: E731
                            if getattr(args, n, None) is not None]
    if is_object:
        wrong = given("mem", "syntax")
        if wrong:
            raise CLIError(f"{' and '.join(wrong)} {_verb(wrong, 'applies', 'apply')} to raw "
                           f"programs; {args.file} is an ELF object (its program takes "
                           "--data-in, --ctx-in or --pcap)")
    else:
        wrong = given("program", "type", "data_in", "ctx_in", "pcap", "pcap_out", "set",
                      "map", "record_type", "repeat", "clock", "pin_root")
        if wrong:
            raise CLIError(f"{', '.join(wrong)} {_verb(wrong, 'needs', 'need')} an ELF object; "
                           f"{args.file} is not an ELF object (a raw program takes --mem)")
    if args.pcap_out is not None and args.pcap is None:
        raise CLIError("--pcap-out writes the packets of --pcap that pass; give --pcap")
    if args.pcap is not None:
        wrong = given("data_in", "ctx_in", "repeat")
        if wrong:
            raise CLIError(f"{', '.join(wrong)} cannot go with --pcap, which runs the program "
                           "once on each packet of the capture")
    if args.pin_root is not None and args.backend != "kernel":
        raise CLIError("--pin-root is where the kernel backend pins an object's maps; on the "
                       "VM they are the run's own (use --backend kernel)")
    if args.backend == "kernel":
        if args.budget is not None:
            raise CLIError("--budget is the VM's instruction budget; in the kernel the "
                           "verifier bounds every program (use --backend vm)")
        if args.clock == "capture":
            raise CLIError("--clock capture needs --backend vm: the kernel's "
                           "bpf_ktime_get_ns cannot be set")
    if args.clock == "capture" and args.pcap is None:
        raise CLIError("--clock capture replays a capture's timestamps; give --pcap")
    if args.clock == "wall" and args.pcap is None:
        raise CLIError("--clock wall chooses the host's clock over a capture's timestamps; "
                       "without --pcap bpf_ktime_get_ns reads the host's clock already")


def cmd_run_object(args: argparse.Namespace) -> int:
    """`pybpf run FILE.o`: instantiate the object, run one program on the input or once
    per packet of a capture, print retval/data_out (or verdict counts) and the maps."""
    from .objects.runner import dump_maps, pick_program, run_pcap, verdict_name
    from .objects.session import (
        apply_sets,
        format_extras,
        map_entry_text,
        run_extras,
        run_session,
    )
    spec = _load_object(args.file)
    chosen = _choose_programs(spec, args.program, args.type)
    args.need_caps = _caps_for(spec, chosen)
    apply_sets(spec, args.set)  # typed by BTF: ints, bools, enum names, strings, JSON
    out: dict = {}
    pcap_in = None
    if args.pcap:  # streamed: read, run and written --pcap-out a packet at a time
        from .pcap import CaptureReader, EthernetFrames, primed
        pcap_in = CaptureReader(args.pcap)
        frames = EthernetFrames(pcap_in)
        packets = primed(frames)  # a file that is no capture fails here, at once
    with contextlib.ExitStack() as stack, \
            run_session(spec, args, chosen) as (obj, capture):  # --map, then records and printk
        if pcap_in is not None:
            stack.callback(pcap_in.close)
        prog = pick_program(obj, args.program)
        if args.backend == "vm":
            from .vm import DEFAULT_INSN_BUDGET
            for p in obj.programs.values():
                p.handle.insn_budget = args.budget or DEFAULT_INSN_BUDGET
        if pcap_in is not None:
            _check_packet_program(prog)
            from .pcap import PcapWriter, count_packets
            from .tools.progress import StepProgress, wanted
            clock = "kernel" if args.backend == "kernel" else args.clock or "capture"
            if clock == "wall":
                prog.set_clock(None)
            writer = stack.enter_context(PcapWriter(args.pcap_out)) if args.pcap_out else None
            # the bar's total: a first pass that counts (and keeps nothing), for people only
            total = count_packets(args.pcap) if wanted(args.json) else 0
            with StepProgress(unit="pkt", desc=Path(args.pcap).name, as_json=args.json,
                              minimum=500) as bar:
                report = run_pcap(prog, packets, capture_clock=clock == "capture",
                                  progress=bar, total=total,
                                  on_pass=writer.write if writer else None)
            out["program"] = prog.name
            out["clock"] = clock
            out["packets"] = report.packets
            if frames.added:
                out["ethernet_added"] = frames.added
            if pcap_in.truncated:
                out["truncated"] = pcap_in.truncated
            out["verdicts"] = dict(report.verdicts.most_common())
            if report.errors:
                out["errors"] = dict(report.errors)
            if writer is not None:
                out["pcap_out"] = {"path": args.pcap_out, "packets": writer.packets}
        else:
            data_in = parse_hex_arg(args.data_in, "--data-in") if args.data_in else None
            ctx_in = parse_hex_arg(args.ctx_in, "--ctx-in") if args.ctx_in else None
            if args.data_in is None and _takes_packets(prog):
                from .tools.objdump import prog_type_name
                raise CLIError(f"program {prog.name} ({prog_type_name(prog.type)}) runs on a "
                               "packet: give one with --data-in HEX|@FILE, or --pcap FILE to "
                               "run it on each packet of a capture")
            res = _test_run(prog, data_in, ctx_in, args)
            out.update({"program": prog.name, "retval": res.retval,
                        "verdict": verdict_name(prog.type, res.retval),
                        "data_out": res.data_out.hex(), "duration_ns": res.duration})
            if res.ctx_out:
                out["ctx_out"] = res.ctx_out.hex()
        out["maps"] = dump_maps(obj)
        out.update(run_extras(obj, capture))  # globals, records, printk
        if obj.pinned:
            out["pinned"] = _pins(obj)
        warnings = list(spec.warnings) + list(obj.warnings) + out.get("warnings", [])
        if warnings:  # what the loader passed over, what the backend lacks
            out["warnings"] = warnings
    if pcap_in is not None and pcap_in.truncated:
        print(f"pybpf: warning: {args.pcap}: {pcap_in.truncated}; ran the "
              f"{pcap_in.packets} complete packets before it", file=sys.stderr)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(f"program {out['program']} on the {args.backend}")
    if "verdicts" in out:
        print(f"clock: {_CLOCKS[out['clock']]}")
        raw = " (raw IP: each given an Ethernet header)" if out.get("ethernet_added") else ""
        print(f"{out['packets']} packets{raw}:")
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
    for line in _pin_lines(out.get("pinned", {})):
        print(line)
    return 0


def _pins(obj: Any) -> dict[str, dict[str, Any]]:
    """The maps an object pinned (by name, or in iproute2's namespaces): where, and
    whether an existing pin was reused."""
    return {name: {"path": path, "reused": bool(getattr(obj.maps[name], "reused", False))}
            for name, path in obj.pinned.items()}


def _pin_lines(pins: dict[str, dict[str, Any]]) -> list[str]:
    return [f"map {name} pinned at {p['path']} "
            f"({'an existing pin, reused' if p['reused'] else 'new; the pin stays after exit'})"
            for name, p in pins.items()]


ENOTSUPP = 524  # the kernel's "operation not supported" for program types


def _test_run(prog: Any, data_in: bytes | None, ctx_in: bytes | None,
              args: argparse.Namespace) -> Any:
    """One test run (--repeat times); a program type BPF_PROG_TEST_RUN does not run
    (tracepoints, kprobes, perf events: in the kernel, so on the VM too) is said so."""
    try:
        return _repeat_progress(prog, data_in, ctx_in, args.repeat or 1, args.json)
    except PyBPFError as e:
        if getattr(e, "errno", None) != ENOTSUPP:
            raise
        from .tools.objdump import prog_type_name
        raise CLIError(f"program {prog.name} ({prog_type_name(prog.type)}) is of a type "
                       "BPF_PROG_TEST_RUN does not run (in the kernel, and so not on the VM "
                       "either): attach it to its event in the kernel instead (Program.attach() "
                       "in Python; `pybpf trace syscalls` attaches the tracepoint example)"
                       ) from None


_PACKET_TYPES = ("XDP", "SCHED_CLS", "SCHED_ACT", "SOCKET_FILTER", "CGROUP_SKB", "LWT_IN",
                 "LWT_OUT", "LWT_XMIT", "LWT_SEG6LOCAL", "FLOW_DISSECTOR")


def _takes_packets(prog: Any) -> bool:
    from .uapi import ProgType
    return prog.type in [int(ProgType[name]) for name in _PACKET_TYPES]


def _check_packet_program(prog: Any) -> None:
    """--pcap feeds frames to BPF_PROG_TEST_RUN's data_in: only packet programs take them."""
    if not _takes_packets(prog):
        from .tools.objdump import prog_type_name
        raise CLIError(f"--pcap feeds packets, and program {prog.name} is a "
                       f"{prog_type_name(prog.type)} program, which takes none (packet "
                       f"programs: {', '.join(t.lower() for t in _PACKET_TYPES)})")


_CLOCKS = {"capture": "capture (bpf_ktime_get_ns reads each packet's capture timestamp; "
                      "--clock wall for the host's)",
           "wall": "wall (bpf_ktime_get_ns reads the host's monotonic clock while the "
                   "program runs, as in the kernel)",
           "kernel": "the kernel's (bpf_ktime_get_ns reads CLOCK_MONOTONIC while the program "
                     "runs; the capture's timestamps are not seen)"}


def _caps_for(spec: Any, programs: list[str]) -> list[str]:
    from .tools.perms import caps_for
    return caps_for(spec.programs[n].type for n in programs)


def cmd_run(args: argparse.Namespace) -> int:
    from . import run
    is_object = _is_elf(args.file)
    _check_run_options(args, is_object)
    if is_object:
        return cmd_run_object(args)
    code = read_program(args.file, args.syntax)
    mem = parse_hex_arg(args.mem, "--mem") if args.mem is not None else None
    if args.backend == "vm":
        from .vm import DEFAULT_INSN_BUDGET
        from .vm import run as vm_run
        r0 = vm_run(code, mem, insn_budget=args.budget or DEFAULT_INSN_BUDGET)
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
    from . import bench
    from .tools.progress import StepProgress, progress
    if args.what == "maps":
        with StepProgress(unit="map", desc="bench maps", as_json=args.json) as steps:
            report = bench.maps_report(ops=args.ops, repeat=args.repeat,
                                       kernel=not args.no_kernel, progress=steps)
        fmt = bench.format_maps
    else:
        names = list(bench.PROGRAMS)
        with progress(len(names), unit="prog", desc=f"bench {args.what}",
                      as_json=args.json) as bar:
            done = (lambda name: bar.update()) if bar.enabled else None
            if args.what == "kernel":
                from .tools.perms import kernel_gate
                kernel_gate("pybpf bench kernel", ["CAP_BPF"], require=False)
                report = bench.kernel_report(repeat=args.repeat, iterations=args.iterations,
                                             progress=done)
                fmt = bench.format_kernel
            else:
                report = bench.interp_report(repeat=args.repeat, iterations=args.iterations,
                                             progress=done)
                fmt = bench.format_interp
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(fmt(report))
    return 0


def cmd_obj_show(args: argparse.Namespace) -> int:
    from .objects.show import describe, format_show
    desc = describe(_load_object(args.file))
    if args.json:
        print(json.dumps(desc, indent=2))
    else:
        sys.stdout.write(format_show(desc))
    return 0


def cmd_btf_dump(args: argparse.Namespace) -> int:
    from . import btf
    data = _read_bytes(args.file)
    if data[:4] == b"\x7fELF":
        spec = _load_object(args.file)
        if spec.btf is None:
            raise CLIError(f"{args.file} has no .BTF section")
        blob = spec.btf
    elif data[:2] in (b"\x9f\xeb", b"\xeb\x9f"):
        blob = btf.parse(data)
    else:
        raise CLIError(f"{args.file}: not an ELF object nor raw BTF (no BTF magic 0xeB9F)")
    if args.json:
        if args.format == "c":
            raise CLIError("--json gives the types as data; --format c is C text")
        types = [{"id": i, **_btf_type_json(t)} for i, t in blob.items()]
        print(json.dumps({"file": args.file, "types": types}, indent=2))
    elif args.format == "c":
        sys.stdout.write(btf.dump_c(blob))
    else:
        sys.stdout.write(btf.dump_raw(blob))
    return 0


def _btf_type_json(t: Any) -> dict[str, Any]:
    """A BTF type as JSON-able data: its kind, name and fields (enums by name)."""
    import dataclasses
    import enum

    def plain(v: Any) -> Any:
        if isinstance(v, enum.Enum):
            return v.name
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    out: dict[str, Any] = {"kind": t.kind.name, "name": getattr(t, "name", "")}
    body = plain(t)
    if isinstance(body, dict):
        out.update({k: v for k, v in body.items() if k != "name"})
    return out


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror}") from None


def _need_hypothesis(what: str) -> None:
    """The fuzzers generate with hypothesis, an optional extra."""
    import importlib.util
    if importlib.util.find_spec("hypothesis") is None:
        raise CLIError(f"{what} needs hypothesis, which is not installed: "
                       "pip install 'pybpf[fuzz]'")


def cmd_fuzz_hostile(args: argparse.Namespace) -> int:
    """A hostile-input campaign over pybpf's entry points (pybpf.hostile): counts per
    entry point, reproducers of failures in --out; exit 1 if any case failed."""
    import random
    import threading

    from .hostile import MEMORY_CAP, TARGETS, run_campaign
    from .tools.progress import progress
    targets = list(TARGETS) if args.target == "all" else [args.target]
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    out = Path(args.out)
    lock = threading.Lock()
    with progress(args.count, unit="case", desc="fuzz hostile",
                  as_json=args.json or args.quiet) as bar:
        def tick(_target: str, _outcome: str) -> None:
            with lock:
                bar.update()
        result = run_campaign(args.count, targets, seed=seed, jobs=args.jobs, out_dir=out,
                              timeout=args.timeout, strict=args.strict,
                              progress=tick if bar.enabled else None)
    if args.json:
        print(json.dumps({**result.to_json(), "out": str(out)}, indent=2))
        return 1 if result.failed else 130 if result.interrupted else 0
    if result.interrupted:
        print("interrupted: the counts are of the cases run so far")
    print(f"seed {seed}: {sum(s.cases for s in result.stats.values())} cases in "
          f"{result.seconds:.0f} s, {args.jobs} worker(s) under a "
          f"{MEMORY_CAP >> 30} GiB address-space cap, {args.timeout:g} CPU s per case")
    head = ("entry point", "cases", "pybpf errors", "ok", "exceptions", "over time",
            "over memory", "known")
    rows = [head]
    for target, st in result.stats.items():
        known = ", ".join(f"{k} x{n}" for k, n in sorted(st.known.items())) or "-"
        rows.append((target, str(st.cases), str(st.errors), str(st.ok), str(st.exceptions),
                     str(st.over_time), str(st.over_memory), known))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    new = [f for f in result.failures if f.known is None]
    known = [f for f in result.failures if f.known is not None]
    for f in new[:20]:
        print(f"  FAIL {f.target} seed {f.seed} ({f.kind}): {f.outcome}: "
              f"{f.detail.splitlines()[0][:160] if f.detail else ''} -> {f.reproducer}")
    if known:
        from .hostile.known import ITEMS
        print(f"  {len(known)} known failures (fixed elsewhere; --strict counts them): "
              + "; ".join(ITEMS[i] for i in sorted({f.known for f in known if f.known})))
    if new:
        print(f"  reproducers in {out}/new (replay: python -m pybpf.hostile.replay FILE)")
    return 1 if result.failed else 130 if result.interrupted else 0


def cmd_fuzz_elf(args: argparse.Namespace) -> int:
    import random

    _need_hypothesis("pybpf fuzz elf")
    from .fuzz import elf_campaign
    from .tools.progress import progress
    seeds = []
    for path in args.seeds:
        data = _read_bytes(path)
        if data[:4] != b"\x7fELF":
            raise CLIError(f"{path}: not an ELF object (the seeds are real BPF objects to "
                           "mutate)")
        seeds.append(data)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    t0 = time.monotonic()
    with progress(args.count, unit="obj", desc="fuzz elf",
                  as_json=args.json or args.quiet) as bar:
        stats = elf_campaign(seeds, args.count, seed,
                             progress=(lambda n: bar.update()) if bar.enabled else None)
    seconds = time.monotonic() - t0
    if args.json:
        print(json.dumps({"seed": seed, "seeds": args.seeds, "runs": stats.runs,
                          "loaded": stats.loaded, "rejected": stats.rejected,
                          "seconds": round(seconds, 3), "reasons": stats.reasons,
                          "crashes": stats.crashes}, indent=2))
        return 1 if stats.crashes else 0
    print(f"seed {seed}: {stats.runs} mutated objects from {len(seeds)} seeds in "
          f"{seconds:.0f} s: {stats.loaded} loaded, {stats.rejected} rejected "
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
    from .maps.vmmaps import vm_map_type_names
    prog_types = progtypes.describe()
    map_types = vm_map_type_names()
    helpers = _vm_helper_status(prog_types)
    report: dict[str, Any] = {"backend": "vm", "prog_types": prog_types,
                              "map_types": map_types, "helpers": helpers}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print("Program types on the VM")
    for t in prog_types:
        print(f"  {t['prog_type']:<24} {t['status']:<12} test_run: {t.get('test_run', '-')}, "
              f"{len(t.get('helpers_vm', []))} helpers")
    print(f"\nMap types on the VM ({len(map_types)})")
    print("  " + ", ".join(map_types))
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
    if _is_elf(args.file):
        return _prog_load_object(args)
    code = read_program(args.file, args.syntax)  # an unreadable file says so first
    if args.type is None:
        raise CLIError("--type is needed for raw bytecode (an ELF object's programs take "
                       "theirs from SEC())")
    if args.program is not None or args.pin_root is not None:
        raise CLIError(f"{'--program' if args.program is not None else '--pin-root'} needs an "
                       f"ELF object; {args.file} is not an ELF object")
    ptype = prog_type_value(args.type)
    from .tools.perms import caps_for, explain
    args.need_caps = caps_for([ptype])
    ok, reason = available()
    if not ok:
        if "not permitted" in reason:
            raise CLIError(f"cannot load into the kernel: {explain(args.need_caps)}")
        raise CLIError(f"cannot load into the kernel: {reason}")
    try:
        with prog_load(ptype, code, args.license or "GPL", log_level=args.log_level,
                       name=Path(args.file).stem[:15]) as prog:
            info = prog.info(insns=False)
            result = {"name": Path(args.file).stem, "type": args.type, "accepted": True,
                      "insns": len(code) // 8, "verified_insns": info.verified_insns,
                      "xlated_len": info.xlated_prog_len, "jited_len": info.jited_prog_len,
                      "log": prog.log}
    except KernelVerifierError as e:
        if e.errno == errno.EPERM and not e.log:
            raise
        result = {"name": Path(args.file).stem, "type": args.type, "accepted": False,
                  "insns": len(code) // 8, "error": e.reason, "errno": e.errno_name,
                  "log": e.log}
    return _print_prog_load([result], args.json)


def _prog_load_object(args: argparse.Namespace) -> int:
    """Each program of an object (or --program) loaded into the kernel with its maps,
    its type from SEC() (or --type): one rejection does not stop the others."""
    from .kernel import KernelVerifierError
    from .tools.objdump import prog_type_name
    from .tools.perms import kernel_gate
    if args.syntax is not None:
        raise CLIError(f"--syntax applies to assembly; {args.file} is an ELF object")
    if args.license is not None:
        raise CLIError(f"--license applies to raw bytecode; {args.file} is an ELF object, "
                       "whose programs take the license of its license section")
    spec = _load_object(args.file)
    chosen = _choose_programs(spec, args.program, args.type, "load")
    args.need_caps = _caps_for(spec, chosen)
    kernel_gate("loading programs into the kernel", args.need_caps, require=False)
    results = []
    # each program in an object of its own, so that one rejection does not stop the
    # others; --program P comes with the tail-call targets P needs
    for name in ([args.program] if args.program is not None else chosen):
        pspec = spec.programs[name]
        rec: dict[str, Any] = {"name": name, "section": pspec.section,
                               "type": prog_type_name(pspec.type), "insns": pspec.insn_count}
        try:
            with spec.instantiate("kernel", programs=[name],
                                  tail_calls=args.program is not None,
                                  log_level=args.log_level, pin_root=args.pin_root) as obj:
                prog = obj.programs[name]
                info = prog.handle.info(insns=False)
                rec.update({"accepted": True, "verified_insns": info.verified_insns,
                            "xlated_len": info.xlated_prog_len,
                            "jited_len": info.jited_prog_len,
                            "log": prog.verifier_log or ""})
                if obj.pinned:
                    rec["pinned"] = _pins(obj)
                # alone, a program leaves the prog_array slots of the others empty: by
                # design here, not worth a warning
                warnings = [w for w in obj.warnings if args.program is not None
                            or not w.endswith("is not loaded, the slot stays empty")]
                if warnings:
                    rec["warnings"] = warnings
        except KernelVerifierError as e:
            if e.errno == errno.EPERM and not e.log:
                raise
            rec.update({"accepted": False, "error": e.reason, "errno": e.errno_name,
                        "log": e.log if args.log_level else ""})
        except PyBPFError as e:  # a map, BTF or relocation this program needs
            if getattr(e, "errno", None) == errno.EPERM:
                raise
            rec.update({"accepted": False, "error": str(e),
                        "errno": getattr(e, "errno_name", type(e).__name__), "log": ""})
        results.append(rec)
    return _print_prog_load(results, args.json)


def _print_prog_load(results: list[dict[str, Any]], as_json: bool) -> int:
    rejected = [r for r in results if not r["accepted"]]
    if as_json:
        print(json.dumps({"programs": results}, indent=2))
        return 1 if rejected else 0
    for r in results:
        sys.stdout.write(r["log"])
        head = f"{r['name']} ({r['type']}): " if len(results) > 1 or "section" in r else ""
        if r["accepted"]:
            print(f"{head}accepted: {r['insns']} instructions, {r['verified_insns']} verified, "
                  f"xlated {r['xlated_len']} bytes, jited {r['jited_len']} bytes")
            for line in _pin_lines(r.get("pinned", {})):
                print(f"  {line}")
            for w in r.get("warnings", []):
                print(f"pybpf: warning: {w}", file=sys.stderr)
        else:
            print(f"{head}rejected: {r['error']} ({r['errno']})", file=sys.stderr)
    return 1 if rejected else 0


def cmd_fuzz_diff(args: argparse.Namespace) -> int:
    import random

    _need_hypothesis("pybpf fuzz diff")
    from .fuzz import campaign
    from .tools.perms import kernel_gate
    from .tools.progress import progress
    kernel_gate("a differential campaign (pybpf fuzz diff)", ["CAP_BPF"], require=False)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    with progress(args.count, unit="prog", desc="fuzz diff",
                  as_json=args.json or args.quiet) as bar:
        shown = [0]  # runs the bar has counted

        def show(stats: Any) -> None:
            bar.update(stats.runs - shown[0])
            shown[0] = stats.runs
            bar.set_postfix(f"agreed {stats.agreed} rejected {stats.kernel_rejected}")

        stats = campaign(args.count, seed, Path(args.out),
                         progress=show if bar.enabled else None,
                         max_segments=args.max_segments)
    if args.json:
        print(json.dumps({"seed": seed, "runs": stats.runs, "agreed": stats.agreed,
                          "kernel_rejected": stats.kernel_rejected,
                          "seconds": round(stats.seconds, 3),
                          "instruction_forms": len(stats.opcodes),
                          "rejections": stats.rejections,
                          "known_deviations": stats.known_deviations,
                          "mismatches": stats.mismatches}, indent=2))
    else:
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
            raise CLIError(f"{' and '.join(live_only)} "
                           f"{_verb(live_only, 'applies', 'apply')} only to --live")
        from .pcap import count_packets
        from .tools.progress import StepProgress, wanted
        total = count_packets(args.pcap) if wanted(args.json) else 0  # for the bar only
        with StepProgress(unit="pkt", desc=Path(args.pcap).name, as_json=args.json,
                          minimum=500) as bar:
            result = top.top_pcap(args.pcap, args.backend, progress=bar, total=total)
        if result.truncated:
            print(f"pybpf: warning: {args.pcap}: {result.truncated}; ran the "
                  f"{result.packets} complete packets before it", file=sys.stderr)
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


def cmd_net_list(args: argparse.Namespace) -> int:
    from .tools.netlist import format_net_list, net_list
    view = net_list(args.dev)
    if args.json:
        print(json.dumps([view]))
    else:
        sys.stdout.write(format_net_list(view))
    return 0


def _u32_at_least_1(value: str, not_int: str, out_of_range: str) -> int:
    """An argparse value 1..2^32-1 (base prefixes allowed); the messages name it."""
    try:
        v = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{not_int}: {value!r}") from None
    if not 1 <= v <= 0xFFFF_FFFF:
        raise argparse.ArgumentTypeError(f"{out_of_range}, got {value}")
    return v


def _link_id(value: str) -> int:
    return _u32_at_least_1(value, "not a link id", "a link id is 1..4294967295")


def cmd_link(args: argparse.Namespace) -> int:
    from .tools.netlist import format_link, link_detach, link_list, link_record
    if args.what == "list":
        records = link_list()
    elif args.what == "show":
        records = [link_record(args.id)]
    else:
        rec = link_detach(args.id)
        if args.json:
            print(json.dumps({"detached": rec}))
        else:
            print(f"detached link {rec['id']} ({rec['type']}, prog {rec['prog_id']})")
        return 0
    if args.json:
        print(json.dumps(records if args.what == "list" else records[0]))
    else:
        for rec in records:
            print(format_link(rec))
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


def _json_option(parser: argparse.ArgumentParser, help_text: str = "machine-readable JSON "
                 "output (no progress bar)") -> None:
    parser.add_argument("-j", "--json", action="store_true", help=help_text)


def _repeat(value: str) -> int:
    """--repeat: BPF_PROG_TEST_RUN's repeat is a u32 of at least one run."""
    return _u32_at_least_1(value, "not an integer",
                           "must be 1..4294967295 (a u32 count of runs)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("pybpf")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pybpf", description="The eBPF platform in Python.")
    p.add_argument("--version", action="version", version=f"pybpf {_version()}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    syntaxes = ["kernel", "conformance"]

    a = sub.add_parser("asm", help="assemble a file to bytecode")
    a.add_argument("file", help="assembly file, or - for stdin")
    a.add_argument("-o", "--output", help="write raw bytecode here (default: hex on stdout)")
    a.add_argument("--syntax", choices=syntaxes, help="default: detected from the text")
    _json_option(a, "the instructions as JSON (one hex string of 8 bytes each)")
    a.set_defaults(fn=cmd_asm)

    d = sub.add_parser("disasm", help="disassemble bytecode (raw binary or hex text) or the "
                                      "programs of an ELF object, with their C source lines")
    d.add_argument("file", help="an ELF object, or raw binary or hex bytecode")
    d.add_argument("--program", help="objects: only this program (default: all)")
    d.add_argument("--syntax", choices=syntaxes, default="kernel",
                   help="instruction syntax (default kernel: r0 = 1)")
    _json_option(d)
    d.set_defaults(fn=cmd_disasm)

    r = sub.add_parser("run", help="run a program: an ELF object (test_run semantics) or "
                                   "assembly, hex or raw bytecode (r1 = --mem)")
    r.add_argument("file", help="an ELF object, or assembly, hex or raw bytecode")
    r.add_argument("--mem", help="raw programs: input memory as HEX or @FILE; r1 points to "
                                 "it, r2 = length")
    r.add_argument("--program", help="objects: which program (default: the only one, or the "
                                     "one that takes packets)")
    r.add_argument("--type", help="objects: set the type of --program (and of its tail-call "
                                  "targets of unknown type), or without --program of every "
                                  "program whose SEC() name has no known type; e.g. xdp, tc")
    r.add_argument("--data-in", help="objects: the packet as HEX or @FILE")
    r.add_argument("--ctx-in", help="objects: the context as HEX or @FILE")
    r.add_argument("--pcap", help="objects: run once per packet of this capture (Ethernet or "
                                  "raw IP)")
    r.add_argument("--pcap-out", help="with --pcap: write the packets that pass here")
    r.add_argument("--repeat", type=_repeat, help="objects: runs of the test run, 1..2^32-1 "
                                                 "(default 1; the duration is the mean)")
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
    r.add_argument("--backend", choices=["vm", "kernel"], default="vm",
                   help="where the program runs (default vm)")
    r.add_argument("--pin-root", metavar="DIR",
                   help="kernel, objects: the bpffs where maps pinned by name (or in "
                        "iproute2's namespaces) are pinned or reused (default /sys/fs/bpf)")
    r.add_argument("--budget", type=_positive_int,
                   help="VM: instructions one run may execute before it is stopped "
                        "(default 1000000)")
    r.add_argument("--clock", choices=["capture", "wall"],
                   help="VM with --pcap: what bpf_ktime_get_ns reads, each packet's capture "
                        "timestamp (default) or the host's clock as the kernel does")
    _json_option(r)
    r.set_defaults(fn=cmd_run)

    c = sub.add_parser("conformance-plugin",
                       help="the bpf_conformance plugin protocol (program hex on stdin)")
    c.add_argument("memory", nargs="*", help="input memory as base16")
    c.add_argument("--program", help="program bytes as base16 (instead of stdin)")
    c.add_argument("--backend", choices=["vm", "kernel"], default="vm",
                   help="where the program runs (default vm)")
    c.set_defaults(fn=cmd_plugin)

    fsub = _group(sub, "fuzz", "fuzzing: differential against the kernel and of the ELF "
                               "loader (these need the fuzz extra: pip install "
                               "'pybpf[fuzz]'), and hostile input into every entry point")
    fd = fsub.add_parser("diff", help="random verifier-accepted programs on the VM and the "
                                      "kernel; mismatches are shrunk and saved")
    fd.add_argument("--count", type=_positive_int, default=1000,
                    help="programs to generate (default 1000)")
    fd.add_argument("--seed", type=int, help="random seed (default: a random one, printed)")
    fd.add_argument("--out", default="tests/regressions",
                    help="where minimal reproducers are written (default tests/regressions)")
    fd.add_argument("--max-segments", type=_positive_int, default=12,
                    help="largest number of generated code segments per program (default 12)")
    fd.add_argument("--quiet", action="store_true", help="no progress bar")
    _json_option(fd)
    fd.set_defaults(fn=cmd_fuzz_diff)
    fel = fsub.add_parser("elf", help="mutated real objects into the ELF loader: every input "
                                      "must load or give a clear error")
    fel.add_argument("seeds", nargs="+", help="real BPF object files to mutate")
    fel.add_argument("--count", type=_positive_int, default=10_000,
                     help="mutated objects to try (default 10000)")
    fel.add_argument("--seed", type=int, help="random seed (default: a random one, printed)")
    fel.add_argument("--quiet", action="store_true", help="no progress bar")
    _json_option(fel)
    fel.set_defaults(fn=cmd_fuzz_elf)

    fh = fsub.add_parser("hostile", help="hostile input into every entry point (VM runs, "
                                         "loader, BTF, captures, CLI) in capped workers: "
                                         "anything but a pybpf error, a run over its time "
                                         "or memory fails")
    fh.add_argument("--count", type=_positive_int, default=1000,
                    help="cases in all, spread over the targets (default 1000)")
    fh.add_argument("--target", choices=["loader", "vm", "btf", "pcap", "cli", "all"],
                    default="all", help="one entry point, or all (default)")
    fh.add_argument("--seed", type=int, help="campaign seed (default: a random one, printed)")
    fh.add_argument("--jobs", type=_positive_int, default=1,
                    help="worker processes (default 1)")
    fh.add_argument("--timeout", type=_positive, default=20.0,
                    help="CPU seconds a case may take (default 20; a worker silent for 3 "
                         "times as long is killed as hung)")
    fh.add_argument("--out", default="hostile-failures",
                    help="where reproducers of failures are written (default "
                         "hostile-failures/)")
    fh.add_argument("--strict", action="store_true",
                    help="count the known failures (issue-11 items fixed elsewhere) as "
                         "failures too")
    fh.add_argument("--quiet", action="store_true", help="no progress bar")
    _json_option(fh)
    fh.set_defaults(fn=cmd_fuzz_hostile)

    osub = _group(sub, "obj", "BPF ELF objects")
    osh = osub.add_parser("show", help="sections, programs, maps and globals of an object")
    osh.add_argument("file", help="an ELF object")
    _json_option(osh)
    osh.set_defaults(fn=cmd_obj_show)

    tsub = _group(sub, "btf", "BTF")
    tdump = tsub.add_parser("dump", help="the BTF of an object or a raw BTF file "
                                         "(bpftool btf dump style)")
    tdump.add_argument("file", help="an ELF object or a raw BTF file "
                                    "(e.g. /sys/kernel/btf/vmlinux)")
    tdump.add_argument("--format", choices=["raw", "c"], default="raw",
                       help="raw: one line per type (default); c: C declarations")
    _json_option(tdump)
    tdump.set_defaults(fn=cmd_btf_dump)

    fe = sub.add_parser("features", help="what this kernel's BPF supports (like bpftool "
                                         "feature probe)")
    _json_option(fe)
    fe.add_argument("--no-helpers", action="store_true", help="skip the per-type helper probes")
    fe.add_argument("--backend", choices=["kernel", "vm"], default="kernel",
                    help="probe the kernel (default) or describe the VM")
    fe.set_defaults(fn=cmd_features)

    nsub = _group(sub, "net", "networking programs attached in this network namespace")
    nl = nsub.add_parser("list", aliases=["show"], help="XDP, tc (tcx and clsact) and flow "
                                                        "dissector programs per interface "
                                                        "(as bpftool net list)")
    nl.add_argument("dev", nargs="?", metavar="DEV", help="only this interface")
    _json_option(nl, "bpftool's JSON")
    nl.set_defaults(fn=cmd_net_list, need_caps=["CAP_NET_ADMIN", "CAP_BPF"])

    lsub = _group(sub, "link", "BPF links in the kernel")
    ll = lsub.add_parser("list", help="every link (as bpftool link list)")
    _json_option(ll, "bpftool's JSON")
    ll.set_defaults(fn=cmd_link, need_caps=["CAP_SYS_ADMIN"])
    for name, help_text in (("show", "one link by id"),
                            ("detach", "detach a link by id (BPF_LINK_DETACH; also a "
                                       "pinned one)")):
        lp = lsub.add_parser(name, help=help_text)
        lp.add_argument("id", type=_link_id, help="the link id (from link list)")
        _json_option(lp, "bpftool's JSON")
        lp.set_defaults(fn=cmd_link, need_caps=["CAP_SYS_ADMIN", "CAP_NET_ADMIN"])

    prsub = _group(sub, "prog", "programs in the kernel")
    pl = prsub.add_parser("load", help="load into the kernel and print the verifier log "
                                       "(exit 0 accepted, 1 rejected)")
    pl.add_argument("file", help="an ELF object (each program's type from SEC()), or "
                                 "assembly, hex or raw bytecode (with --type)")
    pl.add_argument("--type", help="program type, e.g. xdp, socket_filter: needed for raw "
                                   "bytecode; for an object it sets the type of --program (or "
                                   "of every program of unknown type), as `run --type` does")
    pl.add_argument("--program", help="objects: load only this program (default: all)")
    pl.add_argument("--log-level", type=int, default=1, choices=[0, 1, 2],
                    help="verifier log level, printed for accepted and rejected programs "
                         "(0: none, default 1, 2: every instruction's verifier state)")
    pl.add_argument("--pin-root", metavar="DIR",
                    help="objects: the bpffs where maps pinned by name (or in iproute2's "
                         "namespaces) are pinned or reused (default /sys/fs/bpf)")
    pl.add_argument("--license",
                    help="raw bytecode: the license string (default GPL; an object's "
                         "programs take its license section's)")
    pl.add_argument("--syntax", choices=syntaxes, help="assembly syntax (default: detected)")
    _json_option(pl)
    pl.set_defaults(fn=cmd_prog_load)

    bsub = _group(sub, "bench", "benchmarks")
    bi = bsub.add_parser("interp", help="interpreter speed in executed instructions per second")
    bi.add_argument("--repeat", type=_positive_int, default=3,
                    help="runs of each program, the best counts (default 3)")
    bi.add_argument("--iterations", type=_positive_int, default=100_000,
                    help="loop iterations of each program (default 100000)")
    _json_option(bi)
    bi.set_defaults(fn=cmd_bench)
    bk = bsub.add_parser("kernel", help="ns per run on the VM and in the kernel, same programs")
    bk.add_argument("--repeat", type=_positive_int, default=3,
                    help="runs of each program, the best counts (default 3)")
    bk.add_argument("--iterations", type=_positive_int, default=10_000,
                    help="loop iterations of each program (default 10000)")
    _json_option(bk)
    bk.set_defaults(fn=cmd_bench)
    bm = bsub.add_parser("maps", help="map lookups/updates per second, VM maps and kernel maps")
    bm.add_argument("--repeat", type=_positive_int, default=3,
                    help="timed passes, the best counts (default 3)")
    bm.add_argument("--ops", type=_positive_int, default=20_000,
                    help="operations per pass (default 20000)")
    bm.add_argument("--no-kernel", action="store_true", help="VM maps only")
    _json_option(bm)
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
    _json_option(tp, "machine-readable output (--live: one JSON object per line)")
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
    _json_option(ts, "one JSON object per line")
    ts.set_defaults(fn=cmd_trace_syscalls)
    return p


def _error_text(err: PyBPFError, args: argparse.Namespace) -> str:
    """The one-line message; an EPERM on the kernel path says which capabilities the
    command needs and which sysctl governs bpf(2) without them (not the bpf(2) call
    that happened to come first, such as a hidden .rodata map's creation)."""
    from .tools.perms import is_permission_error, permission_message
    if getattr(args, "backend", "kernel") == "kernel" and is_permission_error(err):
        need = getattr(args, "need_caps", None) or ["CAP_BPF"]
        what = f"{args.command} {getattr(args, 'file', '') or ''}".strip()
        return permission_message(f"the kernel refused pybpf {what}", need)
    return str(err)


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
        print(f"pybpf: error: {_error_text(e, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pybpf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # a file or device the command was pointed at
        where = f" {e.filename}" if e.filename else ""
        print(f"pybpf: error:{where} {e.strerror or e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a pybpf bug: one line, not a traceback
        if os.environ.get("PYBPF_DEBUG"):
            raise
        print(f"pybpf: internal error: {type(e).__name__}: {e} (a bug in pybpf; "
              "PYBPF_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
