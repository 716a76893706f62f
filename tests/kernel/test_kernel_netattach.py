"""XDP, tc and cgroup attachments end to end, in network namespaces, veth pairs and
cgroups the tests make (addresses only inside them): the example programs attached,
traffic sent from the peer namespace, their counters read from their maps and
compared with what was sent. Every test checks it leaves nothing behind: no
namespace, veth, qdisc, pin, link or attachment."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import pybpf
from pybpf.asm import assemble
from pybpf.kernel import (
    KernelError,
    KernelNoDeviceError,
    Link,
    NotSupportedError,
    ProgType,
    attach_cgroup,
    link_ids,
    netlink,
    obj_pin,
    prog_load,
)
from pybpf.kernel.abi import AttachType
from pybpf.objects.instance import AttachNotSupportedError

from .netenv import ADDR_A, ADDR_B, VethPair, make_cgroup, need_netns, nothing_left_check, \
    our_links, remove_cgroup

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FW_PASS, FW_DROP_BLOCKLIST, FW_DROP_RATELIMIT, FW_MALFORMED, FW_PASS_IPV6, FW_PASS_OTHER = \
    range(6)
OUR_PROGS = {"xdp_firewall", "classify", "count_ingress", "count_egress", "xdp_pass", "cg_deny",
             "xdp_drop", "tc_ok"}

pytestmark = pytest.mark.kernel


def _our_links() -> set[int]:
    return our_links(OUR_PROGS)


@pytest.fixture
def nothing_left():
    """Fails the test if it leaves a namespace, cgroup, link or attachment fd of ours
    behind (netenv.nothing_left_check)."""
    need_netns()
    with nothing_left_check(OUR_PROGS):
        yield


@pytest.fixture
def veth(nothing_left):  # type: ignore[no-untyped-def]
    pair = VethPair("t")
    try:
        yield pair
    finally:
        pair.close()


def _xdp_state(v: VethPair, dev: str = "pa") -> netlink.XdpState:
    return v.in_a(lambda: netlink.interface(socket.if_nametoindex(dev)).xdp)


def _fw_stats(obj: pybpf.objects.instance.Object) -> list[int]:  # type: ignore[name-defined]
    """fw_stats summed over CPUs."""
    m = obj.maps["fw_stats"]
    return [sum(int.from_bytes(v, "little") for v in m[k.to_bytes(4, "little")])
            for k in range(6)]


def _firewall(v: VethPair, **globals_: int):  # type: ignore[no-untyped-def]
    spec = pybpf.load(EXAMPLES / "xdp_firewall.o")
    for name, value in globals_.items():
        spec.set_global(name, value)
    return v.in_a(lambda: spec.instantiate("kernel"))


# --- XDP ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["skb", "drv"])
def test_xdp_firewall_counts_what_was_sent(veth: VethPair, mode: str) -> None:
    """The firewall on veth `pa` (generic or native mode): 40 datagrams from B pass and
    are counted PASS; a blocklisted source's 25 are dropped (DROP_BLOCKLIST) and never
    reach the socket; with a limit of 10 per second 30 more give 10 PASS and 20
    DROP_RATELIMIT. Detached, nothing is counted."""
    with _firewall(veth, rate_limit_pps=1000) as obj:
        prog = obj.programs["xdp_firewall"]
        link = veth.in_a(lambda: prog.attach("pa", mode=mode))
        assert isinstance(link, Link) and link.is_bpf_link
        assert link.mode == mode  # as the interface reports it
        state = _xdp_state(veth)
        assert state.mode == mode and state.prog_id == prog.handle.id
        info = link.info()
        assert (info.kind, info.target, info.prog_id) == ("xdp", "pa", prog.handle.id)
        assert info.id in set(link_ids())

        assert veth.udp_b_to_a(40) == 40
        assert _fw_stats(obj) == [40, 0, 0, 0, 0, 0]

        src = socket.inet_aton("10.211.0.2")
        obj.maps["blocklist"][(32).to_bytes(4, "little") + src] = (7).to_bytes(4, "little")
        assert veth.udp_b_to_a(25) == 0
        assert _fw_stats(obj) == [40, 25, 0, 0, 0, 0]

        link.close()
        assert _xdp_state(veth).mode == "none"
        del obj.maps["blocklist"][(32).to_bytes(4, "little") + src]
        assert veth.udp_b_to_a(5) == 5
        assert _fw_stats(obj) == [40, 25, 0, 0, 0, 0]

    with _firewall(veth, rate_limit_pps=10) as obj:
        with veth.in_a(lambda: obj.programs["xdp_firewall"].attach_xdp("pa", mode)):
            assert veth.udp_b_to_a(30) == 10
            assert _fw_stats(obj) == [10, 0, 20, 0, 0, 0]
        assert _xdp_state(veth).mode == "none"


def test_xdp_hw_mode_is_not_supported_on_veth(veth: VethPair) -> None:
    with _firewall(veth) as obj:
        with pytest.raises(NotSupportedError, match="offload.*pa|pa.*offload"):
            veth.in_a(lambda: obj.programs["xdp_firewall"].attach_xdp("pa", "hw"))
    assert _xdp_state(veth).mode == "none"


def _xdp_ret(verdict: int, name: str) -> object:
    return prog_load(ProgType.XDP, assemble(f"r0 = {verdict}\nexit", syntax="kernel"),
                     name=name, expected_attach_type=AttachType.XDP)


def test_xdp_link_update_detach_and_busy(veth: VethPair) -> None:
    """update() swaps the program atomically (traffic stops at once); a second attach
    is refused naming the interface; detach() detaches while the fd stays."""
    with _xdp_ret(2, "xdp_pass") as ok, _xdp_ret(1, "xdp_drop") as drop:
        link = veth.in_a(lambda: pybpf.kernel.attach_xdp(ok, "pa"))
        assert veth.udp_b_to_a(3) == 3
        link.update(drop)
        assert link.info().prog_id == drop.id and _xdp_state(veth).prog_id == drop.id
        assert veth.udp_b_to_a(3) == 0
        with pytest.raises(KernelError, match="pa"):
            link.update(ok, old_prog=ok)  # not the program attached now
        with pytest.raises(KernelError, match="pa") as ei:
            veth.in_a(lambda: pybpf.kernel.attach_xdp(ok, "pa"))
        assert ei.value.errno in (errno.EBUSY, errno.EEXIST)
        link.detach()
        assert not link.closed and _xdp_state(veth).mode == "none"
        assert link.info().target.endswith("(detached)")
        assert veth.udp_b_to_a(3) == 3
        link.close()


def test_xdp_through_netlink(veth: VethPair) -> None:
    """use_link=False attaches with IFLA_XDP; update() replaces atomically; close()
    detaches (the kernel keeps a netlink attachment otherwise); it is no BPF link."""
    with _firewall(veth, rate_limit_pps=1000) as obj, _xdp_ret(1, "xdp_drop") as drop:
        prog = obj.programs["xdp_firewall"]
        att = veth.in_a(lambda: prog.attach_xdp("pa", "skb", use_link=False))
        assert not att.is_bpf_link and att.mode == "skb"
        assert att.info().prog_id == prog.handle.id and att.info().kind == "xdp"
        assert _xdp_state(veth).skb_prog_id == prog.handle.id
        assert veth.udp_b_to_a(12) == 12
        assert _fw_stats(obj)[FW_PASS] == 12
        att.update(drop)
        assert _xdp_state(veth).prog_id == drop.id
        assert veth.udp_b_to_a(4) == 0
        with pytest.raises(NotSupportedError, match="not a BPF link"):
            att.pin("/sys/fs/bpf/never")
        att.close()  # from this thread: the attachment remembers its namespace
        assert _xdp_state(veth).mode == "none"
        # native mode through netlink too
        with veth.in_a(lambda: prog.attach_xdp("pa", "drv", use_link=False)) as att2:
            assert att2.mode == "drv" and _xdp_state(veth).drv_prog_id == prog.handle.id
        assert _xdp_state(veth).mode == "none"


def test_xdp_link_pinned_outlives_its_fd(veth: VethPair, bpffs: str) -> None:
    """A pinned link stays attached when its fd is closed; Link.from_pin opens it, and
    unpinning and closing detaches it; a pinned program is not a link."""
    root = Path(bpffs)
    path = root / "fw_link"
    with _firewall(veth) as obj:
        prog = obj.programs["xdp_firewall"]
        link = veth.in_a(lambda: prog.attach("pa"))
        link_id = link.id
        link.pin(path)
        link.close()
        assert _xdp_state(veth).prog_id == prog.handle.id
        again = Link.from_pin(path)
        assert again.id == link_id and again.kind == "xdp"
        obj_pin(prog.handle, root / "prog")
        with pytest.raises(KernelError, match="pinned prog, not a link"):
            Link.from_pin(root / "prog")
        os.unlink(root / "prog")
        again.unpin()
        assert not path.exists()
        again.close()
        assert _xdp_state(veth).mode == "none"


def test_xdp_errors_name_what_is_missing(veth: VethPair) -> None:
    with _firewall(veth) as obj:
        prog = obj.programs["xdp_firewall"]
        with pytest.raises(KernelNoDeviceError, match="no network interface 'nosuch0'"):
            veth.in_a(lambda: prog.attach_xdp("nosuch0"))
        with pytest.raises(KernelNoDeviceError, match="index 9999"):
            veth.in_a(lambda: prog.attach_xdp(9999))
        with pytest.raises(ValueError, match="skb, drv, hw"):
            prog.attach_xdp("pa", "native")
        with pytest.raises(AttachNotSupportedError, match="network interface"):
            prog.attach()


# --- tc ---------------------------------------------------------------------------------------

def _class_stats(obj: object) -> list[tuple[int, int]]:
    m = obj.maps["class_stats"]  # type: ignore[attr-defined]
    out = []
    for k in range(7):
        raw = m[k.to_bytes(4, "little")]
        out.append((int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")))
    return out


@pytest.mark.parametrize("use_link", [True, False], ids=["tcx", "clsact"])
def test_tc_classifier(veth: VethPair, use_link: bool) -> None:
    """The tc classifier on `pa` ingress (tcx link, or the netlink clsact + cls_bpf
    path): 10 plain datagrams of 64 bytes are best effort (10 x 106 bytes with the
    Ethernet header), 6 with DSCP EF are realtime; on `pb` egress the same traffic
    is seen leaving. Afterwards no filter and no qdisc of ours is left."""
    spec = pybpf.load(EXAMPLES / "tc_classifier.o")
    with veth.in_a(lambda: spec.instantiate("kernel")) as obj_a, \
            veth.in_b(lambda: spec.instantiate("kernel")) as obj_b:
        ing = veth.in_a(lambda: obj_a.programs["classify"].attach("pa", use_link=use_link))
        egr = veth.in_b(lambda: obj_b.programs["classify"].attach_tc("pb", "egress",
                                                                      use_link=use_link))
        assert ing.kind == ("tcx" if use_link else "tc") and ing.is_bpf_link == use_link
        assert ing.info().target.startswith("pa ingress")
        if use_link:
            assert ing.info().attach_type is AttachType.TCX_INGRESS
        else:
            flt = veth.in_a(lambda: netlink.bpf_filters(ing.ifindex, "ingress"))
            assert [(f.kind, f.prog_id, f.direct_action) for f in flt] == \
                [("bpf", obj_a.programs["classify"].handle.id, True)]
        assert veth.udp_b_to_a(10, payload=64) == 10
        assert veth.udp_b_to_a(6, payload=64, tos=46 << 2) == 6
        for stats in (_class_stats(obj_a), _class_stats(obj_b)):
            assert stats[5] == (10, 10 * 106) and stats[1] == (6, 6 * 106)
            assert stats[6] == (0, 0) and stats[0] == (0, 0)
        ing.close()
        egr.close()
        assert veth.udp_b_to_a(3) == 3
        assert _class_stats(obj_a)[5] == (10, 1060)
    for ns_call, dev in ((veth.in_a, "pa"), (veth.in_b, "pb")):
        idx = ns_call(lambda dev=dev: socket.if_nametoindex(dev))
        assert "clsact" not in [k for k, _, _ in ns_call(lambda idx=idx: netlink.qdiscs(idx))]


def test_tc_update_and_errors(veth: VethPair) -> None:
    spec = pybpf.load(EXAMPLES / "tc_classifier.o")
    drop = prog_load(ProgType.SCHED_CLS, assemble("r0 = 2\nexit", syntax="kernel"),
                     name="tc_ok")  # TC_ACT_SHOT
    with veth.in_a(lambda: spec.instantiate("kernel")) as obj, drop:
        prog = obj.programs["classify"]
        for use_link in (True, False):
            with veth.in_a(lambda use_link=use_link: prog.attach_tc("pa", use_link=use_link)) as h:
                h.update(drop)
                assert veth.udp_b_to_a(3) == 0
                assert h.info().prog_id == drop.id
        with pytest.raises(ValueError, match="ingress, egress"):
            prog.attach_tc("pa", "sideways")
        with pytest.raises(KernelNoDeviceError, match="nosuch0"):
            veth.in_a(lambda: prog.attach_tc("nosuch0"))
        with pytest.raises(AttachNotSupportedError, match="network interface"):
            prog.attach()


# --- cgroups ---------------------------------------------------------------------------------

# The child makes its sockets only once it is in the cgroup: a socket belongs to the
# cgroup of the process that created it.
CHILD = """
import socket, sys
sys.stdin.readline()
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("{addr_b}", 7002))
rx.settimeout(10)
print("ready", flush=True)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for i in range({n}):
        s.sendto(b"c" * {size}, ("{addr_a}", 7001))
