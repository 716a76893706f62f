"""`pybpf run`: a program run with BPF_PROG_TEST_RUN's semantics on the VM or in the
kernel (an ELF object on its input or on each packet of a capture, or raw bytecode),
and the bpf_conformance plugin."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from ..backend import get_backend
from ..errors import PyBPFError
from .common import (SYNTAXES, CLIError, caps_for_programs, choose_programs, is_elf,
                     json_option, load_object, parse_hex_arg, pin_lines, pins, positive_int,
                     read_program, repeat_count, verb)


def _check_run_options(args: argparse.Namespace, is_object: bool) -> None:
    """`pybpf run` refuses what it would otherwise ignore."""
    given = lambda *names: [f"--{n.replace('_', '-')}" for n in names  # noqa: E731
                            if getattr(args, n, None) is not None]
    if is_object:
        wrong = given("mem", "syntax")
        if wrong:
            raise CLIError(f"{' and '.join(wrong)} {verb(wrong, 'applies', 'apply')} to raw "
                           f"programs; {args.file} is an ELF object (its program takes "
                           "--data-in, --ctx-in or --pcap)")
    else:
        wrong = given("program", "type", "data_in", "ctx_in", "pcap", "pcap_out", "workers",
                      "set", "map", "record_type", "repeat", "clock", "pin_root")
        if wrong:
            raise CLIError(f"{', '.join(wrong)} {verb(wrong, 'needs', 'need')} an ELF object; "
                           f"{args.file} is not an ELF object (a raw program takes --mem)")
    if args.pcap_out is not None and args.pcap is None:
        raise CLIError("--pcap-out writes the packets of --pcap that pass; give --pcap")
    if args.workers is not None and args.pcap is None:
        raise CLIError("--workers splits the packets of --pcap over processes; give --pcap")
    if args.pcap is not None:
        wrong = given("data_in", "ctx_in", "repeat")
        if wrong:
            raise CLIError(f"{', '.join(wrong)} cannot go with --pcap, which runs the program "
                           "once on each packet of the capture")
    platform = get_backend(args.backend)
    if args.pin_root is not None and not platform.caps.pin:
        raise CLIError("--pin-root is where the kernel backend pins an object's maps; on the "
                       "VM they are the run's own (use --backend kernel)")
    if args.no_verify and platform.caps.host_bpf:
        raise CLIError("--no-verify skips pybpf's verifier on the VM; the kernel verifies "
                       "every program (use --backend vm)")
    if args.no_verify and not is_object:
        raise CLIError("--no-verify applies to ELF objects: a raw program runs unverified "
                       "already (it has no program type)")
    if args.budget is not None and not platform.caps.insn_budget:
        raise CLIError("--budget is the VM's instruction budget; in the kernel the "
                       "verifier bounds every program (use --backend vm)")
    if getattr(args, "engine", None) and not platform.caps.insn_budget:
        raise CLIError("--engine chooses how the VM runs programs; the kernel has its own "
                       "JIT (use --backend vm)")
    if args.clock == "capture" and not platform.caps.set_world:
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
    from ..objects.runner import dump_maps, pick_program
    from ..objects.session import (
        apply_sets,
        format_extras,
        map_entry_text,
        run_extras,
        run_session,
    )
    from ..objects.verdicts import verdict_name
    spec = load_object(args.file)
    chosen = choose_programs(spec, args.program, args.type)
    args.need_caps = caps_for_programs(spec, chosen)
    apply_sets(spec, args.set)  # typed by BTF: ints, bools, enum names, strings, JSON
    out: dict = {}
    pcap_in = None
    if args.pcap:  # streamed: read, run and written --pcap-out a packet at a time
        from ..pcap import CaptureReader, EthernetFrames, primed
        pcap_in = CaptureReader(args.pcap)
        frames = EthernetFrames(pcap_in)
        # a file that is no capture fails here, at once (a classic pcap by its header:
        # its records may then be walked in native code, pybpf.jit.batch)
        packets = frames if pcap_in.classic() else primed(frames)
    with contextlib.ExitStack() as stack, \
            run_session(spec, args, chosen) as (obj, capture):  # --map, then records and printk
        if pcap_in is not None:
            stack.callback(pcap_in.close)
        prog = pick_program(obj, args.program)
        platform = obj.platform
        if platform.caps.insn_budget:
            from ..vm import DEFAULT_INSN_BUDGET
            for p in obj.programs.values():
                p.handle.insn_budget = args.budget or DEFAULT_INSN_BUDGET
        if pcap_in is not None:
            _check_packet_program(prog)
            from ..pcap import PcapWriter, count_packets
            from ..tools.progress import StepProgress, wanted
            clock = args.clock or "capture" if platform.caps.set_world else "kernel"
            if clock == "wall":
                prog.set_clock(None)
            split = bool(args.workers and args.workers > 1)
            writer = stack.enter_context(PcapWriter(args.pcap_out)) \
                if args.pcap_out and not split else None
            # the bar's total: a first pass that counts (and keeps nothing), for people only
            total = count_packets(args.pcap) if wanted(args.json) and not split else 0
            added, written = frames.added, 0
            if args.workers and args.workers > 1:  # split over processes, merged
                from ..objects.parallel import run_pcap_workers
                pcap_in.close()
                par = run_pcap_workers(obj, prog, args.pcap, args.workers,
                                       capture_clock=clock == "capture",
                                       pcap_out=args.pcap_out)
                report, added, written = par.result, par.added, par.written
                pcap_in.truncated = par.truncated
                pcap_in.packets = report.packets
            else:
                with StepProgress(unit="pkt", desc=Path(args.pcap).name, as_json=args.json,
                                  minimum=500) as bar:
                    report = prog.run_batch(packets, capture_clock=clock == "capture",
                                            progress=bar, total=total,
                                            on_pass=writer.write if writer else None)
                added = frames.added
                written = writer.packets if writer is not None else 0
            out["program"] = prog.name
            out["clock"] = clock
            out["packets"] = report.packets
            if added:
                out["ethernet_added"] = added
            if pcap_in.truncated:
                out["truncated"] = pcap_in.truncated
            out["verdicts"] = dict(report.verdicts.most_common())
            if report.errors:
                out["errors"] = dict(report.errors)
            if args.pcap_out:
                out["pcap_out"] = {"path": args.pcap_out, "packets": written}
        else:
            data_in = parse_hex_arg(args.data_in, "--data-in") if args.data_in else None
            ctx_in = parse_hex_arg(args.ctx_in, "--ctx-in") if args.ctx_in else None
            if args.data_in is None and _takes_packets(prog):
                from ..tools.objdump import prog_type_name
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
            out["pinned"] = pins(obj)
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
    for line in pin_lines(out.get("pinned", {})):
        print(line)
    return 0


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
        from ..tools.objdump import prog_type_name
        raise CLIError(f"program {prog.name} ({prog_type_name(prog.type)}) is of a type "
                       "BPF_PROG_TEST_RUN does not run (in the kernel, and so not on the VM "
                       "either): attach it to its event in the kernel instead (Program.attach() "
                       "in Python; `pybpf trace syscalls` attaches the tracepoint example)"
                       ) from None


def _repeat_progress(prog: Any, data_in: bytes | None, ctx_in: bytes | None, repeat: int,
                     as_json: bool) -> Any:
    """prog.test_run(repeat=N); a long run (on a terminal) goes in steps behind a
    progress bar, its duration the mean over all of them."""
    from ..objects.instance import TestRunResult
    from ..tools.progress import progress
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


_PACKET_TYPES = ("XDP", "SCHED_CLS", "SCHED_ACT", "SOCKET_FILTER", "CGROUP_SKB", "LWT_IN",
                 "LWT_OUT", "LWT_XMIT", "LWT_SEG6LOCAL", "FLOW_DISSECTOR")


def _takes_packets(prog: Any) -> bool:
    from ..uapi import ProgType
    return prog.type in [int(ProgType[name]) for name in _PACKET_TYPES]


def _check_packet_program(prog: Any) -> None:
    """--pcap feeds frames to BPF_PROG_TEST_RUN's data_in: only packet programs take them."""
    if not _takes_packets(prog):
        from ..tools.objdump import prog_type_name
        raise CLIError(f"--pcap feeds packets, and program {prog.name} is a "
                       f"{prog_type_name(prog.type)} program, which takes none (packet "
                       f"programs: {', '.join(t.lower() for t in _PACKET_TYPES)})")


