"""`pybpf prog load`: programs loaded into the kernel with the verifier's log, raw
bytecode or each program of an object; `--backend vm` loads them on the VM, where
pybpf's verifier gives the verdict and the log in the kernel's format."""

from __future__ import annotations

import argparse
import errno
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import PyBPFError
from .common import (SYNTAXES, CLIError, caps_for_programs, choose_programs, command_group,
                     is_elf, json_option, load_object, pin_lines, pins, prog_type_value,
                     read_program)


def cmd_prog_load(args: argparse.Namespace) -> int:
    if args.backend == "vm":
        return _prog_load_vm(args)
    from ..kernel import KernelVerifierError, available, prog_load
    if is_elf(args.file):
        return _prog_load_object(args)
    code = read_program(args.file, args.syntax)  # an unreadable file says so first
    if args.type is None:
        raise CLIError("--type is needed for raw bytecode (an ELF object's programs take "
                       "theirs from SEC())")
    if args.program is not None or args.pin_root is not None:
        raise CLIError(f"{'--program' if args.program is not None else '--pin-root'} needs an "
                       f"ELF object; {args.file} is not an ELF object")
    ptype = prog_type_value(args.type)
    from ..tools.perms import caps_for, explain
    args.need_caps = caps_for([ptype])
    ok, reason = available()
    if not ok:
        if "not permitted" in reason:
            raise CLIError(f"cannot load into the kernel: {explain(args.need_caps)}")
        raise CLIError(f"cannot load into the kernel: {reason}")
    try:
        with prog_load(ptype, code, args.license or "GPL", log_level=args.log_level,
                       name=_prog_name(args.file)) as prog:
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
    from ..kernel import KernelVerifierError
    from ..tools.objdump import prog_type_name
    from ..tools.perms import kernel_gate
    if args.syntax is not None:
        raise CLIError(f"--syntax applies to assembly; {args.file} is an ELF object")
    if args.license is not None:
        raise CLIError(f"--license applies to raw bytecode; {args.file} is an ELF object, "
                       "whose programs take the license of its license section")
    spec = load_object(args.file)
    chosen = choose_programs(spec, args.program, args.type, "load")
    args.need_caps = caps_for_programs(spec, chosen)
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
                    rec["pinned"] = pins(obj)
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


def _prog_load_vm(args: argparse.Namespace) -> int:
    """`prog load --backend vm`: pybpf's verifier in place of the kernel's, the same
    output (the VM has no xlated or JITed image, and no errno to report)."""
    from ..errors import VerifierError
    from ..tools.objdump import prog_type_name
    if args.pin_root is not None:
        raise CLIError("--pin-root is where the kernel pins an object's maps; the VM pins "
                       "none (use --backend kernel)")
    if not is_elf(args.file):
        from ..isa import decode
        from ..verifier import verify
        code = read_program(args.file, args.syntax)
        if args.type is None:
            raise CLIError("--type is needed for raw bytecode (an ELF object's programs "
                           "take theirs from SEC())")
        if args.program is not None:
            raise CLIError(f"--program needs an ELF object; {args.file} is not an ELF object")
        r = verify(decode(code), prog_type_value(args.type), license=args.license or "GPL",
                   log_level=args.log_level)
        rec: dict[str, Any] = {"name": Path(args.file).stem, "type": args.type,
                               "accepted": r.accepted, "insns": len(code) // 8,
                               "verified_insns": r.insns_processed, "log": r.log}
        if not r.accepted:
            rec.update({"error": r.error, "errno": None})
        return _print_prog_load([rec], args.json)
    if args.syntax is not None:
        raise CLIError(f"--syntax applies to assembly; {args.file} is an ELF object")
    if args.license is not None:
        raise CLIError(f"--license applies to raw bytecode; {args.file} is an ELF object, "
                       "whose programs take the license of its license section")
    spec = load_object(args.file)
    chosen = choose_programs(spec, args.program, args.type, "load")
    results = []
    for name in ([args.program] if args.program is not None else chosen):
        pspec = spec.programs[name]
        rec = {"name": name, "section": pspec.section, "type": prog_type_name(pspec.type),
               "insns": pspec.insn_count}
        try:
            with spec.instantiate("vm", programs=[name], tail_calls=args.program is not None,
                                  log_level=args.log_level, verify=True) as obj:
                log = obj.programs[name].verifier_log or ""
                rec.update({"accepted": True, "verified_insns": _processed(log), "log": log})
                warnings = [w for w in obj.warnings if args.program is not None
                            or not w.endswith("is not loaded, the slot stays empty")]
                if warnings:
                    rec["warnings"] = warnings
        except VerifierError as e:
            rec.update({"accepted": False, "error": e.error, "errno": None,
                        "log": e.log if args.log_level else ""})
        except PyBPFError as e:  # a map, BTF or relocation this program needs
            rec.update({"accepted": False, "error": str(e), "errno": type(e).__name__,
                        "log": ""})
        results.append(rec)
    return _print_prog_load(results, args.json)


def _prog_name(path: str) -> str:
    """The file's stem as a kernel program name: 15 characters of [A-Za-z0-9_.] (the
    kernel refuses any other with EINVAL)."""
    import re
    return re.sub(r"[^A-Za-z0-9_.]", "_", Path(path).stem)[:15]


def _processed(log: str) -> int | None:
    """The processed-instructions figure of a verifier log's summary line."""
    import re
    m = re.search(r"^processed (\d+) insns", log, re.M)
    return int(m.group(1)) if m else None