for i in range({m}):
    rx.recv(4096)
"""


def _cg_stats(obj: object) -> list[tuple[int, int]]:
    m = obj.maps["cg_stats"]  # type: ignore[attr-defined]
    out = []
    for k in range(2):
        raw = m[k.to_bytes(4, "little")]
        out.append((int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")))
    return out


def test_cgroup_skb_counts_one_process(veth: VethPair) -> None:
    """The cgroup_skb example attached (from its sections) to a cgroup the test makes
    counts the traffic of the one process moved into it (living in namespace B): its
    17 datagrams of 100 bytes out, the 5 of 50 bytes it receives; this process's own
    traffic is not counted."""
    cg = make_cgroup()
    try:
        with pybpf.load(EXAMPLES / "cgroup_skb_count.o").instantiate("kernel") as obj:
            links = [p.attach(cg) for p in obj.programs.values()]
            assert sorted(link.target for link in links) == [f"{cg} egress", f"{cg} ingress"]
            for link in links:
                info = link.info()
                assert info.kind == "cgroup" and info.cgroup_id == os.stat(cg).st_ino
            assert {link.info().attach_type for link in links} == {
                AttachType.CGROUP_INET_INGRESS, AttachType.CGROUP_INET_EGRESS}
            child = subprocess.Popen(
                ["ip", "netns", "exec", veth.ns_b, sys.executable, "-c",
                 CHILD.format(n=17, size=100, m=5, addr_a=ADDR_A, addr_b=ADDR_B)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                    f.write(str(child.pid))
                assert child.stdin is not None and child.stdout is not None
                child.stdin.write("go\n")
                child.stdin.flush()
                assert child.stdout.readline().strip() == "ready"

                def send() -> None:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                        for _ in range(5):
                            s.sendto(b"r" * 50, (ADDR_B, 7002))
                veth.in_a(send)
                child.communicate(timeout=30)
                assert child.returncode == 0
            finally:
                child.kill()
                child.wait()
            veth.udp_b_to_a(9, receive=True)  # this process, not in the cgroup
            assert _cg_stats(obj) == [(5, 5 * (20 + 8 + 50)), (17, 17 * (20 + 8 + 100))]
            for link in links:
                link.close()
    finally:
        remove_cgroup(cg)


def test_cgroup_attach_errors(nothing_left: None) -> None:
    """A missing cgroup is named; a non-cgroup attach type and a program without a
    cgroup path are refused saying what to give; update() swaps the program."""
    cg = make_cgroup()
    try:
        with pybpf.load(EXAMPLES / "cgroup_skb_count.o").instantiate("kernel") as obj:
            prog = obj.programs["count_egress"]
            with pytest.raises(KernelError, match="no cgroup /nonexistent/cg"):
                prog.attach("/nonexistent/cg")
            with pytest.raises(KernelError, match="not a cgroup v2 directory|/tmp"):
                attach_cgroup(prog.handle, "/tmp", AttachType.CGROUP_INET_EGRESS)
            with pytest.raises(ValueError, match="not a cgroup attach type"):
                attach_cgroup(prog.handle, cg, AttachType.XDP)
            with pytest.raises(AttachNotSupportedError, match="cgroup v2 directory"):
                prog.attach()
            with pytest.raises(AttachNotSupportedError, match="unknown attach type"):
                prog.attach_cgroup(cg, "cgroup_sideways")
            with prog.attach_cgroup(cg, "cgroup_inet_egress") as link:
                assert link.target == f"{cg} egress"
                link.update(obj.programs["count_ingress"].handle)
                assert link.info().prog_id == obj.programs["count_ingress"].handle.id
    finally:
        remove_cgroup(cg)


# --- every attach returns a Link --------------------------------------------------------------

def test_existing_attaches_return_links(bpffs: str) -> None:
    """Tracepoint, raw tracepoint and socket filter attachments are Links with info
    (kind, target); the perf-event and raw_tp ones are BPF links that pin."""
    root = Path(bpffs)
    spec = pybpf.load(EXAMPLES / "tp_syscalls.o")
    with spec.instantiate("kernel") as obj:
        with obj.programs["count_sys_enter"].attach() as tp:
            assert isinstance(tp, Link) and tp.is_bpf_link
            info = tp.info()
            assert info.kind == "perf_event" and info.target == "raw_syscalls:sys_enter"
            assert info.prog_id == obj.programs["count_sys_enter"].handle.id
            tp.pin(root / "tp")
            assert Link.from_pin(root / "tp").info().id == info.id
            tp.unpin()
            with pytest.raises(NotSupportedError, match="cannot change"):
                tp.update(obj.programs["count_sys_exit"].handle)
    with pybpf.load(EXAMPLES / "sockfilter_proto.o").instantiate("kernel") as obj, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with obj.programs["count_by_proto"].attach_socket(s) as sf:
            assert isinstance(sf, Link) and not sf.is_bpf_link
            assert sf.info().kind == "socket_filter"
            assert sf.info().prog_id == obj.programs["count_by_proto"].handle.id
            with pytest.raises(NotSupportedError, match="not a BPF link"):
                sf.pin(root / "sf")


# --- every cgroup hook --------------------------------------------------------------------------

# (prog type, attach type, what a process in the cgroup does, what it must see with a
# program returning 0 attached: "EPERM" where the hook can refuse)
DENY_CASES = {
    "sock_create": (ProgType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE,
                    "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()"),
    "bind4": (ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_BIND,
              "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(('127.0.0.1', 0))"),
    "connect4": (ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_CONNECT,
                 "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('127.0.0.1', 9))"),
    "bind6": (ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET6_BIND,
              "socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(('::', 0))"),
    "sendmsg4": (ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_UDP4_SENDMSG,
                 "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', "
                 "('127.0.0.1', 9))"),
    "getsockopt": (ProgType.CGROUP_SOCKOPT, AttachType.CGROUP_GETSOCKOPT,
                   "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).getsockopt("
                   "socket.SOL_SOCKET, socket.SO_RCVBUF)"),
    "setsockopt": (ProgType.CGROUP_SOCKOPT, AttachType.CGROUP_SETSOCKOPT,
                   "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).setsockopt("
                   "socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)"),
    "sysctl": (ProgType.CGROUP_SYSCTL, AttachType.CGROUP_SYSCTL,
               "open('/proc/sys/net/ipv4/ip_forward').read()"),
    "device": (ProgType.CGROUP_DEVICE, AttachType.CGROUP_DEVICE, "open('/dev/null').close()"),
}

DENY_CHILD = """
import socket, sys
print("ready", flush=True)
sys.stdin.readline()
try:
    {action}
    print("ok")