_CLOCKS = {"capture": "capture (bpf_ktime_get_ns reads each packet's capture timestamp; "
                      "--clock wall for the host's)",
           "wall": "wall (bpf_ktime_get_ns reads the host's monotonic clock while the "
                   "program runs, as in the kernel)",
           "kernel": "the kernel's (bpf_ktime_get_ns reads CLOCK_MONOTONIC while the program "
                     "runs; the capture's timestamps are not seen)"}


def engine_kw(args: argparse.Namespace) -> dict:
    """The VM engine --engine names, as keyword arguments (none: the default)."""
    return {"engine": args.engine} if getattr(args, "engine", None) else {}


def cmd_run(args: argparse.Namespace) -> int:
    is_object = is_elf(args.file)
    _check_run_options(args, is_object)
    if is_object:
        return cmd_run_object(args)
    code = read_program(args.file, args.syntax)
    mem = parse_hex_arg(args.mem, "--mem") if args.mem is not None else None
    r0 = get_backend(args.backend).run_raw(code, mem, insn_budget=args.budget,
                                           **engine_kw(args))
    if args.json:
        print(json.dumps({"r0": r0, "r0_hex": f"{r0:#x}"}))
    else:
        signed = r0 - (1 << 64) if r0 >> 63 else r0
        print(f"r0 = {r0:#x} ({signed})")
    return 0


