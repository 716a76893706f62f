"""sockfilter_proto.c written again with pybpf's instruction builder (pybpf.builder):
a socket filter that counts packets and bytes per IP protocol and keeps a log2
histogram of packet sizes. Same maps, same verdicts as the C version on both backends
(tests/builder/test_builder_example.py checks it over examples/traffic.pcap).

    python examples/sockfilter_proto.py [--backend vm|kernel] [PCAP]

No compiler: the instructions are made in Python, the maps' key and value types
become BTF, and the result is an ObjectSpec like `pybpf.load("sockfilter_proto.o")`.
LD_ABS (the legacy packet loads) cannot be mixed with BPF-to-BPF calls in the kernel,
so log2_bucket is emitted inline by a Python function, as the C version inlines it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pybpf.builder import FP, R0, R1, R2, R6, FunctionBuilder, ObjectBuilder, Reg, Struct
from pybpf.objects.spec import ObjectSpec

LOG2_BUCKETS = 64
SKF_NET_OFF = -0x100000          # <linux/filter.h>: offsets from the network header
PACKET_OUTGOING = 4              # <linux/if_packet.h>
LOOPBACK_IFINDEX = 1
ETH_P_IP_BE, ETH_P_IPV6_BE = 0x0008, 0xDD86   # skb->protocol holds network order
# struct __sk_buff offsets
SKB_LEN, SKB_PKT_TYPE, SKB_PROTOCOL, SKB_IFINDEX = 0, 4, 16, 40


def log2_bucket(f: FunctionBuilder, v: Reg, out: Reg, scratch: Reg) -> None:
    """out = floor(log2(v)) (0 for 0 and 1): five halving steps, no loop. Clobbers v."""
    f.mov64(out, 0)
    for shift in (32, 16, 8, 4, 2):
        f.mov64(scratch, v).rsh64(scratch, shift)
        f.jeq(scratch, 0, f"log2_{shift}")
        f.mov64(v, scratch).add64(out, shift)
        f.label(f"log2_{shift}")
    f.rsh64(v, 1).add64(out, v)


def counter_add(f: FunctionBuilder, map_name: str, key_reg: Reg, value: "Reg | int",
                offset: int, skip: str, stack: int) -> None:
    """*(u64 *)(map[key] + offset) += value (atomically), if the slot exists."""
    f.stxw(FP, stack, key_reg)
    f.mov64(R2, FP).add64(R2, stack)
    f.ld_map_fd(R1, map_name).call("map_lookup_elem")
    f.jeq(R0, 0, skip)
    f.mov64(R1, value).atomic_add("dw", R0, offset, R1)


def build() -> ObjectSpec:
    ob = ObjectBuilder(license="GPL", name="sockfilter_proto.py")
    ob.map("size_hist", "array", key="__u32", value="__u64", max_entries=LOG2_BUCKETS)
    ob.map("proto_stats", "array", key="__u32",
           value=Struct("proto_stats", [("packets", "__u64"), ("bytes", "__u64")]),
           max_entries=256)
    p = ob.program("count_by_proto", "socket")
    p.mov64(R6, R1)                                   # r6 = skb (LD_ABS needs it there)
    # a packet socket sees each loopback packet twice: count the arrival only
    p.ldxw(R1, R6, SKB_PKT_TYPE).jne32(R1, PACKET_OUTGOING, "count")
    p.ldxw(R1, R6, SKB_IFINDEX).jne32(R1, LOOPBACK_IFINDEX, "count")
    p.ret(0)
    p.label("count")
    p.ldxw(R1, R6, SKB_LEN)
    log2_bucket(p, R1, R0, R2)
    p.mov64(R1, R0)
    counter_add(p, "size_hist", R1, 1, 0, "protocol", -8)
    p.label("protocol")
    p.ldxw(R1, R6, SKB_PROTOCOL)
    p.jeq32(R1, ETH_P_IP_BE, "ipv4").jeq32(R1, ETH_P_IPV6_BE, "ipv6").ja("keep")
    p.label("ipv4").ld_abs("b", SKF_NET_OFF + 9).ja("lookup")    # iphdr.protocol
    p.label("ipv6").ld_abs("b", SKF_NET_OFF + 6)                 # ipv6hdr.nexthdr
    p.label("lookup")
    counter_add(p, "proto_stats", R0, 1, 0, "keep", -4)
    p.ldxw(R1, R6, SKB_LEN).atomic_add("dw", R0, 8, R1)
    p.label("keep")
    p.ldxw(R0, R6, SKB_LEN).exit()                    # keep the whole packet
    return ob.build()


def main(argv: list[str] | None = None) -> int:
    from pybpf.errors import PyBPFError
    from pybpf.pcap import read_pcap
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pcap", nargs="?", default=str(Path(__file__).with_name("traffic.pcap")))
    ap.add_argument("--backend", choices=("vm", "kernel"), default="vm")
    args = ap.parse_args(argv)
    try:
        with build().instantiate(args.backend) as obj:
            prog = obj.programs["count_by_proto"]
            for pkt in read_pcap(args.pcap):
                try:
                    prog.test_run(pkt.data)
                except PyBPFError:
                    pass  # the kernel refuses frames too short for an skb
            for proto, st in sorted(obj.maps["proto_stats"].typed.items()):
                if st["packets"]:
                    print(f"proto {proto:3}: {st['packets']} packets, {st['bytes']} bytes")
            for bucket, n in sorted(obj.maps["size_hist"].typed.items()):
                if n:
                    print(f"size {1 << bucket:5}-{(2 << bucket) - 1:5}: {n}")
    except PyBPFError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
