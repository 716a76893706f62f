"""XDP: `struct xdp_md` over a model of the kernel's xdp_buff, the packet helpers
(adjust_head/tail/meta, load/store_bytes, get_buff_len, redirect) and BPF_PROG_TEST_RUN
for XDP, with the limits of net/bpf/test_run.c and net/core/filter.c.

The buffer is one 4 KiB page as in the kernel: XDP_PACKET_HEADROOM (256) bytes of
headroom whose first 40 bytes hold the xdp_frame, the packet, and 320 bytes of tailroom
for skb_shared_info. Data beyond the linear area goes to fragments of up to 4 KiB each
(at most 17), as a multi-buffer test run does.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from ..net import route, sockets
from ..net.netdev import LOOPBACK_IFINDEX, Devices
from ..net.netns import NetNamespace, fresh_netns
from ..uapi import (AttachType, BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, BPF_F_TEST_XDP_LIVE_FRAMES,
                    XDP_PACKET_HEADROOM)
from ..vm import VM, CallContext, Memory
from . import socklookup
from .common import M32, context_of, destination, map_region, neg, read_mem, s32, write_mem
from .contexts.xdp import XDP_MD_SIZE, XdpAction, xdp_spec
from .ctx import ContextAccess, ContextSpec, CtxField, FieldKind
from .errors import TestRunError
from .runbase import (
    ETH_HLEN,
    PAGE_SIZE,
    SHINFO_SIZE,
    PacketAccess,
    RunArgs,
    TestRunResult,
    ctx_finish,
    ctx_init,
    data_finish,
    timed,
)

XDP_FRAME_SIZE = 40       # sizeof(struct xdp_frame), at data_hard_start
XDP_PAGE_HEAD_SIZE = 112  # sizeof(struct xdp_page_head) (live frames mode)
MAX_SKB_FRAGS = 17
XDP_META_MAX = 255        # type_max(skb_shared_info.meta_len)
NAPI_POLL_WEIGHT = 64
TEST_XDP_MAX_BATCH = 256


@dataclass
class XdpBuff:
    """The kernel's xdp_buff: offsets into one page (`buf`), the fragments, and the rx
    queue it arrived on."""

    buf: bytearray
    data_meta: int
    data: int
    data_end: int
    frame_sz: int = PAGE_SIZE
    frags: list[bytearray] = field(default_factory=list)
    has_frags: bool = False
    ingress_ifindex: int = LOOPBACK_IFINDEX
    rx_queue_index: int = 0
    rxq_frag_size: int = PAGE_SIZE
    egress_ifindex: int = 0
    meta_supported: bool = True
    netns: NetNamespace = field(default_factory=fresh_netns)

    @property
    def hard_end(self) -> int:
        """xdp_data_hard_end: the frame's end less the skb_shared_info tailroom."""
        return self.frame_sz - SHINFO_SIZE

    @property
    def frags_size(self) -> int:
        return sum(len(f) for f in self.frags)

    def buff_len(self) -> int:
        """xdp_get_buff_len: linear length plus fragments (when flagged)."""
        n = self.data_end - self.data
        return n + self.frags_size if self.has_frags else n

    def linear(self) -> bytes:
        return bytes(self.buf[self.data:self.data_end])

    def output(self) -> tuple[bytes, list[bytes]]:
        """What test_run copies out: data_meta .. data_end, then the fragments."""
        return bytes(self.buf[self.data_meta:self.data_end]), [bytes(f) for f in self.frags]

    # -- byte access across fragments (bpf_xdp_pointer / bpf_xdp_copy_buf) --------------
    def _spans(self) -> list[tuple[bytearray, int, int]]:
        spans = [(self.buf, self.data, self.data_end - self.data)]
        spans += [(f, 0, len(f)) for f in self.frags]
        return spans

    def copy(self, off: int, n: int, data: bytes | None = None) -> bytes:
        """Read `n` bytes at packet offset `off` (or write `data` there)."""
        out = bytearray()
        pos = 0
        for buf, start, length in self._spans():
            if n <= 0:
                break
            if off < pos + length:
                c_off = off - pos
                c_len = min(n, length - c_off)
                if data is None:
                    out += buf[start + c_off:start + c_off + c_len]
                else:
                    buf[start + c_off:start + c_off + c_len] = data[:c_len]
                    data = data[c_len:]
                off += c_len
                n -= c_len
            pos += length
        return bytes(out)


