"""`struct __sk_buff` and `struct bpf_sock` (skb->sk) on the VM: loads and stores of the
context answered from an SkBuff the way bpf_convert_ctx_access rewrites them."""

from __future__ import annotations

from typing import Callable, Iterable

from ..uapi import ProgType
from ..vm import CallContext, Memory, Region
from .common import M32, M64, context_of, map_region
from .contexts.skb import SK_BUFF_SIZE, TC_TYPES, skb_spec
from .contexts.sock import BPF_SOCK_SIZE, bpf_sock_spec
from .ctx import ContextAccess, CtxField, FieldKind, narrow
from .runbase import PacketAccess
from .skbuff import NO_QUEUE_MAPPING, SkBuff, Sock

# --- the context -----------------------------------------------------------------------------

class SkbContext(ContextAccess):
    """`struct __sk_buff` on the VM for one program type, over an SkBuff."""

    def __init__(self, skb: SkBuff, prog_type: ProgType) -> None:
        super().__init__(skb_spec(prog_type), "ctx(__sk_buff)")
        self.skb = skb
        self.prog_type = prog_type
        self.memory = bytearray(SK_BUFF_SIZE)  # cb[] lives in skb.cb, see load/store
        direct_write = prog_type in TC_TYPES or prog_type == ProgType.LWT_XMIT
        self.packet = PacketAccess("packet", self._window, direct_write)
        self.packet.buf = skb.buf
        self.packet_region: Region | None = None
        self.vm_memory: Memory | None = None
        self.sock_base = 0
        skb.on_change = self.sync

    def _window(self) -> tuple[int, int]:
        s = self.skb
        return s.data - s.meta_len, s.tail

    def sync(self) -> None:
        """After a helper changed the skb: the packet region and the LD_ABS view follow."""
        s = self.skb
        self.packet.buf = s.buf
        if self.packet_region is not None:
            self.packet_region.buf = s.buf
        if self.vm_memory is not None:
            # LD_ABS/LD_IND see head..tail: positive offsets from skb->data, negative
            # SKF_NET_OFF / SKF_LL_OFF ones from the network / MAC header
            self.vm_memory.packet = Region("skb(ld_abs)", 0, memoryview(s.buf)[:s.tail], False)
            self.vm_memory.packet_headers = (s.data, s.mac_header, s.network_header)

    def map(self, memory: Memory) -> int:
        """Map packet, socket and context; returns the context's address (r1)."""
        self.vm_memory = memory
        map_region(memory, "packet", self.skb.buf, self.packet)
        self.packet_region = memory.regions[self.packet.base >> 32]
        if self.skb.sk is not None:
            self.sock_base = map_region(memory, "sk(bpf_sock)", BPF_SOCK_SIZE,
                                        SockContext(self.skb.sk))
        base = map_region(memory, "ctx(__sk_buff)", SK_BUFF_SIZE, self)
        self.sync()
        return base

    # cb[] is plain memory backed by the skb's qdisc cb
    def load(self, off: int, size: int, pc: int) -> int:
        f = self._check(off, size, False, pc)
        if f.kind is FieldKind.MEMORY:
            o = off - f.offset
            return int.from_bytes(self.skb.cb[o:o + size], "little")
        return narrow(self.read_value(f), f, off, size)

    def store(self, off: int, size: int, value: int, pc: int) -> None:
        f = self._check(off, size, True, pc)
        if f.kind is FieldKind.MEMORY:
            o = off - f.offset
            self.skb.cb[o:o + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size,
                                                                                  "little")
            return
        self.write_value(f, value, size)

    def native_words(self, offsets: Iterable[int]) -> list[tuple[int, int]]:
        """As ContextAccess.native_words (cb[] from the skb's qdisc cb)."""
        out = []
        word_field, cb = self.spec.word_field, self.skb.cb
        for off in offsets:
            f = word_field(off)
            if f is None:
                continue
            if f.kind is FieldKind.MEMORY:
                o = off - f.offset
                out.append((off, int.from_bytes(cb[o:o + 4], "little")))
            else:
                read = _READERS.get(f.name)
                out.append((off, narrow(read(self) if read is not None else self.read_value(f),
                                        f, off, 4)))
        return out

    def read_value(self, f: CtxField) -> int:
        read = _READERS.get(f.name)
        if read is not None:
            return read(self)
        n = f.name
        s = self.skb
        if n.startswith("remote_ip6["):
            i = int(n[11])
            return int.from_bytes(_sock(s).v6_daddr[4 * i:4 * i + 4], "little")
        if n.startswith("local_ip6["):
            i = int(n[10])
            return int.from_bytes(_sock(s).v6_rcv_saddr[4 * i:4 * i + 4], "little")
        raise AssertionError(f"unhandled __sk_buff field {n}")

    def write_value(self, f: CtxField, value: int, size: int) -> None:
        s = self.skb
        n = f.name
        if n == "mark":
            s.mark = value & M32
        elif n == "priority":
            s.priority = value & M32
        elif n == "tc_index":
            s.tc_index = value & 0xFFFF
        elif n == "tc_classid":
            s.tc_classid = value & 0xFFFF
        elif n == "queue_mapping":
            if value < NO_QUEUE_MAPPING:
                s.queue_mapping = value & 0xFFFF
        elif n == "tstamp":
            s.tstamp = value & M64
        else:  # pragma: no cover - the spec admits no other store
            raise AssertionError(f"store to {n}")


