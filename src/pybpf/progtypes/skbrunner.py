"""A capture through an skb program on the VM (socket filter, tc, cgroup skb, LWT): what
every packet's test run reuses, made once. Each packet still gets the sk_buff
bpf_prog_test_run_skb makes of it (skb_of); the regions, the contexts over it, the
network namespace and the mounted maps and stacks stay, so a packet costs its skb and
its instructions, not a new Memory, new regions and a region table made afresh."""

from __future__ import annotations

from ..net.netdev import LOOPBACK_IFINDEX, NetDevice
from ..net.netns import NetNamespace, fresh_netns
from ..uapi import ProgType
from ..vm import VM, Memory
from .contexts.skb import TC_TYPES
from .runbase import ETH_HLEN, PAGE_SIZE, RunArgs
from .skb import skb_of, test_run_skb
from .skb_context import SkbContext, SockContext
from .skbuff import NET_IP_ALIGN, NET_SKB_PAD, SHINFO_SIZE, SkBuff

_M32 = 0xFFFF_FFFF
_POOL = 64  # packet buffers kept, by size (a capture has few distinct sizes)


class SkbRunner:
    """Test runs of one skb program on the VM, one plain packet after another (no
    ctx_in, flags or repeat), in one network namespace (default: a fresh one of
    loopback only). `run_packet(data)` is the retval test_run_skb gives (TestRunError
    where the kernel refuses the frame); `output()` the data_out of the last one."""

    def __init__(self, vm: VM, prog_type: ProgType, netns: NetNamespace | None = None) -> None:
        self.vm = vm
        self.prog_type = prog_type
        self.netns = netns if netns is not None else fresh_netns()
        dev = self.netns.devices.get(LOOPBACK_IFINDEX)
        assert dev is not None  # every namespace has its loopback device
        self.dev: NetDevice = dev
        self.l2 = prog_type in TC_TYPES
        self.max_len = PAGE_SIZE - NET_SKB_PAD - NET_IP_ALIGN - SHINFO_SIZE
        self.skb = skb_of(bytes(ETH_HLEN), prog_type, dev, self.netns)
        self.access = SkbContext(self.skb, prog_type)
        self.memory = Memory()
        self.r1 = self.access.map(self.memory)
        sock = self.memory.regions.get(self.access.sock_base >> 32)
        self.sock = sock.access if sock is not None and \
            isinstance(sock.access, SockContext) else None
        self.bound = vm.bind(self.memory)
        self.busy = False
        self._bufs: dict[int, bytearray] = {}
        self._out: bytes | None = None

    def run_packet(self, data: bytes) -> int:
        """BPF_PROG_TEST_RUN of the frame `data`: the 32-bit retval."""
        n = len(data)
        if self.busy or not ETH_HLEN <= n <= self.max_len:  # refused, or a run in a run
            res = test_run_skb(self.vm, self.prog_type,
                               RunArgs.make(data, None, None, None, 1, 0, 0, 0),
                               netns=self.netns)
            self._out = res.data_out
            return res.retval
        s = skb_of(data, self.prog_type, self.dev, self.netns, self._buf(n))
        self.switch(s)
        self._out = None
        self.busy = True
        try:
            return self.bound(self.r1)[0] & _M32
        finally:
            self.busy = False

    def output(self) -> bytes:
        """The last packet as test_run's data_out: from the MAC header (which a
        non-tc program's run leaves zeroed, as the kernel's does)."""
        if self._out is None:
            s = self.skb
            if not self.l2:
                s.push(ETH_HLEN)
                s.buf[s.data:s.data + ETH_HLEN] = bytes(ETH_HLEN)
            self._out = s.packet()
        return self._out

    def _buf(self, n: int) -> bytearray:
        """A zeroed buffer of the size the kernel gives an n-byte frame, the one the
        last packet of that size had when it is still the packet's (the regions then
        stay as they were)."""
        size = NET_SKB_PAD + NET_IP_ALIGN + ((n + 63) & ~63) + SHINFO_SIZE
        buf = self._bufs.get(size)
        if buf is None or len(buf) != size:
            if len(self._bufs) >= _POOL:
                self._bufs.clear()
            buf = self._bufs[size] = bytearray(size)
        else:
            buf[:] = bytes(size)
        return buf

    def switch(self, s: SkBuff) -> None:
        """The contexts and the packet region over `s` from now on."""
        a = self.access
        self.skb.on_change = None
        self.skb = s
        a.skb = s
        s.on_change = a.sync
        a.sync()  # the packet region and the LD_ABS view over s's buffer
        if self.sock is not None:
            assert s.sk is not None  # skb_of gives every skb the test socket
            self.sock.sk = s.sk


__all__ = ["SkbRunner"]