def _print_prog_load(results: list[dict[str, Any]], as_json: bool) -> int:
    rejected = [r for r in results if not r["accepted"]]
    if as_json:
        print(json.dumps({"programs": results}, indent=2))
        return 1 if rejected else 0
    for r in results:
        sys.stdout.write(r["log"])
        head = f"{r['name']} ({r['type']}): " if len(results) > 1 or "section" in r else ""
        if r["accepted"]:
            verified = f", {r['verified_insns']} verified" \
                if r.get("verified_insns") is not None else ""
            image = f", xlated {r['xlated_len']} bytes, jited {r['jited_len']} bytes" \
                if "xlated_len" in r else ""
            print(f"{head}accepted: {r['insns']} instructions{verified}{image}")
            for line in pin_lines(r.get("pinned", {})):
                print(f"  {line}")
            for w in r.get("warnings", []):
                print(f"pybpf: warning: {w}", file=sys.stderr)
        else:
            errno_text = f" ({r['errno']})" if r.get("errno") else ""
            print(f"{head}rejected: {r['error']}{errno_text}", file=sys.stderr)
    return 1 if rejected else 0


def object_selector(words: list[str], kind: str, hows: tuple[str, ...]) -> tuple[str, str]:
    """bpftool's object syntax: `ID`, `id ID`, `pinned PATH`, `tag TAG`, `name NAME`."""
    if len(words) == 1 and words[0] not in hows:
        return "id", words[0]
    if len(words) == 2 and words[0] in hows:
        return words[0], words[1]
    raise CLIError(f"choose the {kind} as ID or {' | '.join(f'{h} {h.upper()}' for h in hows)}"
                   f", got {' '.join(words) or 'nothing'}")


_PROG_HOWS = ("id", "pinned", "tag", "name")


def cmd_prog_show(args: argparse.Namespace) -> int:
    """`prog list` and `prog show [PROG]`: bpftool's records and layout."""
    from ..tools.bpftoolview import format_prog, prog_details, prog_list, prog_record
    if args.what == "list" or not args.prog:
        records = prog_list()
        single = False
    else:
        how, what = object_selector(args.prog, "program", _PROG_HOWS)
        records = [prog_record(d) for d in prog_details(how, what)]
        single = len(records) == 1  # as bpftool: an object for one, an array for more
    if args.json:
        print(json.dumps(records[0] if single else records))
    else:
        for rec in records:
            print(format_prog(rec))
    return 0


def cmd_prog_dump(args: argparse.Namespace) -> int:
    """`prog dump xlated|jited PROG`."""
    from ..tools import progdump
    from ..tools.bpftoolview import prog_details
    how, what = object_selector(args.prog, "program", _PROG_HOWS)
    details = prog_details(how, what, insns=True)
    dumps: list[Any] = []
    for d in details:
        if args.kind == "xlated":
            lines = progdump.xlated_lines(d)
            if args.json:
                dumps.append(progdump.xlated_json(lines, opcodes=args.opcodes,
                                                  linum=args.linum))
            else:
                dumps.append(progdump.format_xlated(lines, opcodes=args.opcodes,
                                                    linum=args.linum))
        else:
            dump = progdump.jited_dump(d, use_disassembler=not args.opcodes)
            dumps.append(progdump.jited_json(dump) if args.json
                         else progdump.format_jited(dump))
    if args.json:
        print(json.dumps(dumps[0] if len(dumps) == 1 else dumps))
    else:
        sys.stdout.write("\n".join(dumps))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """The prog group."""
    prsub = command_group(sub, "prog", "programs in the kernel")
    ps = prsub.add_parser("list", help="every loaded program (as bpftool prog list)")
    json_option(ps, "bpftool's JSON")
    ps.set_defaults(fn=cmd_prog_show, need_caps=["CAP_SYS_ADMIN"], prog=[])
    ps = prsub.add_parser("show", help="programs by ID, `id ID`, `pinned PATH`, `tag TAG` or "
                                       "`name NAME` (all without one)")
    ps.add_argument("prog", nargs="*", metavar="PROG",
                    help="ID, or id ID | pinned PATH | tag TAG | name NAME")
    json_option(ps, "bpftool's JSON")
    ps.set_defaults(fn=cmd_prog_show, need_caps=["CAP_SYS_ADMIN"])
    pd = prsub.add_parser("dump", help="a loaded program's code: `xlated` (the bytecode after "
                                       "the verifier, with source lines from line info) or "
                                       "`jited` (the native code)")
    pd.add_argument("kind", choices=["xlated", "jited"],
                    help="xlated: the verifier's bytecode; jited: the native code")
    pd.add_argument("prog", nargs="+", metavar="PROG",
                    help="ID, or id ID | pinned PATH | tag TAG | name NAME")
    pd.add_argument("--opcodes", action="store_true",
                    help="xlated: each instruction's bytes too; jited: hex bytes only")
    pd.add_argument("--linum", action="store_true",
                    help="xlated: the file, line and column of each source line")
    json_option(pd, "bpftool's JSON")
    pd.set_defaults(fn=cmd_prog_dump, need_caps=["CAP_SYS_ADMIN"])
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
    pl.add_argument("--syntax", choices=SYNTAXES, help="assembly syntax (default: detected)")
    pl.add_argument("--backend", choices=["kernel", "vm"], default="kernel",
                    help="where to load: the kernel (default), or the VM, where pybpf's "
                         "verifier gives the verdict and the log")
    json_option(pl)
    pl.set_defaults(fn=cmd_prog_load)