def _sock(s: SkBuff) -> Sock:
    """The skb's socket, or a socket of zeros (what the fields read without one)."""
    return s.sk or Sock()


def _data_end(c: SkbContext) -> int:
    s = c.skb
    return c.packet.base + s.data_end_ptr if s.data_end_ptr is not None else 0


def _data_meta(c: SkbContext) -> int:
    s = c.skb
    return c.packet.base + s.data_meta_ptr if s.data_meta_ptr is not None else 0


# each __sk_buff field's value by name (the ip6 words are read in read_value)
_READERS: dict[str, Callable[[SkbContext], int]] = {
    "len": lambda c: c.skb.len, "pkt_type": lambda c: c.skb.pkt_type,
    "mark": lambda c: c.skb.mark, "queue_mapping": lambda c: c.skb.queue_mapping,
    "protocol": lambda c: c.skb.protocol,
    "vlan_present": lambda c: int(c.skb.vlan_present()),
    "vlan_tci": lambda c: c.skb.vlan_tci, "vlan_proto": lambda c: c.skb.vlan_proto,
    "priority": lambda c: c.skb.priority, "ingress_ifindex": lambda c: c.skb.skb_iif,
    "ifindex": lambda c: c.skb.dev.ifindex if c.skb.dev is not None else 0,
    "tc_index": lambda c: c.skb.tc_index, "hash": lambda c: c.skb.hash,
    "tc_classid": lambda c: c.skb.tc_classid, "napi_id": lambda c: 0,
    "tstamp": lambda c: c.skb.tstamp, "wire_len": lambda c: c.skb.pkt_len,
    "gso_segs": lambda c: c.skb.gso_segs, "gso_size": lambda c: c.skb.gso_size,
    "tstamp_type": lambda c: c.skb.tstamp_type, "hwtstamp": lambda c: c.skb.hwtstamp,
    "family": lambda c: _sock(c.skb).family,
    "remote_ip4": lambda c: int.from_bytes(_sock(c.skb).daddr, "little"),
    "local_ip4": lambda c: int.from_bytes(_sock(c.skb).rcv_saddr, "little"),
    "remote_port": lambda c: (_sock(c.skb).dport << 16) & M32,
    "local_port": lambda c: _sock(c.skb).num,
    "data": lambda c: c.packet.base + c.skb.data,
    "data_end": _data_end, "data_meta": _data_meta,
    "sk": lambda c: c.sock_base if c.skb.sk is not None else 0,
}


# --- struct bpf_sock (skb->sk) ---------------------------------------------------------------

_SOCK_SPEC = bpf_sock_spec(full=False)  # PTR_TO_SOCK_COMMON


class SockContext(ContextAccess):
    """The test run's socket as `struct bpf_sock` (PTR_TO_SOCK_COMMON: read-only)."""

    def __init__(self, sk: Sock) -> None:
        super().__init__(_SOCK_SPEC, "sk(bpf_sock)")
        self.sk = sk

    def load(self, off: int, size: int, pc: int) -> int:
        # a 4-byte load of dst_port reads the __be16 and the 2 pad bytes
        if off == 48 and size == 4:
            return self.sk.dport
        return super().load(off, size, pc)

    def read_value(self, f: CtxField) -> int:
        sk = self.sk
        n = f.name
        if n.startswith("src_ip6["):
            i = int(n[8])
            return int.from_bytes(sk.v6_rcv_saddr[4 * i:4 * i + 4], "little")
        if n.startswith("dst_ip6["):
            i = int(n[8])
            return int.from_bytes(sk.v6_daddr[4 * i:4 * i + 4], "little")
        return {"bound_dev_if": 0, "family": sk.family,
                "src_ip4": int.from_bytes(sk.rcv_saddr, "little"), "src_port": sk.num,
                "dst_port": sk.dport, "dst_ip4": int.from_bytes(sk.daddr, "little"),
                "state": sk.state, "rx_queue_mapping": M32}[n]

    def write_value(self, f: CtxField, value: int, size: int) -> None:  # pragma: no cover
        raise AssertionError("bpf_sock is read-only here")


def skb_of(ctx: CallContext, r1: int) -> SkBuff:
    """The SkBuff behind the context pointer a helper was given in r1."""
    return context_of(ctx, r1, SkbContext).skb
