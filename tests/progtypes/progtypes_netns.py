"""A throw-away network namespace for the networking-helper differential tests, and a
thread living in it: the kernel's test runs (and the sockets they should find) happen
in that thread, and `read_netns()` called there gives the VM the same namespace.

Topology: lo up; veth0 (10.1.0.1/24, fd00:1::1/64, MTU 1400) <-> veth1 (10.2.0.1/24,
fd00:2::1/64, MTU 9000); veth2 (10.3.0.1/24, MTU 68, forwarding off) <-> veth3 (down);
routes of every type, a table 100, static neighbours; forwarding on except IPv4 on veth2
and IPv6 on veth1."""

from __future__ import annotations

import ctypes
import os
import queue
import subprocess
import threading
from typing import Any, Callable

CLONE_NEWNET = 0x4000_0000

SETUP = [
    "link set lo up",
    ("link add veth0 address 02:00:00:00:00:01 mtu 1400 type veth peer name veth1 "
     "address 02:00:00:00:00:02 mtu 9000"),
    "link add veth2 address 02:00:00:00:00:03 mtu 68 type veth peer name veth3",
    "link set veth0 up", "link set veth1 up", "link set veth2 up",
    "addr add 10.1.0.1/24 dev veth0", "addr add 10.1.0.7/24 dev veth0",
    "addr add 10.2.0.1/24 dev veth1", "addr add 10.3.0.1/24 dev veth2",
    "-6 addr add fd00:1::1/64 dev veth0 nodad", "-6 addr add fd00:2::1/64 dev veth1 nodad",
    "route add 192.168.10.0/24 via 10.1.0.2 dev veth0 metric 5",
    "route add 192.168.10.0/24 via 10.2.0.2 dev veth1 metric 9",
    "route add 192.168.10.128/25 via 10.2.0.2 dev veth1",
    "route add 192.168.20.0/24 dev veth1",
    "route add blackhole 192.168.30.0/24",
    "route add unreachable 192.168.31.0/24",
    "route add prohibit 192.168.32.0/24",
    "route add 192.168.40.0/24 via 10.1.0.3 dev veth0 mtu lock 1000",
    "route add 192.168.41.0/24 via 10.1.0.2 dev veth0 mtu 1000 src 10.1.0.7",
    "route add 192.168.60.0/24 dev veth2",
    "route add 172.16.0.0/16 via 10.1.0.2 table 100",
    "route add blackhole 172.17.0.0/16 table 100",
    "route add 172.18.0.0/16 via inet6 fd00:1::2 dev veth0",
    "-6 route add fd00:40::/48 via fd00:1::2 dev veth0 mtu 1300 metric 7",
    "-6 route add fd00:42::/48 via fd00:2::2 dev veth1",
    "-6 route add fd00:43::/48 via fd00:1::3 dev veth0",
    "-6 route add fd00:47::/48 via fd00:2::2 dev veth1 mtu lock 1280",
    "-6 route add unreachable fd00:41::/48",
    "-6 route add blackhole fd00:44::/48",
    "-6 route add prohibit fd00:45::/48",
    "-6 route add fd00:46::/48 via fd00:1::2 dev veth0 table 100",
    "neigh add 10.1.0.2 lladdr 02:aa:00:00:00:02 dev veth0 nud permanent",
    "neigh add 10.2.0.2 lladdr 02:aa:00:00:00:22 dev veth1 nud permanent",
    "neigh add 10.2.0.5 lladdr 02:aa:00:00:00:25 dev veth1 nud stale",
    "neigh add 192.168.20.9 lladdr 02:aa:00:00:00:29 dev veth1 nud permanent",
    "-6 neigh add fd00:1::2 lladdr 02:aa:00:00:00:12 dev veth0 nud permanent",
    "-6 neigh add fd00:2::2 lladdr 02:aa:00:00:00:32 dev veth1 nud permanent",
]
SYSCTLS = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
           "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
LATE_SYSCTLS = ["net.ipv4.conf.veth2.forwarding=0", "net.ipv6.conf.veth1.forwarding=0"]


