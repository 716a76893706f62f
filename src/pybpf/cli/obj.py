"""`pybpf obj show` and `pybpf btf dump`: what an object holds, and BTF as bpftool
prints it."""

from __future__ import annotations

import argparse
import json
import sys

from .common import CLIError, command_group, json_option, load_object, read_bytes


def cmd_obj_show(args: argparse.Namespace) -> int:
    from ..objects.show import describe, format_show
    desc = describe(load_object(args.file))
    if args.json:
        print(json.dumps(desc, indent=2))
    else:
        sys.stdout.write(format_show(desc))
    return 0


def cmd_btf_dump(args: argparse.Namespace) -> int:
    from .. import btf
    data = read_bytes(args.file)
    if data[:4] == b"\x7fELF":
        spec = load_object(args.file)
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
        from ..btf.dump import btf_type_json  # imported when used: keeps --help fast
        types = [{"id": i, **btf_type_json(t)} for i, t in blob.items()]
        print(json.dumps({"file": args.file, "types": types}, indent=2))
    elif args.format == "c":
        sys.stdout.write(btf.dump_c(blob))
    else:
        sys.stdout.write(btf.dump_raw(blob))
    return 0


def cmd_btf_list(args: argparse.Namespace) -> int:
    from ..tools.bpftoolview import btf_list, format_btf
    records = btf_list()
    print(json.dumps(records) if args.json else "\n".join(format_btf(r) for r in records))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """The obj and btf groups."""
    osub = command_group(sub, "obj", "BPF ELF objects")
    osh = osub.add_parser("show", help="sections, programs, maps and globals of an object")
    osh.add_argument("file", help="an ELF object")
    json_option(osh)
    osh.set_defaults(fn=cmd_obj_show)

    tsub = command_group(sub, "btf", "BTF")
    tdump = tsub.add_parser("dump", help="the BTF of an object or a raw BTF file "
                                         "(bpftool btf dump style)")
    tdump.add_argument("file", help="an ELF object or a raw BTF file "
                                    "(e.g. /sys/kernel/btf/vmlinux)")
    tdump.add_argument("--format", choices=["raw", "c"], default="raw",
                       help="raw: one line per type (default); c: C declarations")
    json_option(tdump)
    tdump.set_defaults(fn=cmd_btf_dump)
    bl = tsub.add_parser("list", help="every BTF object in the kernel, with the programs "
                                      "and maps that use it (as bpftool btf list)")
    json_option(bl, "bpftool's JSON")
    bl.set_defaults(fn=cmd_btf_list, need_caps=["CAP_SYS_ADMIN"])
