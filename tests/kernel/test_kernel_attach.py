"""Attaching programs to kernel hooks (pybpf.kernel.link and Program.attach*): the
kernel runs them on real events, and closing the handle detaches them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pybpf
from pybpf.asm import assemble
from pybpf.kernel import (
    KernelExistsError,
    Map,
    MapType,
    ProgType,
    TracefsError,
    attach_raw_tracepoint,
    attach_tracepoint,
    prog_load,
    tracepoint_id,
)
from pybpf.kernel.abi import PerfEventAttr
from pybpf.cpus import online_cpus
from pybpf.kernel.link import sys_perf_event_open_number
from pybpf.objects.instance import AttachNotSupportedError
from pybpf.tools.syscalls import syscall_number

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GETPPID = syscall_number("getppid")
CLOSE = syscall_number("close")


def _u64(m: Map | object, key: int) -> int:
    try:
        return int.from_bytes(m[key.to_bytes(4, "little")], "little")  # type: ignore[index]
    except KeyError:
        return 0


def _getppid(n: int) -> None:
    for _ in range(n):
        os.getppid()


def _tp_object(tgid: int) -> pybpf.objects.instance.Object:  # type: ignore[name-defined]
    spec = pybpf.load(EXAMPLES / "tp_syscalls.o")
    spec.set_global("target_tgid", tgid)
    return spec.instantiate("kernel")


def test_perf_event_attr_layout() -> None:
    """struct perf_event_attr as in the UAPI header (VER8: 136 bytes) and the syscall
    numbers of perf_event_open on x86-64 and arm64."""
    assert PerfEventAttr.size.offset == 4 and PerfEventAttr.config.offset == 8
    assert PerfEventAttr.disabled.offset == 40 and PerfEventAttr.wakeup_events.offset == 48
    assert PerfEventAttr.config1.offset == 56 and PerfEventAttr.branch_sample_type.offset == 72
    assert PerfEventAttr.sample_regs_intr.offset == 96 and PerfEventAttr.sig_data.offset == 120
    assert sys_perf_event_open_number("x86_64") == 298
    assert sys_perf_event_open_number("aarch64") == 241


@pytest.mark.kernel
def test_tracepoint_counts_this_process(fd_count) -> None:  # type: ignore[no-untyped-def]
    """Both programs of the tracepoint example on raw_syscalls, filtered to our tgid:
    100 getppid() calls count 100, 7 failing close() count 7 errors."""
    before = fd_count()
    with _tp_object(os.getpid()) as obj:
        links = [p.attach() for p in obj.programs.values()]
        assert all(link.uses_links for link in links)  # BPF_LINK_CREATE on 6.x
        _getppid(100)
        for _ in range(7):
            with pytest.raises(OSError):
                os.close(99999)
        counts, errors = obj.maps["syscall_counts"], obj.maps["syscall_errors"]
        assert _u64(counts, GETPPID) == 100
        assert _u64(errors, CLOSE) == 7
        assert _u64(obj.maps["pid_counts"], os.getpid()) >= 107
        # the latency histogram has one entry per finished syscall of ours
        hist = [_u64(obj.maps["latency_hist"], k) for k in range(64)]
        assert sum(hist) >= 107
        for link in links:
            link.close()
        _getppid(50)
        assert _u64(counts, GETPPID) == 100  # detached: no more counting
    assert fd_count() == before


@pytest.mark.kernel
def test_tracepoint_sees_every_cpu() -> None:
    """One perf event (on the first online CPU) runs the program for syscalls made on
    any CPU: a child pinned to the last CPU is counted."""
    cpus = online_cpus()
    if len(cpus) < 2:
        pytest.skip("one CPU")
    child = subprocess.Popen([sys.executable, "-c",
                              f"import os,sys; os.sched_setaffinity(0,{{{cpus[-1]}}}); "
                              "sys.stdin.read(1); [os.getppid() for _ in range(300)]"],
                             stdin=subprocess.PIPE)
    try:
        with _tp_object(child.pid) as obj:
            link = obj.programs["count_sys_enter"].attach_tracepoint("raw_syscalls",
                                                                     "sys_enter")
            assert link.events[0]  # one event
            child.communicate(b"x", timeout=30)
            assert _u64(obj.maps["syscall_counts"], GETPPID) == 300
    finally:
        child.kill()
        child.wait()


@pytest.mark.kernel
def test_tracepoint_ioctl_fallback_and_one_program_per_tracepoint() -> None:
    """PERF_EVENT_IOC_SET_BPF attaches too; the kernel refuses the same program twice
    on a tracepoint (EEXIST), which is why one perf event is opened, not one per CPU."""
    with _tp_object(os.getpid()) as obj:
        prog = obj.programs["count_sys_enter"].handle
        with attach_tracepoint(prog, "raw_syscalls", "sys_enter", use_link=False) as link:
            assert not link.uses_links
            _getppid(40)
            assert _u64(obj.maps["syscall_counts"], GETPPID) == 40
            with pytest.raises(KernelExistsError):
                attach_tracepoint(prog, "raw_syscalls", "sys_enter", cpu=online_cpus()[-1])
        assert link.closed
        _getppid(10)
        assert _u64(obj.maps["syscall_counts"], GETPPID) == 40


@pytest.mark.kernel
def test_tracepoint_errors() -> None:
    with pytest.raises(TracefsError, match="no tracepoint"):
        tracepoint_id("raw_syscalls", "no_such_event")
    with pytest.raises(TracefsError):
        tracepoint_id("..", "x")
    with _tp_object(0) as obj:
        with pytest.raises(TracefsError):
            obj.programs["count_sys_enter"].attach_tracepoint("nosuchcat", "nosuchevent")


def _raw_tp_counter(counter: Map) -> object:
    """A raw tracepoint program for sys_enter (args[1] is the syscall id): counts our
    process's getppid calls in slot 0 of `counter`."""
    src = f"""
        r6 = *(u64 *)(r1 + 8)
        if r6 != {GETPPID} goto out
        call 14
        r0 >>= 32
        if r0 != {os.getpid()} goto out
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
        r0 = 0
        exit
    """
    return prog_load(ProgType.RAW_TRACEPOINT, assemble(src, syntax="kernel"))


