"""`pybpf attach FILE.o [--program P] HOOK TARGET [options]`: attach a program of an
object in the kernel, show its maps and output live, detach on exit (pybpf.tools.attach).

    pybpf attach fw.o xdp eth0 --mode skb --duration 10
    pybpf attach fw.o tc eth0 --direction egress
    pybpf attach cg.o cgroup /sys/fs/cgroup/my.slice --attach-type cgroup_inet_egress
    pybpf attach tp.o tracepoint syscalls:sys_enter_execve
    pybpf attach tp.o raw_tracepoint sys_enter
    pybpf attach up.o uprobe /bin/bash:readline
    pybpf attach tp.o                        # where the section name says
"""

from __future__ import annotations

import argparse
import os
import sys

from .common import CLIError, is_elf, json_option, positive, positive_int

def cmd_attach(args: argparse.Namespace) -> int:
    from ..tools.attach import AttachRequest, attach_live
    hook = getattr(args, "hook", None) or "section"
    target = getattr(args, "target", None)
    req = AttachRequest(path=args.file, hook=hook, target=target, program=args.program,
                        mode=getattr(args, "mode", "skb"),
                        direction=getattr(args, "direction", None),
                        attach_type=getattr(args, "attach_type", None), pin=args.pin,
                        sets=(args.set or []) + (getattr(args, "set_after_hook", None) or []),
                        maps=(args.map or []) + (getattr(args, "map_after_hook", None) or []))
    if not os.path.isfile(args.file):
        raise CLIError(f"{args.file}: no such file")
    if not is_elf(args.file):
        raise CLIError(f"{args.file}: not an ELF object (no ELF magic)")
    attach_live(sys.stdout, req, interval=args.interval, duration=args.duration,
                as_json=args.json, max_rows=args.max_rows)
    return 0


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every hook takes; on the hook's parser they default to SUPPRESS, so a
    value given before the hook (`--program P xdp eth0`) is kept."""
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    p.add_argument("--program", "-p", metavar="P", default=d(None),
                   help="the program to attach (default: the only one that fits the hook)")
    p.add_argument("--pin", metavar="PATH", default=d(None),
                   help="pin the link on bpffs: it stays attached after pybpf exits")
    p.add_argument("--duration", type=positive, metavar="S", default=d(None),
                   help="detach after this many seconds (default: at Ctrl-C)")
    p.add_argument("--interval", type=positive, metavar="S", default=d(1.0),
                   help="seconds between redraws (default 1)")
    p.add_argument("--max-rows", type=positive_int, metavar="N", default=d(20),
                   help="entries shown per map (default 20)")
    # repeatable: given before and after the hook they add up (two dests, joined later)
    suffix = "_after_hook" if suppress else ""
    p.add_argument("--set", action="append", metavar="NAME=VALUE", dest="set" + suffix,
                   help="set a global variable (e.g. a .rodata config) before loading; "
                        "typed by BTF")
    p.add_argument("--map", action="append", metavar="NAME=@FILE.json", dest="map" + suffix,
                   help="fill a map from JSON before attaching (as pybpf run --map)")
    if suppress:
        p.add_argument("--json", "-j", action="store_true", default=argparse.SUPPRESS,
                       help="one JSON object per line")
    else:
        json_option(p, "one JSON object per line")


def register(sub: argparse._SubParsersAction) -> None:
    """The attach command."""
    ap = sub.add_parser("attach", help="attach a program in the kernel and show its maps and "
                                       "output live; detach on exit or Ctrl-C",
                        description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("file", metavar="FILE.o", help="the BPF object")
    _common(ap, suppress=False)
    hooks = ap.add_subparsers(dest="hook", metavar="HOOK", parser_class=type(ap))
    hooks.required = False
    x = hooks.add_parser("xdp", help="an XDP program on a network interface")
    x.add_argument("target", metavar="DEV", help="interface name or index")
    x.add_argument("--mode", choices=["skb", "drv"], default="skb",
                   help="generic (skb, the default) or native (drv) XDP")
    t = hooks.add_parser("tc", help="a tc program on a network interface (tcx, or clsact)")
    t.add_argument("target", metavar="DEV", help="interface name or index")
    t.add_argument("--direction", choices=["ingress", "egress"], default=None,
                   help="default: what the section says, else ingress")
    c = hooks.add_parser("cgroup", help="a cgroup program on a cgroup v2 directory")
    c.add_argument("target", metavar="PATH", help="the cgroup directory")
    c.add_argument("--attach-type", metavar="T",
                   help="e.g. cgroup_inet_egress (default: what the section says)")
    tp = hooks.add_parser("tracepoint", help="a tracepoint program on CATEGORY:NAME")
    tp.add_argument("target", metavar="CAT:NAME", help="e.g. syscalls:sys_enter_execve")
    rt = hooks.add_parser("raw_tracepoint", help="a raw tracepoint program")
    rt.add_argument("target", metavar="NAME", help="e.g. sys_enter")
    up = hooks.add_parser("uprobe", help="a uprobe on a function of a binary")
    up.add_argument("target", metavar="PATH:SYM", help="e.g. /bin/bash:readline")
    caps = ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"]
    for p in (x, t, c, tp, rt, up):
        _common(p, suppress=True)
        p.set_defaults(fn=cmd_attach, need_caps=caps)
    ap.set_defaults(fn=cmd_attach, need_caps=caps)