def cmd_plugin(args: argparse.Namespace) -> int:
    from ..conformance import plugin_main
    return plugin_main(args.memory, sys.stdin, sys.stdout, sys.stderr, backend=args.backend,
                       program_hex=args.program)


def register(sub: argparse._SubParsersAction) -> None:
    """The run and conformance-plugin commands."""
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
    r.add_argument("--workers", type=positive_int, metavar="N",
                   help="with --pcap: split the capture over N processes by source address "
                        "(as RSS over CPUs); on the VM their maps are merged at the end "
                        "(per-CPU maps: a slot per worker; others: one worker's value, or "
                        "the changes of several added up; see the README)")
    r.add_argument("--repeat", type=repeat_count,
                   help="objects: runs of the test run, 1..2^32-1 (default 1; the duration is "
                        "the mean)")
    r.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="objects: set a global variable (e.g. a .rodata config) first; "
                        "typed by BTF: 10, 0x1f, true, an enumerator, a string, JSON")
    r.add_argument("--map", action="append", metavar="NAME=@FILE.json",
                   help="objects: fill a map first from JSON (a list of {\"key\", "
                        "\"value\"} or an object of key: value; typed by BTF)")
    r.add_argument("--record-type", action="append", metavar="MAP=TYPE[,TYPE]",
                   help="objects: decode the records of a ring buffer or perf event array "
                        "as this BTF type (the one whose size fits each record)")
    r.add_argument("--syntax", choices=SYNTAXES, help="assembly syntax (default: detected)")
    r.add_argument("--backend", choices=["vm", "kernel"], default="vm",
                   help="where the program runs (default vm)")
    r.add_argument("--pin-root", metavar="DIR",
                   help="kernel, objects: the bpffs where maps pinned by name (or in "
                        "iproute2's namespaces) are pinned or reused (default /sys/fs/bpf)")
    r.add_argument("--budget", type=positive_int,
                   help="VM: instructions one run may execute before it is stopped "
                        "(default 1000000)")
    r.add_argument("--engine", choices=["auto", "interp", "jit"],
                   help="VM: how programs run: auto (default) starts on the interpreter "
                        "and compiles a program with the LLVM JIT once it is hot, interp "
                        "never compiles, jit compiles every program at load")
    r.add_argument("--no-verify", action="store_true",
                   help="VM, objects: run the programs without pybpf's verifier (which "
                        "otherwise refuses what the kernel would)")
    r.add_argument("--clock", choices=["capture", "wall"],
                   help="VM with --pcap: what bpf_ktime_get_ns reads, each packet's capture "
                        "timestamp (default) or the host's clock as the kernel does")
    json_option(r)
    r.set_defaults(fn=cmd_run)

    c = sub.add_parser("conformance-plugin",
                       help="the bpf_conformance plugin protocol (program hex on stdin)")
    c.add_argument("memory", nargs="*", help="input memory as base16")
    c.add_argument("--program", help="program bytes as base16 (instead of stdin)")
    c.add_argument("--backend", choices=["vm", "kernel"], default="vm",
                   help="where the program runs (default vm)")
    c.set_defaults(fn=cmd_plugin)