@pytest.mark.kernel
def test_raw_tracepoint(fd_count) -> None:  # type: ignore[no-untyped-def]
    before = fd_count()
    with Map.create(MapType.ARRAY, 4, 8, 1) as counter, _raw_tp_counter(counter) as prog:
        with attach_raw_tracepoint(prog, "sys_enter") as link:
            assert int(link.info().type) == 1  # BPF_LINK_TYPE_RAW_TRACEPOINT
            _getppid(64)
            assert _u64(counter, 0) == 64
        _getppid(10)
        assert _u64(counter, 0) == 64
    assert fd_count() == before


def _proto_stats(obj: object, proto: int) -> tuple[int, int]:
    raw = obj.maps["proto_stats"][proto.to_bytes(4, "little")]  # type: ignore[attr-defined]
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:16], "little")


@pytest.mark.kernel
def test_socket_filter_on_udp_socket(fd_count) -> None:  # type: ignore[no-untyped-def]
    """The socket filter example on a UDP socket sees each datagram once, skb->len = UDP
    header + payload; after close() it sees none."""
    before = fd_count()
    spec = pybpf.load(EXAMPLES / "sockfilter_proto.o")
    with spec.instantiate("kernel") as obj, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        handle = obj.programs["count_by_proto"].attach_socket(rx)
        for _ in range(25):
            tx.sendto(b"x" * 100, rx.getsockname())
        for _ in range(25):
            assert rx.recv(200) == b"x" * 100  # kept whole (the filter returns skb->len)
        assert _proto_stats(obj, socket.IPPROTO_UDP) == (25, 25 * 108)
        # a Link like every attachment; update() swaps in a filter that drops all
        assert isinstance(handle, pybpf.kernel.Link) and not handle.is_bpf_link
        assert handle.info().prog_id == obj.programs["count_by_proto"].handle.id
        with prog_load(ProgType.SOCKET_FILTER, assemble("r0 = 0\nexit", syntax="kernel")) \
                as drop:
            handle.update(drop)
            assert handle.info().prog_id == drop.id
            tx.sendto(b"dropped", rx.getsockname())
            handle.update(obj.programs["count_by_proto"].handle, old_prog=drop)
        rx.settimeout(0.2)
        tx.sendto(b"kept", rx.getsockname())
        assert rx.recv(200) == b"kept"  # the dropped datagram never arrived
        assert _proto_stats(obj, socket.IPPROTO_UDP) == (26, 25 * 108 + 12)
        handle.close()
        assert handle.closed
        for _ in range(5):
            tx.sendto(b"y" * 10, rx.getsockname())
        assert rx.recv(200) == b"y" * 10
        assert _proto_stats(obj, socket.IPPROTO_UDP) == (26, 25 * 108 + 12)
    assert fd_count() == before


