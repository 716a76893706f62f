"""`pybpf cgroup tree [ROOT]` and `pybpf cgroup show CGROUP`: the programs attached to
cgroups, per attach type, as bpftool shows them (its JSON keys)."""

from __future__ import annotations

import argparse
import json
import sys

from .common import command_group, json_option


def cmd_cgroup(args: argparse.Namespace) -> int:
    from ..tools import cgrouptree
    if args.what == "tree":
        tree = cgrouptree.cgroup_tree(args.root, effective=args.effective)
        if args.json:
            print(json.dumps(tree))
        else:
            sys.stdout.write(cgrouptree.format_tree(tree))
        return 0
    progs = cgrouptree.cgroup_programs(args.cgroup, effective=args.effective)
    if args.json:
        print(json.dumps(progs))
    else:
        sys.stdout.write(cgrouptree.format_show(progs))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """The cgroup group."""
    csub = command_group(sub, "cgroup", "programs attached to cgroups")
    ct = csub.add_parser("tree", help="every cgroup with programs attached, and its "
                                      "programs per attach type (as bpftool cgroup tree)")
    ct.add_argument("root", nargs="?", metavar="ROOT",
                    help="the cgroup to start from (default: the cgroup v2 mount)")
    cs = csub.add_parser("show", help="the programs of one cgroup (as bpftool cgroup show)")
    cs.add_argument("cgroup", metavar="CGROUP", help="a cgroup directory on the v2 mount")
    for p in (ct, cs):
        p.add_argument("--effective", action="store_true",
                       help="the programs that run for the cgroup, inherited ones included "
                            "(BPF_F_QUERY_EFFECTIVE)")
        json_option(p, "bpftool's JSON")
        p.set_defaults(fn=cmd_cgroup, need_caps=["CAP_SYS_ADMIN", "CAP_NET_ADMIN"])
