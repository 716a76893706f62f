"""Throw-away surroundings for the attach tests: two network namespaces joined by a
veth pair, and a child cgroup, made by the tests and removed after them.

Topology (addresses only inside the namespaces): namespace A holds veth `pa` (or the
name given)
10.211.0.1/24, namespace B holds `pb` 10.211.0.2/24; IPv6 off and static neighbours,
so the only frames on the wire are the ones a test sends.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any, Callable, Iterable, Iterator

import pytest

from tests.conftest import kernel_available
from tests.progtypes.progtypes_netns import NetnsThread

ADDR_A, ADDR_B = "10.211.0.1", "10.211.0.2"
MAC_A, MAC_B = "02:00:0a:d3:00:01", "02:00:0a:d3:00:02"
PREFIX = "pybpf-att"


def _run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


class VethPair:
    """Namespaces A and B, a veth pair between them, and a thread in each."""

    def __init__(self, tag: str, dev_a: str = "pa") -> None:
        self.dev_a = dev_a
        self.ns_a = f"{PREFIX}-{os.getpid()}-{tag}-a"
        self.ns_b = f"{PREFIX}-{os.getpid()}-{tag}-b"
        self.threads: list[NetnsThread] = []
        _run("ip", "netns", "add", self.ns_a)
        try:
            _run("ip", "netns", "add", self.ns_b)
            for ns in (self.ns_a, self.ns_b):
                _run("ip", "netns", "exec", ns, "sysctl", "-qw",
                     "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
                _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", self.ns_a, "link", "add", dev_a, "address", MAC_A, "type", "veth",
                 "peer", "name", "pb", "address", MAC_B, "netns", self.ns_b)
            for ns, dev, addr, peer, mac in ((self.ns_a, dev_a, ADDR_A, ADDR_B, MAC_B),
                                             (self.ns_b, "pb", ADDR_B, ADDR_A, MAC_A)):
                _run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                _run("ip", "-n", ns, "link", "set", dev, "up")
                _run("ip", "-n", ns, "neigh", "add", peer, "lladdr", mac, "dev", dev,
                     "nud", "permanent")
            self.a = NetnsThread(self.ns_a)
            self.threads.append(self.a)
            self.b = NetnsThread(self.ns_b)
            self.threads.append(self.b)
        except BaseException:
            self.close()
            raise

    def in_a(self, fn: Callable[[], Any]) -> Any:
        return self.a.call(fn)

    def in_b(self, fn: Callable[[], Any]) -> Any:
        return self.b.call(fn)

    def udp_b_to_a(self, count: int, payload: int = 64, port: int = 7000, tos: int = 0,
                   receive: bool = True) -> int:
        """Send `count` UDP datagrams of `payload` bytes from B to A:`port`; returns how
        many a socket bound in A received (waiting up to a second for stragglers)."""
        rx = self.in_a(lambda: _bound_udp(ADDR_A, port)) if receive else None
        try:
            def send() -> None:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
                    if tos:
                        tx.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
                    for i in range(count):
                        tx.sendto(bytes([i & 0xFF]) * payload, (ADDR_A, port))
            self.in_b(send)
            if rx is None:
                return 0
            got = 0
            deadline = time.monotonic() + 1.0
            rx.settimeout(0.05)
            while got < count and time.monotonic() < deadline:
                try:
                    rx.recv(65536)
                    got += 1
                except socket.timeout:
                    pass
            return got
        finally:
            if rx is not None:
                rx.close()

    def close(self) -> None:
        for t in self.threads:
            t.stop()
        self.threads.clear()
        for ns in (self.ns_a, self.ns_b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def _bound_udp(addr: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    return s


def need_netns() -> None:
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")


def make_cgroup() -> str:
    """A new child cgroup (v2) of the root; skips without a cgroup2 mount."""
    from pybpf.kernel import cgroup2_root
    root = cgroup2_root()
    if root is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    return tempfile.mkdtemp(prefix=f"{PREFIX}-{os.getpid()}-", dir=root)


def remove_cgroup(path: str) -> None:
    """Move any process left in the cgroup to the root and remove it."""
    root = os.path.dirname(path)
    deadline = time.monotonic() + 5
    while True:
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = [p for p in f.read().split() if p]
        except FileNotFoundError:
            return
        for pid in pids:
            try:
                with open(os.path.join(root, "cgroup.procs"), "w") as f:
                    f.write(pid)
            except OSError:
                pass
        try:
            os.rmdir(path)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# --- nothing left behind ----------------------------------------------------------------

# the fds an attachment holds: a link, a perf event (kprobes, uprobes, sampling), or the
# program / map / namespace fd of an attachment that is not a link
_ATTACH_FDS = ("anon_inode:bpf_link", "anon_inode:[perf_event]", "anon_inode:bpf-prog",
               "anon_inode:bpf-map", "net:[")


def attachment_fds() -> collections.Counter[str]:
    """How many fds of each attachment-related kind this process holds."""
    kinds: collections.Counter[str] = collections.Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        for kind in _ATTACH_FDS:
            if target.startswith(kind):
                kinds[kind] += 1
    return kinds


def our_links(prog_names: Iterable[str]) -> set[int]:
    """Ids of live links whose program has one of these names (other sessions on the
    machine may hold links of their own)."""
    from pybpf.kernel import KernelError, abi, link_ids
    from pybpf.kernel.link import link_info_of
    from pybpf.kernel.objects import link_get_fd_by_id, obj_get_info_by_fd, prog_get_fd_by_id
    names = {n[:15] for n in prog_names}  # the kernel keeps 15 bytes of a name
    ours = set()
    for lid in link_ids():
        try:
            with link_get_fd_by_id(lid) as fd:
                info = link_info_of(fd)
            with prog_get_fd_by_id(info.prog_id) as pfd:
                name = obj_get_info_by_fd(pfd, abi.BpfProgInfo()).name.decode()
        except KernelError:
            continue
        if name in names:
            ours.add(lid)
    return ours


@contextlib.contextmanager
def nothing_left_check(prog_names: Iterable[str], bpffs: str | None = None) -> Iterator[None]:
    """Fails if the body leaves behind a namespace or cgroup of ours, a link of these
    programs, an attachment fd (link, perf event, a program/map/netns held by an
    attachment), or a pin in `bpffs`."""
    names = list(prog_names)
    links_before = our_links(names)
    fds_before = attachment_fds()
    pins_before = set(os.listdir(bpffs)) if bpffs is not None else set()
    yield
    left_ns = {n for n in netns_names() if n.startswith(f"{PREFIX}-{os.getpid()}-")}
    assert not left_ns, f"network namespaces left: {left_ns}"
    assert our_links(names) <= links_before, "links left attached"
    grown = attachment_fds() - fds_before
    assert not grown, f"attachment fds left open: {dict(grown)}"
    from pybpf.kernel import cgroup2_root
    root = cgroup2_root()
    if root:
        assert not [d for d in os.listdir(root) if d.startswith(f"{PREFIX}-{os.getpid()}-")]
    if bpffs is not None:
        left = set(os.listdir(bpffs)) - pins_before
        assert not left, f"pins left in {bpffs}: {sorted(left)}"