class XdpPacketAccess(PacketAccess):
    """The packet page of an XDP program: data_meta .. data_end of the xdp_buff, read
    at each access straight from it (the hot path of every packet program)."""

    def __init__(self, xdp: XdpBuff) -> None:
        super().__init__("packet", lambda: (xdp.data_meta, xdp.data_end), True)
        self.xdp = xdp
        self.buf = xdp.buf

    def load(self, off: int, size: int, pc: int) -> int:
        x = self.xdp
        if off < x.data_meta or off + size > x.data_end:
            return super().load(off, size, pc)  # the fault, worded as for every packet
        return int.from_bytes(self.buf[off:off + size], "little")

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        x = self.xdp
        if off < x.data_meta or off + size > x.data_end:
            super().store(off, size, value, pc)
            return
        self.buf[off:off + size] = value.to_bytes(size, "little")


class XdpContext(ContextAccess):
    """`struct xdp_md` on the VM: loads of data/data_end/data_meta give packet pointers
    (64-bit VM addresses), the rest the rx queue's device and index."""

    def __init__(self, xdp: XdpBuff, spec: ContextSpec) -> None:
        super().__init__(spec, "ctx(xdp_md)")
        self.xdp = xdp
        self.packet = XdpPacketAccess(xdp)

    def read_value(self, f: CtxField) -> int:
        x = self.xdp
        if f.name == "data":
            return self.packet.base + x.data
        if f.name == "data_end":
            return self.packet.base + x.data_end
        if f.name == "data_meta":
            return self.packet.base + x.data_meta
        if f.name == "ingress_ifindex":
            return x.ingress_ifindex
        if f.name == "rx_queue_index":
            return x.rx_queue_index
        return x.egress_ifindex

    def write_value(self, f: CtxField, value: int, size: int) -> None:  # pragma: no cover
        raise AssertionError("xdp_md has no writable field")

    def map(self, memory: Memory) -> int:
        """Map the packet page and the context; returns the context's address (r1)."""
        map_region(memory, "packet", self.xdp.buf, self.packet)
        return map_region(memory, "ctx(xdp_md)", XDP_MD_SIZE, self)


# --- helpers -----------------------------------------------------------------------------

def _xdp(ctx: CallContext, r1: int) -> XdpBuff:
    return context_of(ctx, r1, XdpContext).xdp


