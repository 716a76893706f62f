"""What a VM program run sees of its surroundings, set through the object API:
Program.set_task (the task of bpf_get_current_*) and Program.set_netns (the network
namespace of bpf_fib_lookup); the kernel backend declines both (it has the real ones)."""

from __future__ import annotations

import struct
from pathlib import Path

import pybpf
from pybpf.progtypes import Task
from pybpf.net.netdev import NetDevice
from pybpf.net.netns import Address, Neighbour, NetNamespace, Route

DATA = Path(__file__).resolve().parents[1] / "progtypes" / "data"
AF_INET = 2


def test_set_task_is_what_get_current_reports() -> None:
    with pybpf.load(DATA / "tracing" / "helpers.o").instantiate("vm") as obj:
        prog = obj.programs["task_info"]
        assert prog.set_task(Task(pid=4321, tgid=1234, uid=1000, gid=100, comm="worker"))
        prog.test_run(ctx_in=bytes(8), repeat=0, ctx_size_out=0)
        io = obj.maps[".bss"][0]
        pid_tgid, uid_gid = struct.unpack_from("<QQ", io, 16)
        assert pid_tgid == (1234 << 32) | 4321 and uid_gid == (100 << 32) | 1000
        assert io[400:416] == b"worker".ljust(16, b"\0")


def _namespace() -> NetNamespace:
    eth0 = NetDevice(2, "eth0", bytes.fromhex("020000000002"), bytes(6), 1500, 1, 14)
    ns = NetNamespace()
    ns.devices[2] = eth0
    ns.addresses.append(Address(2, AF_INET, bytes([10, 0, 0, 1]), 24))
    ns.routes.append(Route(AF_INET, bytes([10, 0, 0, 0]), 24, oif=2, scope=253))
    ns.neighbours.append(Neighbour(2, AF_INET, bytes([10, 0, 0, 7]),
                                   bytes.fromhex("02000000000a")))
    ns.forwarding4[2] = True
    return ns


def _fib_request(ifindex: int) -> bytes:
    # struct bpf_fib_lookup: family, l4_protocol, sport, dport, tot_len, ifindex,
    # tos @12, ipv4_src @16, ipv4_dst @32
    params = bytearray(80)
    struct.pack_into("<BBHHHI", params, 0, AF_INET, 17, 0, 0, 0, ifindex)
    params[16:20] = bytes([10, 0, 0, 1])
    params[32:36] = bytes([10, 0, 0, 7])
    return bytes(14) + struct.pack("<II", 0, 64) + bytes(params)


def test_set_netns_is_where_fib_lookup_looks() -> None:
    with pybpf.load(DATA / "net" / "fib.o").instantiate("vm") as obj:
        prog = obj.programs["xdp_fib"]
        # loopback only: no route to 10.0.0.7
        assert prog.test_run(_fib_request(1)).retval != 0
        assert prog.set_netns(_namespace())
        r = prog.test_run(_fib_request(2))
        assert r.retval == 0  # BPF_FIB_LKUP_RET_SUCCESS
        params = r.data_out[22:]
        assert params[52:58] == bytes.fromhex("020000000002")  # smac = eth0
        assert params[58:64] == bytes.fromhex("02000000000a")  # dmac = the neighbour


def test_kernel_backend_declines_a_model_world() -> None:
    spec = pybpf.load(DATA / "net" / "fib.o")
    prog = spec.instantiate("vm").programs["xdp_fib"]
    prog.backend = "kernel"  # only the backend check matters here
    assert prog.set_netns(NetNamespace()) is False and prog.set_task(Task()) is False
