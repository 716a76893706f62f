"""`pybpf net list` and `pybpf link`: networking programs per interface and BPF links,
as bpftool shows them."""

from __future__ import annotations

import argparse
import json
import sys

from .common import command_group, json_option, u32_at_least_1


def cmd_net_list(args: argparse.Namespace) -> int:
    from ..tools.netlist import format_net_list, net_list
    view = net_list(args.dev)
    if args.json:
        print(json.dumps([view]))
    else:
        sys.stdout.write(format_net_list(view))
    return 0


def _link_id(value: str) -> int:
    return u32_at_least_1(value, "not a link id", "a link id is 1..4294967295")


def cmd_link(args: argparse.Namespace) -> int:
    from ..tools.netlist import format_link, link_detach, link_list, link_record
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


def register(sub: argparse._SubParsersAction) -> None:
    """The net and link groups."""
    nsub = command_group(sub, "net", "networking programs attached in this network namespace")
    nl = nsub.add_parser("list", aliases=["show"], help="XDP, tc (tcx and clsact) and flow "
                                                        "dissector programs per interface "
                                                        "(as bpftool net list)")
    nl.add_argument("dev", nargs="?", metavar="DEV", help="only this interface")
    json_option(nl, "bpftool's JSON")
    nl.set_defaults(fn=cmd_net_list, need_caps=["CAP_NET_ADMIN", "CAP_BPF"])

    lsub = command_group(sub, "link", "BPF links in the kernel")
    ll = lsub.add_parser("list", help="every link (as bpftool link list)")
    json_option(ll, "bpftool's JSON")
    ll.set_defaults(fn=cmd_link, need_caps=["CAP_SYS_ADMIN"])
    for name, help_text in (("show", "one link by id"),
                            ("detach", "detach a link by id (BPF_LINK_DETACH; also a "
                                       "pinned one)")):
        lp = lsub.add_parser(name, help=help_text)
        lp.add_argument("id", type=_link_id, help="the link id (from link list)")
        json_option(lp, "bpftool's JSON")
        lp.set_defaults(fn=cmd_link, need_caps=["CAP_SYS_ADMIN", "CAP_NET_ADMIN"])