except PermissionError:
    print("EPERM")
"""


def _in_cgroup(cg: str, ns: str, action: str) -> str:
    """Run `action` in a new process moved into cgroup `cg` first, in namespace `ns`;
    "ok" or "EPERM". The process is moved once Python runs in it: moved earlier, `ip
    netns exec` itself is in the cgroup, and a setsockopt hook refuses its own
    SO_SNDBUF."""
    child = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c",
                              DENY_CHILD.format(action=action)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(child.pid))
        out, _ = child.communicate("go\n", timeout=30)
        return out.strip()
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("case", sorted(DENY_CASES))
def test_cgroup_hooks_refuse_through_links(veth: VethPair, case: str) -> None:
    """Each cgroup hook through a cgroup link on a cgroup the test makes: a program
    returning 0 makes the kernel refuse the operation (EPERM) for a process in the
    cgroup; detached, the operation works again."""
    prog_type, attach_type, action = DENY_CASES[case]
    cg = make_cgroup()
    try:
        with prog_load(prog_type, assemble("r0 = 0\nexit", syntax="kernel"),
                       name="cg_deny", expected_attach_type=attach_type) as prog:
            assert _in_cgroup(cg, veth.ns_b, action) == "ok"
            with attach_cgroup(prog, cg, attach_type) as link:
                info = link.info()
                assert info.kind == "cgroup" and info.attach_type is attach_type
                assert info.cgroup_id == os.stat(cg).st_ino
                assert _in_cgroup(cg, veth.ns_b, action) == "EPERM"
            assert _in_cgroup(cg, veth.ns_b, action) == "ok"
    finally:
        remove_cgroup(cg)


def test_cgroup_sock_ops_and_recvmsg_run(veth: VethPair) -> None:
    """sock_ops (which cannot refuse) counts the TCP callbacks of a connection made
    in the cgroup; recvmsg4 (must return 1) attaches and lets datagrams through."""
    counter = pybpf.kernel.Map.create(pybpf.kernel.MapType.ARRAY, 4, 8, 1)
    src = f"""
        r1 = map_fd({counter.fd})
        r2 = r10
        r2 += -4
        r3 = 0
        *(u32 *)(r10 - 4) = r3
        call 1
        if r0 == 0 goto out
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
    out:
        r0 = 1
        exit
    """
    cg = make_cgroup()
    try:
        with counter, prog_load(ProgType.SOCK_OPS, assemble(src, syntax="kernel"),
                                name="cg_deny") as ops, \
                prog_load(ProgType.CGROUP_SOCK_ADDR, assemble("r0 = 1\nexit", syntax="kernel"),
                          name="cg_deny",
                          expected_attach_type=AttachType.CGROUP_UDP4_RECVMSG) as recv:
            with attach_cgroup(ops, cg, AttachType.CGROUP_SOCK_OPS) as l1, \
                    attach_cgroup(recv, cg, AttachType.CGROUP_UDP4_RECVMSG) as l2:
                assert l1.info().attach_type is AttachType.CGROUP_SOCK_OPS
                assert l2.info().attach_type is AttachType.CGROUP_UDP4_RECVMSG
                action = ("l = socket.create_server(('127.0.0.1', 0)); "
                          "c = socket.create_connection(l.getsockname()); a = l.accept()[0]; "
                          "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                          "u.bind(('127.0.0.1', 0)); u.sendto(b'x', u.getsockname()); "
                          "assert u.recv(10) == b'x'")
                assert _in_cgroup(cg, veth.ns_b, action) == "ok"
            assert int.from_bytes(counter[(0).to_bytes(4, "little")], "little") > 0
    finally:
        remove_cgroup(cg)


# --- privileges ---------------------------------------------------------------------------------

NO_CAPS_CHILD = """
import sys
import pybpf.kernel as k
kind, fd = sys.argv[1], int(sys.argv[2])
try:
    if kind == "xdp":
        k.attach_xdp(fd, "pa", use_link=False)
    else:
        k.attach_tc(fd, "pa", use_link=False)
    print("attached")