@pytest.mark.kernel
def test_socket_filter_on_packet_socket() -> None:
    """On an AF_PACKET socket bound to lo the filter sees whole frames (Ethernet header
    included), each sent datagram twice (outgoing and incoming), and counts it once: it
    skips the outgoing copy on loopback, as libpcap does."""
    spec = pybpf.load(EXAMPLES / "sockfilter_proto.o")
    with spec.instantiate("kernel") as obj, \
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)) as ps, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        ps.bind(("lo", 3))
        rx.bind(("127.0.0.1", 0))
        with obj.programs["count_by_proto"].attach_socket(ps):
            for _ in range(10):
                tx.sendto(b"z" * 86, rx.getsockname())
            deadline = time.monotonic() + 2
            while _proto_stats(obj, socket.IPPROTO_UDP)[0] < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            packets, nbytes = _proto_stats(obj, socket.IPPROTO_UDP)
        assert packets >= 10
        assert nbytes >= 10 * (14 + 20 + 8 + 86)
        sizes = [_u64(obj.maps["size_hist"], k) for k in range(64)]
        assert sizes[7] >= 10  # 128-byte frames: bucket 128 -> 255


def test_attach_needs_the_kernel_backend() -> None:
    for name in ("tp_syscalls", "sockfilter_proto"):
        with pybpf.load(EXAMPLES / f"{name}.o").instantiate("vm") as obj:
            for prog in obj.programs.values():
                with pytest.raises(AttachNotSupportedError, match="kernel backend|socket"):
                    prog.attach()
            prog = next(iter(obj.programs.values()))
            with pytest.raises(AttachNotSupportedError, match="needs the kernel backend"):
                prog.attach_tracepoint("raw_syscalls", "sys_enter")
            with pytest.raises(AttachNotSupportedError, match="needs the kernel backend"):
                prog.attach_raw_tracepoint("sys_enter")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                with pytest.raises(AttachNotSupportedError, match="needs the kernel backend"):
                    prog.attach_socket(s)


@pytest.mark.kernel
def test_attach_from_section_name() -> None:
    """attach() reads the section: a socket filter asks for a socket."""
    with pybpf.load(EXAMPLES / "sockfilter_proto.o").instantiate("kernel") as obj:
        with pytest.raises(AttachNotSupportedError, match="attach_socket"):
            obj.programs["count_by_proto"].attach()


@pytest.mark.kernel
def test_object_close_detaches(fd_count) -> None:  # type: ignore[no-untyped-def]
    """Attachments made through the objects layer end with the object."""
    before = fd_count()
    obj = _tp_object(os.getpid())
    link = obj.programs["count_sys_enter"].attach()
    obj.close()
    assert link.closed
    assert fd_count() == before
