"""What a restricted-Python example does when run as a script: compile itself, run its
packet programs over a capture (default: examples/traffic.pcap beside it) on the VM or
in the kernel, or attach its tracing programs in the kernel for a while, then print
the verdicts and the maps."""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

from ..errors import PyBPFError

_PACKET_TYPES = {"xdp", "sched_cls", "socket_filter", "cgroup_skb", "sched_act"}


def main(file: str, argv: list[str] | None = None) -> int:
    here = Path(file).resolve()
    ap = argparse.ArgumentParser(prog=here.name, description=f"compile and run {here.name}")
    ap.add_argument("pcap", nargs="?", default=str(here.parent.parent / "traffic.pcap"))
    ap.add_argument("--backend", choices=("vm", "kernel"), default="vm")
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="how long tracing programs stay attached (kernel)")
    args = ap.parse_args(argv)
    from ..objects.runner import dump_maps
    from ..pcap import read_pcap
    from ..frontend.python.compiler import compile_file
    try:
        compiled = compile_file(here)
        with compiled.instantiate(args.backend) as obj:
            for name, prog in obj.programs.items():
                ptype = obj.spec.programs[name]
                kind = getattr(ptype, "type_name", "") or str(getattr(ptype, "type", ""))
                if any(k in kind.lower() for k in _PACKET_TYPES) or \
                        ptype.section.split("/")[0] in ("xdp", "tc", "socket", "cgroup_skb"):
                    verdicts: collections.Counter[object] = collections.Counter()
                    for pkt in read_pcap(args.pcap):
                        try:
                            verdicts[prog.test_run(pkt.data).retval] += 1
                        except PyBPFError as e:
                            verdicts[type(e).__name__] += 1
                    print(f"{name}: " + ", ".join(f"{v}: {n}" for v, n in
                                                  sorted(verdicts.items(), key=str)))
                elif args.backend == "kernel":
                    prog.attach()
                else:
                    print(f"{name}: a {ptype.section} program runs attached, in the kernel "
                          "(--backend kernel)")
            if args.backend == "kernel" and any(p.links for p in obj.programs.values()):
                time.sleep(args.seconds)
            print(json.dumps(dump_maps(obj), indent=1, default=str))
    except PyBPFError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
