"""The VM's network namespace model on its own (no kernel needed): bpf_fib_lookup over a
namespace built by hand, run through the XDP test program of data/net on the VM."""

from __future__ import annotations

import ipaddress
import os
import struct

from pybpf.elf import load
from pybpf.progtypes import test_run
from pybpf.net.netdev import LOOPBACK, NetDevice
from pybpf.net.netns import (AF_INET, RTN_UNREACHABLE, Neighbour, NetNamespace,
                                   Route)
from pybpf.net.route import (BPF_FIB_LKUP_RET_FRAG_NEEDED,
                                   BPF_FIB_LKUP_RET_FWD_DISABLED, BPF_FIB_LKUP_RET_NO_NEIGH,
                                   BPF_FIB_LKUP_RET_NOT_FWDED, BPF_FIB_LKUP_RET_SUCCESS,
                                   BPF_FIB_LKUP_RET_UNREACHABLE)
from pybpf.uapi import ProgType

DATA = os.path.join(os.path.dirname(__file__), "data", "net")
ETH0 = NetDevice(2, "eth0", bytes.fromhex("020000000001"), mtu=1500)


def ip(a: str) -> bytes:
    return ipaddress.ip_address(a).packed


def namespace() -> NetNamespace:
    return NetNamespace(
        devices={1: LOOPBACK, 2: ETH0},
        routes=[Route(AF_INET, ip("10.0.0.0"), 8, gateway=ip("192.0.2.1"), gw_family=AF_INET,
                      oif=2, metric=3),
                Route(AF_INET, ip("10.9.0.0"), 16, type=RTN_UNREACHABLE)],
        neighbours=[Neighbour(2, AF_INET, ip("192.0.2.1"), bytes.fromhex("02aabbccddee"))],
        forwarding4={1: True, 2: False})


def lookup(ns: NetNamespace, dst: str, ifindex: int, tot_len: int = 0) -> tuple[int, bytes]:
    obj = load(os.path.join(DATA, "fib.o")).instantiate("vm")
    params = struct.pack("<BBHHHII", AF_INET, 0, 0, 0, tot_len, ifindex, 0) + bytes(16) + \
        ip(dst).ljust(16, b"\0") + bytes(16) + bytes(16)
    data = bytes(12) + b"\x88\xb5" + struct.pack("<II", 0, 64) + params
    r = test_run(obj.programs["xdp_fib"].handle, ProgType.XDP, data_in=data, netns=ns)
    obj.close()
    return r.retval, r.data_out[22:86]


def test_fib_model_codes() -> None:
    ns = namespace()
    rc, out = lookup(ns, "10.1.2.3", 1)
    assert rc == BPF_FIB_LKUP_RET_SUCCESS
    assert struct.unpack_from("<I", out, 8)[0] == 2 and out[32:36] == ip("192.0.2.1")
    assert out[52:58] == ETH0.address and out[58:64] == bytes.fromhex("02aabbccddee")
    assert lookup(ns, "10.1.2.3", 1, tot_len=1501)[0] == BPF_FIB_LKUP_RET_FRAG_NEEDED
    assert lookup(ns, "10.9.0.1", 1)[0] == BPF_FIB_LKUP_RET_UNREACHABLE
    assert lookup(ns, "11.0.0.1", 1)[0] == BPF_FIB_LKUP_RET_NOT_FWDED
    assert lookup(ns, "10.1.2.3", 2)[0] == BPF_FIB_LKUP_RET_FWD_DISABLED
    assert lookup(ns, "10.1.2.3", 7)[0] == (-19) & 0xFFFF_FFFF   # -ENODEV
    ns.neighbours.clear()
    assert lookup(ns, "10.1.2.3", 1)[0] == BPF_FIB_LKUP_RET_NO_NEIGH