except k.KernelPermissionError as e:
    print("EPERM", e)
"""


def test_missing_privilege_names_capability_and_sysctl(veth: VethPair) -> None:
    """A process without capabilities (root with an empty bounding set, in namespace A)
    given a loaded program's fd is refused the netlink attaches (RTM_SETLINK and tc
    need CAP_NET_ADMIN), and the error names the capability and the sysctl. (BPF links
    are not refused: the kernel checks privilege when the program is loaded, so
    holding the fd of a loaded XDP or tc program is enough to link it.)"""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    with _xdp_ret(2, "xdp_pass") as xdp, prog_load(
            ProgType.SCHED_CLS, assemble("r0 = 0\nexit", syntax="kernel"), name="tc_ok") as tc:
        for kind, prog in (("xdp", xdp), ("tc", tc)):
            out = subprocess.run(
                ["ip", "netns", "exec", veth.ns_a, "setpriv", "--inh-caps=-all",
                 "--bounding-set=-all", sys.executable, "-c", NO_CAPS_CHILD, kind,
                 str(prog.fd)],
                pass_fds=(prog.fd,), capture_output=True, text=True, timeout=60)
            line = out.stdout.strip()
            assert line.startswith("EPERM"), (line, out.stderr[-500:])
            assert "needs CAP_NET_ADMIN" in line and "kernel.unprivileged_bpf_disabled=" in line
            assert " pa" in line and "holds none of them" in line
    assert _xdp_state(veth).mode == "none"
    assert veth.in_a(lambda: netlink.qdiscs(socket.if_nametoindex("pa"))) == [
        ("noqueue", 0, 0xFFFFFFFF)]


# --- attach() reads the section ---------------------------------------------------------------

@pytest.mark.parametrize("section,direction", [("tc", "ingress"), ("tcx/egress", "egress"),
                                               ("tc/ingress", "ingress"),
                                               ("classifier", "ingress")])
def test_attach_reads_tc_direction_from_the_section(veth: VethPair, section: str,
                                                    direction: str) -> None:
    spec = pybpf.load(EXAMPLES / "tc_classifier.o")
    spec.programs["classify"].section = section
    with veth.in_a(lambda: spec.instantiate("kernel")) as obj:
        with veth.in_a(lambda: obj.programs["classify"].attach("pa")) as link:
            assert link.direction == direction and link.kind == "tcx"
            assert link.info().target == f"pa {direction}"


def test_attach_names_what_a_section_needs() -> None:
    spec = pybpf.load(EXAMPLES / "cgroup_skb_count.o")
    spec.programs["count_egress"].section = "cgroup/skb"  # no direction in the name
    with spec.instantiate("kernel") as obj:
        with pytest.raises(AttachNotSupportedError, match="does not say which cgroup hook"):
            obj.programs["count_egress"].attach("/sys/fs/cgroup")
    with pybpf.load(EXAMPLES / "tp_syscalls.o").instantiate("kernel") as obj:
        with pytest.raises(AttachNotSupportedError, match="takes no target"):
            obj.programs["count_sys_enter"].attach("eth0")


def test_tcx_and_cgroup_links_pin(veth: VethPair, bpffs: str) -> None:
    """tcx and cgroup links outlive their fd while pinned, and go with the pin."""
    root = Path(bpffs)
    cg = make_cgroup()
    try:
        with pybpf.load(EXAMPLES / "tc_classifier.o").instantiate("kernel") as tco, \
                pybpf.load(EXAMPLES / "cgroup_skb_count.o").instantiate("kernel") as cgo:
            tcx = veth.in_a(lambda: pybpf.kernel.attach_tc(tco.programs["classify"].handle,
                                                           "pa"))
            cgl = cgo.programs["count_egress"].attach(cg)
            ids = []
            for name, link in (("tcx", tcx), ("cg", cgl)):
                ids.append(link.id)
                link.pin(root / name)
                link.close()
            assert set(ids) <= set(link_ids())  # still attached, held by the pins
            for name, lid in (("tcx", ids[0]), ("cg", ids[1])):
                pinned = Link.from_pin(root / name)
                assert pinned.id == lid and pinned.kind == ("tcx" if name == "tcx" else "cgroup")
                pinned.unpin()
                pinned.close()
            assert not set(ids) & set(link_ids())
    finally:
        remove_cgroup(cg)