def xdp_adjust_head(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_head(xdp, offset): move data (and the metadata before it)."""
    x = _xdp(ctx, r1)
    offset = s32(r2)
    metalen = x.data - x.data_meta if x.meta_supported else 0
    data_start = XDP_FRAME_SIZE + metalen
    data = x.data + offset
    if data < data_start or data > x.data_end - ETH_HLEN:
        return neg(errno.EINVAL)
    if metalen:
        x.buf[x.data_meta + offset:x.data_meta + offset + metalen] = \
            x.buf[x.data_meta:x.data_meta + metalen]
    x.data_meta += offset
    x.data = data
    return 0


def xdp_adjust_meta(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_meta(xdp, offset): grow or shrink the metadata before data."""
    x = _xdp(ctx, r1)
    offset = s32(r2)
    meta = x.data_meta + offset
    metalen = x.data - meta
    if not x.meta_supported:
        return neg(524)
    if meta < XDP_FRAME_SIZE or meta > x.data:
        return neg(errno.EINVAL)
    if metalen % 4 or metalen > XDP_META_MAX:
        return neg(errno.EACCES)
    x.data_meta = meta
    return 0


def xdp_adjust_tail(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_xdp_adjust_tail(xdp, offset): grow (zero-filled) or shrink the packet's end,
    in the last fragment for a multi-buffer packet."""
    x = _xdp(ctx, r1)
    offset = s32(r2)
    if x.has_frags:
        return _frags_shrink(x, -offset) if offset < 0 else _frags_grow(x, offset)
    data_end = x.data_end + offset
    if data_end > x.hard_end or data_end < x.data + ETH_HLEN:
        return neg(errno.EINVAL)
    if offset > 0:
        x.buf[x.data_end:data_end] = bytes(offset)
    x.data_end = data_end
    return 0


def _frags_grow(x: XdpBuff, offset: int) -> int:
    if not x.rxq_frag_size or x.rxq_frag_size > x.frame_sz:
        return neg(errno.EOPNOTSUPP)
    last = x.frags[-1]
    if offset > x.rxq_frag_size - len(last):
        return neg(errno.EINVAL)
    last += bytes(offset)
    return 0


def _frags_shrink(x: XdpBuff, offset: int) -> int:
    if offset > x.buff_len() - ETH_HLEN:
        return neg(errno.EINVAL)
    while x.frags and offset > 0:
        last = x.frags[-1]
        shrink = min(offset, len(last))
        offset -= shrink
        if shrink == len(last):
            x.frags.pop()
        else:
            del last[len(last) - shrink:]
            break
    if not x.frags:
        x.has_frags = False
        x.data_end -= offset
    return 0


def _xdp_pointer_check(x: XdpBuff, off: int, n: int) -> int:
    if off > 0xFFFF or n > 0xFFFF:
        return -errno.EFAULT
    if off + n > x.buff_len():
        return -errno.EINVAL
    return 0


def xdp_load_bytes(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_xdp_load_bytes(xdp, offset, buf, len): copy out of the (multi-buffer) packet."""
    x = _xdp(ctx, r1)
    off, n = r2 & M32, r4 & M32
    destination(ctx, r3, n)
    err = _xdp_pointer_check(x, off, n)
    if err:
        return neg(-err)
    write_mem(ctx, r3, x.copy(off, n))
    return 0


def xdp_store_bytes(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_xdp_store_bytes(xdp, offset, buf, len): copy into the packet."""
    x = _xdp(ctx, r1)
    off, n = r2 & M32, r4 & M32
    err = _xdp_pointer_check(x, off, n)
    if err:
        return neg(-err)
    x.copy(off, n, read_mem(ctx, r3, n))
    return 0


def xdp_get_buff_len(ctx: CallContext, r1: int, *_: int) -> int:
    """bpf_xdp_get_buff_len(xdp): linear length plus fragments."""
    return _xdp(ctx, r1).buff_len()


def xdp_redirect(ctx: CallContext, r1: int, r2: int, *_: int) -> int:
    """bpf_redirect(ifindex, flags) in XDP: XDP_REDIRECT, or XDP_ABORTED for flags
    (the redirect itself is not performed by a test run)."""
    return XdpAction.ABORTED if r2 else XdpAction.REDIRECT


def xdp_fib_lookup(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_fib_lookup(xdp, params, plen, flags) in the rx device's namespace; the MTU
    is always checked (params->tot_len)."""
    x = _xdp(ctx, r1)
    plen = s32(r3)
    if plen < route.FIB_LOOKUP_SIZE:
        return neg(errno.EINVAL)
    buf = bytearray(read_mem(ctx, r2, route.FIB_LOOKUP_SIZE))
    rc = route.fib_lookup(x.netns, buf, plen, r4 & M32, True)
    write_mem(ctx, r2, bytes(buf))
    return rc & 0xFFFF_FFFF_FFFF_FFFF


def _xdp_sk_lookup(proto: int, full: bool) -> Callable[..., int]:
    def helper(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        x = _xdp(ctx, r1)
        return socklookup.lookup_helper(ctx, x.netns.sockets_of, x.ingress_ifindex, r2, r3, r4,
                                     r5, proto, full)
    helper.__doc__ = (f"bpf_{'sk' if full else 'skc'}_lookup_"
                      f"{'tcp' if proto == sockets.IPPROTO_TCP else 'udp'}(xdp, tuple, "
                      "size, netns, flags): the rx device's namespace, dif = its ifindex.")
    return helper


# bpf_redirect_map's default action bits and flags (include/uapi/linux/bpf.h)
XDP_ACTION_MASK = 0x3


def xdp_redirect_map(ctx: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    """bpf_redirect_map(map, key, flags): XDP_REDIRECT when the map has a target at
    `key` (or with BPF_F_BROADCAST, devmaps only), else the action in the flags' low
    two bits; unknown flags give XDP_ABORTED."""
    from ..errors import HelperError
    from ..maps.helpers import _map
    from ..maps.redirect import DevMap
    m = _map(ctx, r1, "bpf_redirect_map")
    if not hasattr(m, "redirect_target"):
        raise HelperError(ctx.pc, f"bpf_redirect_map on a {m.spec.type_name} map (the "
                                  "verifier refuses it)")
    mask = BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS if isinstance(m, DevMap) else 0
    if r3 & ~(XDP_ACTION_MASK | mask):
        return XdpAction.ABORTED
    key = r2 & M32
    found = m.redirect_target(key)
    if not found and not r3 & BPF_F_BROADCAST:
        return r3 & XDP_ACTION_MASK
    return XdpAction.REDIRECT


def xdp_event_output(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_perf_event_output from XDP (bpf_xdp_event_output): flags' upper half
    appends that many packet bytes, fragments included (-EFAULT past the buffer)."""
    from ..maps.helpers import perf_event_output
    x = _xdp(ctx, r1)

    def head(n: int) -> bytes | None:
        return x.copy(0, n) if n <= x.buff_len() else None
    return perf_event_output(ctx, r1, r2, r3, r4, r5, head)


HELPERS: dict[str, Callable[..., int]] = {
    "perf_event_output": xdp_event_output,
    "fib_lookup": xdp_fib_lookup,
    "sk_lookup_tcp": _xdp_sk_lookup(sockets.IPPROTO_TCP, True),
    "sk_lookup_udp": _xdp_sk_lookup(sockets.IPPROTO_UDP, True),
    "skc_lookup_tcp": _xdp_sk_lookup(sockets.IPPROTO_TCP, False),
    "sk_release": socklookup.sk_release,
    "redirect_map": xdp_redirect_map,
    "xdp_adjust_head": xdp_adjust_head,
    "xdp_adjust_meta": xdp_adjust_meta,
    "xdp_adjust_tail": xdp_adjust_tail,
    "xdp_load_bytes": xdp_load_bytes,
    "xdp_store_bytes": xdp_store_bytes,
    "xdp_get_buff_len": xdp_get_buff_len,
    "redirect": xdp_redirect,
}


# --- BPF_PROG_TEST_RUN -------------------------------------------------------------------

def _metalen_invalid(n: int) -> bool:
    return n % 4 != 0 or n > XDP_META_MAX


def test_run_xdp(vm: VM, args: RunArgs, *, expected_attach_type: int = 0,
                 devices: Devices | None = None,
                 netns: NetNamespace | None = None) -> TestRunResult:
    """bpf_prog_test_run_xdp on the VM, in `netns` (default: a namespace of `devices`,
    by default loopback only)."""
    return _test_run_xdp(vm, args, expected_attach_type, devices, netns)


def _test_run_xdp(vm: VM, args: RunArgs, expected_attach_type: int,
                  devices: Devices | None, netns: NetNamespace | None) -> TestRunResult:
    if expected_attach_type in (AttachType.XDP_DEVMAP, AttachType.XDP_CPUMAP):
        raise TestRunError(errno.EINVAL, "devmap/cpumap programs cannot be test-run")
    if args.flags & ~BPF_F_TEST_XDP_LIVE_FRAMES:
        raise TestRunError(errno.EINVAL, f"unknown flags {args.flags:#x}")
    live = bool(args.flags & BPF_F_TEST_XDP_LIVE_FRAMES)
    batch = args.batch_size
    if live:
        if not batch:
            batch = NAPI_POLL_WEIGHT
        elif batch > TEST_XDP_MAX_BATCH:
            raise TestRunError(errno.E2BIG, f"batch_size {batch} > {TEST_XDP_MAX_BATCH}")
    elif batch:
        raise TestRunError(errno.EINVAL, "batch_size needs BPF_F_TEST_XDP_LIVE_FRAMES")
    runner = None if live else XdpRunner.of(vm, expected_attach_type)
    if netns is None:
        if devices is None and runner is not None:
            netns = runner.default_netns  # loopback only, as fresh_netns(); read-only in XDP
        else:
            netns = fresh_netns(dict(devices) if devices is not None else None)
    devices = devices if devices is not None else netns.devices
    md = ctx_init(args, XDP_MD_SIZE)
    size_in = len(args.data_in)
    headroom = XDP_PACKET_HEADROOM
    tailroom = SHINFO_SIZE
    meta_sz = 0
    linear_sz = size_in
    fields = [0] * 6
    if md is not None:
        fields = [int.from_bytes(md[i:i + 4], "little") for i in range(0, 24, 4)]
        c_data, c_end, c_meta = fields[0], fields[1], fields[2]
        if c_meta or c_end > size_in or c_data > c_end or \
                (live and (args.has_data_out or args.has_ctx_out)):
            raise TestRunError(errno.EINVAL, "xdp_md: data_meta must be 0, data <= data_end "
                                             "<= data_size_in")
        meta_sz = c_data
        if _metalen_invalid(meta_sz) or meta_sz > headroom - XDP_FRAME_SIZE:
            raise TestRunError(errno.EINVAL, f"xdp_md: metadata length {meta_sz} invalid")
        headroom -= meta_sz
        linear_sz = c_end
    if live:
        headroom += XDP_PAGE_HEAD_SIZE
    max_linear = PAGE_SIZE - headroom - tailroom
    linear_sz = min(linear_sz, max_linear)
    if live and size_in > linear_sz:
        raise TestRunError(errno.EINVAL, "live frames cannot be multi-buffer")
    if size_in - meta_sz < ETH_HLEN:
        raise TestRunError(errno.EINVAL, f"packet of {size_in - meta_sz} bytes is shorter "
                                         "than an Ethernet header")
    if runner is not None:
        x = runner.reset(args.data_in, headroom, linear_sz, netns)
    else:
        buf = bytearray(PAGE_SIZE)
        buf[headroom:headroom + linear_sz] = args.data_in[:linear_sz]
        x = XdpBuff(buf, headroom, headroom, headroom + linear_sz, netns=netns)
    # xdp_convert_md_to_buff
    if md is not None:
        ingress, rxq = fields[3], fields[4]
        if fields[5]:
            raise TestRunError(errno.EINVAL, "xdp_md: egress_ifindex must be 0")
        if not ingress and rxq:
            raise TestRunError(errno.EINVAL, "xdp_md: rx_queue_index without "
                                             "ingress_ifindex")
        if ingress:
            dev = devices.get(ingress)
            if dev is None:
                raise TestRunError(errno.ENODEV, f"no device with ifindex {ingress}")
            if rxq >= dev.rx_queues:
                raise TestRunError(errno.EINVAL, f"{dev.name} has {dev.rx_queues} rx queues")
            x.ingress_ifindex, x.rx_queue_index = ingress, rxq
            x.rxq_frag_size = PAGE_SIZE if ingress == LOOPBACK_IFINDEX and rxq == 0 else 0
        x.data = x.data_meta + fields[0]
    size = linear_sz
    while size < size_in:
        if len(x.frags) == MAX_SKB_FRAGS:
            raise TestRunError(errno.ENOMEM, f"data_in needs more than {MAX_SKB_FRAGS} "
                                             "fragments")
        n = min(size_in - size, PAGE_SIZE)
        x.frags.append(bytearray(args.data_in[size:size + n]))
        size += n
    x.has_frags = bool(x.frags)
    if live:
        retval, duration = _run_live(vm, x, expected_attach_type, args.repeat)
    elif runner is not None:
        runner.busy = True
        try:
            retval, duration = timed(runner.run, args.repeat)
        finally:
            runner.busy = False
    else:
        access = XdpContext(x, xdp_spec(expected_attach_type))
        memory = Memory()
        r1 = access.map(memory)
        retval, duration = timed(lambda: vm.execute(memory, r1).r0, args.repeat)
    if md is not None:
        md[0:4] = (x.data - x.data_meta).to_bytes(4, "little")
        md[4:8] = (x.data_end - x.data_meta).to_bytes(4, "little")
    linear, frags = x.output()
    data_out = data_finish(args, linear, frags)
    ctx_out = ctx_finish(args, md)
    return TestRunResult(retval, data_out, ctx_out, duration)


_ZERO_PAGE = bytes(PAGE_SIZE)
_ZERO_MD = bytes(XDP_MD_SIZE)
_R = TypeVar("_R")  # what XdpRunner.quick's caller makes of a result


class XdpRunner:
    """What every test run of one XDP program on the VM reuses, made at its first run
    and kept on the VM (`vm.run_cache`): the page, the xdp_buff over it, the xdp_md
    context and a Memory holding both with the program's maps and stacks mounted
    (VM.bind). `reset` makes it a fresh xdp_buff for the next packet; `run_packet` is
    one whole test run of a plain packet (a capture's), its output in `output()`."""

    def __init__(self, vm: VM, expected_attach_type: int) -> None:
        self.vm = vm
        self.expected_attach_type = expected_attach_type
        self.buf = bytearray(PAGE_SIZE)
        self._page = memoryview(self.buf)
        self.x = XdpBuff(self.buf, 0, 0, 0, netns=fresh_netns())
        self.default_netns = self.x.netns
        self.access = XdpContext(self.x, xdp_spec(expected_attach_type))
        self.memory = Memory()
        self.r1 = self.access.map(self.memory)
        self.bound = vm.bind(self.memory)
        self.busy = False
        self.max_linear = PAGE_SIZE - XDP_PACKET_HEADROOM - SHINFO_SIZE
        self._out: bytes | None = None  # the output of a packet run the slow way
        # the xdp_buff fields of a plain packet's test run (reset; quick writes them
        # in one update), data_end aside
        self._fresh = {"data_meta": XDP_PACKET_HEADROOM, "data": XDP_PACKET_HEADROOM,
                       "frame_sz": PAGE_SIZE, "has_frags": False,
                       "ingress_ifindex": LOOPBACK_IFINDEX, "rx_queue_index": 0,
                       "rxq_frag_size": PAGE_SIZE, "egress_ifindex": 0,
                       "meta_supported": True, "netns": self.default_netns}
        # xdp_md has no plain-memory field (every field is computed from the xdp_buff),
        # so its backing bytes stay zero; quick clears them only for a table with one
        self._md = self.access.memory if any(
            f.kind is FieldKind.MEMORY for f in self.access.spec.fields) else None

    @staticmethod
    def of(vm: VM, expected_attach_type: int) -> "XdpRunner | None":
        """The VM's runner for this attach type, None while it is in use (a run inside
        a run: that one builds its own state)."""
        key = ("xdp", int(expected_attach_type))
        runner = vm.run_cache.get(key)
        if runner is None:
            runner = vm.run_cache[key] = XdpRunner(vm, expected_attach_type)
        assert isinstance(runner, XdpRunner)
        return None if runner.busy else runner

    def reset(self, data: bytes, headroom: int, linear_sz: int,
              netns: NetNamespace | None) -> XdpBuff:
        """A fresh page with `data`'s first `linear_sz` bytes at `headroom`; the
        xdp_buff as test_run makes it (loopback, rx queue 0, no fragments)."""
        buf = self.buf
        buf[:] = _ZERO_PAGE
        buf[headroom:headroom + linear_sz] = data if len(data) == linear_sz \
            else data[:linear_sz]
        x = self.x
        x.data_meta = x.data = headroom
        x.data_end = headroom + linear_sz
        x.frame_sz = PAGE_SIZE
        if x.frags:
            x.frags = []
        x.has_frags = False
        x.ingress_ifindex = LOOPBACK_IFINDEX
        x.rx_queue_index = 0
        x.rxq_frag_size = PAGE_SIZE
        x.egress_ifindex = 0
        x.meta_supported = True
        x.netns = netns if netns is not None else self.default_netns
        self.access.memory[:] = _ZERO_MD
        return x

    def run(self) -> int:
        """One run on the state as it is; r0."""
        return self.bound(self.r1)[0]

    def run_packet(self, data: bytes, netns: NetNamespace | None = None) -> int:
        """BPF_PROG_TEST_RUN of `data` with no ctx_in, flags or repeat: the 32-bit
        retval (TestRunError where the kernel refuses the packet)."""
        n = len(data)
        if ETH_HLEN <= n <= self.max_linear and not self.busy:
            self._out = None
            self.busy = True
            try:
                self.reset(data, XDP_PACKET_HEADROOM, n, netns)
                return self.bound(self.r1)[0] & 0xFFFF_FFFF
            finally:
                self.busy = False
        res = test_run_xdp(self.vm, RunArgs.make(data, None, None, None, 1, 0, 0, 0),
                           expected_attach_type=self.expected_attach_type, netns=netns)
        self._out = res.data_out
        return res.retval

    def output(self) -> bytes:
        """The packet the last run_packet left: data_meta .. data_end, then fragments
        (test_run's data_out)."""
        if self._out is not None:
            return self._out
        x = self.x
        linear = self._page[x.data_meta:x.data_end].tobytes()
        return linear + b"".join(x.frags) if x.frags else linear

    def quick(self, data: bytes, make: "Callable[[int, bytes, bytes, int], _R]"
              ) -> "_R | None":
        """test_run_xdp of a plain packet (no ctx_in, flags, repeat or size hints, in
        the default namespace) with nothing to validate but its length:
        make(retval, data_out, ctx_out, duration) (a TestRunResult); None when the
        general path must run (a packet of another length, a run inside a run)."""
        n = len(data)
        if self.busy or not ETH_HLEN <= n <= self.max_linear:
            return None
        self._out = None
        self.busy = True
        try:
            # reset(data, XDP_PACKET_HEADROOM, n, None), in place
            buf = self.buf
            buf[:] = _ZERO_PAGE
            end = XDP_PACKET_HEADROOM + n
            buf[XDP_PACKET_HEADROOM:end] = data
            x = self.x
            if x.frags:
                x.frags = []
            fields = x.__dict__
            fields.update(self._fresh)
            fields["data_end"] = end
            if self._md is not None:
                self._md[:] = _ZERO_MD
            t0 = _perf_counter_ns()
            r0 = self.bound(self.r1)[0]
            spent = _perf_counter_ns() - t0
        finally:
            self.busy = False
        out = self._page[x.data_meta:x.data_end].tobytes()
        if x.frags:
            out += b"".join(x.frags)
        return make(r0 & 0xFFFF_FFFF, out, b"", spent if spent < 0xFFFF_FFFF else 0xFFFF_FFFF)


_perf_counter_ns = time.perf_counter_ns


def quick_runner(vm: VM, expected_attach_type: int) -> "XdpRunner | None":
    """The runner whose `quick(data, make)` is the short way of test_run_xdp for
    repeated plain test runs of `vm` (the VM's, made now if it has none); None for
    the attach types that have no short way (devmap, cpumap) and while the runner is
    in use (a run inside a run)."""
    if expected_attach_type in (AttachType.XDP_DEVMAP, AttachType.XDP_CPUMAP):
        return None
    return XdpRunner.of(vm, expected_attach_type)


def quick_test_run(vm: VM, data_in: bytes, expected_attach_type: int) -> TestRunResult | None:
    """test_run_xdp of a plain packet (no ctx_in, flags, repeat or size hints, in the
    default namespace) with nothing to validate but the packet's length: the same
    result at a fraction of the cost; None when the general path must run."""
    if expected_attach_type in (AttachType.XDP_DEVMAP, AttachType.XDP_CPUMAP):
        return None
    runner = XdpRunner.of(vm, expected_attach_type)
    return runner.quick(data_in, TestRunResult) if runner is not None else None


def _run_live(vm: VM, x: XdpBuff, expected_attach_type: int, repeat: int) -> tuple[int, int]:
    """Live-frames mode: each repetition runs on a fresh copy of the frame (which the
    kernel then transmits or drops); the caller sees retval 0 and the input data."""
    def once() -> int:
        y = XdpBuff(bytearray(x.buf), x.data_meta, x.data, x.data_end,
                    ingress_ifindex=x.ingress_ifindex, rx_queue_index=x.rx_queue_index,
                    netns=x.netns)
        a = XdpContext(y, xdp_spec(expected_attach_type))
        m = Memory()
        vm.execute(m, a.map(m))
        return 0
    return timed(once, repeat)


def run_xdp(vm: VM, packet: bytes, *, expected_attach_type: int = 0,
            devices: Devices | None = None,
            netns: NetNamespace | None = None) -> tuple[int, bytes]:
    """Convenience: test-run `packet` once; (retval, data_out)."""
    r = test_run_xdp(vm, RunArgs.make(packet, None, None, None, 1, 0, 0, 0),
                     expected_attach_type=expected_attach_type, devices=devices, netns=netns)
    return r.retval, r.data_out