def _setns(fd: int) -> None:
    """setns(2) for the calling thread (os.setns needs Python 3.12)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ip(name: str, args: str) -> None:
    subprocess.run(["ip", "-n", name, *args.split()], check=True, capture_output=True)


def _sysctl(name: str, settings: list[str]) -> None:
    subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", *settings], check=True,
                   capture_output=True)


class NetnsThread:
    """A thread in namespace `name`; `call(fn)` runs fn there and returns its result."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.jobs: queue.Queue = queue.Queue()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        self.ready.wait()
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        try:
            fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
        except BaseException as e:  # reported to the constructor
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        while True:
            job = self.jobs.get()
            if job is None:
                return
            fn, box, done = job
            try:
                box.append(("ok", fn()))
            except BaseException as e:
                box.append(("err", e))
            done.set()

    def call(self, fn: Callable[[], Any]) -> Any:
        box: list = []
        done = threading.Event()
        self.jobs.put((fn, box, done))
        done.wait()
        kind, value = box[0]
        if kind == "err":
            raise value
        return value

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join()


def make_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        _sysctl(name, SYSCTLS)
        for cmd in SETUP:
            _ip(name, cmd)
        _sysctl(name, LATE_SYSCTLS)
    except BaseException:
        delete_netns(name)
        raise


def delete_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


# --- the differential harness ------------------------------------------------------------

DATA = os.path.join(os.path.dirname(__file__), "data", "net")


class Net:
    """The namespace, its thread, the VM's model of it, and the test objects loaded on
    both backends (kernel programs run in the namespace's thread)."""

    def __init__(self, name: str) -> None:
        from pybpf.net.netns import read_netns
        self.name = name
        self.thread = NetnsThread(name)
        self.ns = self.thread.call(read_netns)
        self.objects: dict[str, tuple[Any, Any]] = {}
        self.ifindex = {d.name: i for i, d in self.ns.devices.items()}

    def refresh(self) -> None:
        from pybpf.net.netns import read_netns
        self.ns = self.thread.call(read_netns)

    def objs(self, stem: str) -> tuple[Any, Any]:
        """(kernel Object, VM Object) of data/net/<stem>.o, made in the namespace."""
        if stem not in self.objects:
            from pybpf.elf import load
            spec = load(os.path.join(DATA, stem + ".o"))
            k = self.thread.call(lambda: spec.instantiate("kernel"))
            v = self.thread.call(lambda: spec.instantiate("vm"))
            self.objects[stem] = (k, v)
        return self.objects[stem]

    def run(self, stem: str, prog: str, data: bytes, **kw: Any) -> tuple[tuple, tuple]:
        """(kernel outcome, VM outcome) of one test run: ("ok", retval, data_out,
        ctx_out) or ("err", errno name)."""
        from pybpf.kernel import KernelError
        from pybpf.progtypes import TestRunError, test_run
        k, v = self.objs(stem)
        kp, vp = k.programs[prog], v.programs[prog]
        try:
            r = self.thread.call(lambda: kp.test_run(data, **kw))
            ko: tuple = ("ok", r.retval, r.data_out, r.ctx_out)
        except KernelError as e:
            ko = ("err", e.errno_name)
        try:
            r2 = test_run(vp.handle, vp.spec.type, data_in=data, netns=self.ns,
                          expected_attach_type=vp.spec.expected_attach_type, **kw)
            vo: tuple = ("ok", r2.retval, r2.data_out, r2.ctx_out)
        except TestRunError as e:
            vo = ("err", e.errno_name)
        return ko, vo

    def close(self) -> None:
        for k, v in self.objects.values():
            self.thread.call(k.close)
            v.close()
        self.thread.stop()


def net_fixture() -> Any:
    """A session fixture body: skip without bpf(2), root or `ip`; clean up after."""
    import shutil

    import pytest

    from tests.conftest import kernel_available
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    name = f"pybpf-net-{os.getpid()}"
    try:
        make_netns(name)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot make a network namespace: {e}")
    net = Net(name)
    try:
        yield net
    finally:
        net.close()
        delete_netns(name)
