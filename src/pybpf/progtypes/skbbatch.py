"""The JIT's native batch (pybpf.jit.batch) for skb programs (tc, socket filter, cgroup
skb, LWT): each packet set up in native code as bpf_prog_test_run_skb sets up an
sk_buff (the frame at the kernel's headroom, data at the MAC header for tc and at the
network header otherwise, protocol and pkt_type as eth_type_trans finds them), the
__sk_buff fields a packet's own values or constants of every test run served
natively, stores to mark, priority, tc_index, tc_classid and cb[] kept natively.
The first call into Python in a packet makes its model: the sk_buff the test run makes
of the packet's frame (pybpf.progtypes.skb.skb_of), with the bytes and the field stores
the program made so far; from then on that packet's context and buffer are the
model's, exactly as in a plain test run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..net.netns import NetNamespace
from ..uapi import ProgType
from ..vm import VM
from .contexts.skb import SK_BUFF_SIZE, SKB_PROG_TYPES, TC_TYPES
from .ctx import FieldKind
from .runbase import ETH_HLEN, PAGE_SIZE
from .skb import skb_of
from .skb_context import SkbContext
from .skbrunner import SkbRunner
from .skbuff import NET_IP_ALIGN, NET_SKB_PAD

if TYPE_CHECKING:
    from ..jit.batch import NativeBatch
    from ..jit.batch_ir import FieldValue

_M32 = 0xFFFF_FFFF
# the fields a native store may change, with what the field keeps of a 4-byte store
# (SkbContext.write_value; cb[] is plain memory)
_STORES = {"mark": _M32, "priority": _M32, "tc_index": 0xFFFF, "tc_classid": 0xFFFF,
           "cb": _M32}
# the fields whose value is the packet's own, found natively (pybpf.jit.batch_ir)
_KINDS = {"data": "DATA", "data_end": "DATA_END", "data_meta": "DATA_META", "len": "LEN",
          "protocol": "PROTO", "pkt_type": "PKT_TYPE"}


def samples() -> list[bytes]:
    """Frames that differ in every way an sk_buff's fields may follow (protocols, IP
    addresses, destinations, lengths): a field that reads the same on all of them is
    one no packet changes."""
    src = bytes([2, 0, 0, 0, 0, 1])

    def eth(dst: bytes, proto: bytes, body: bytes) -> bytes:
        return dst + src + proto + body

    ip4 = [bytes([0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, a, 10, 0, b, 9]) + bytes(20)
           for a, b in ((1, 2), (7, 3))]
    ip6 = [bytes([0x60, 0, 0, 0, 0, 20, 17, 64]) + bytes([a] * 16) + bytes([b] * 16) + bytes(20)
           for a, b in ((1, 2), (9, 4))]
    unicast, bcast, mcast = bytes([2, 9, 9, 9, 9, 9]), b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x05"
    return [eth(unicast, b"\x08\x00", ip4[0]), eth(bcast, b"\x08\x00", ip4[1] + bytes(100)),
            eth(mcast, b"\x86\xdd", ip6[0]), eth(bytes(6), b"\x86\xdd", ip6[1] + bytes(7)),
            eth(unicast, b"\x08\x06", bytes(28)),
            eth(unicast, b"\x00\x40", b"\xff\xff" + bytes(62))]


def ctx_plan(prog_type: ProgType, runner: SkbRunner
             ) -> tuple[list["tuple[FieldValue, int] | None"], dict[int, int]]:
    """Per 4-byte field of __sk_buff: how a load is served natively (None: Python),
    and the fields stores go natively to, with their masks."""
    from ..jit.batch_ir import FieldValue
    spec = runner.access.spec
    models = [SkbContext(skb_of(f, prog_type, runner.dev, runner.netns), prog_type)
              for f in samples()]
    fields: list[tuple[FieldValue, int] | None] = []
    stores: dict[int, int] = {}
    for off in range(0, SK_BUFF_SIZE, 4):
        fields.append(None)
        try:
            f = spec.check(off, 4, False)
        except ValueError:
            continue  # Python raises the access's error
        if f.name in _KINDS:
            fields[-1] = (FieldValue[_KINDS[f.name]], 0)
            continue
        if f.kind not in (FieldKind.VALUE, FieldKind.MEMORY):
            continue
        values = {m.load(off, 4, -1) for m in models}
        if len(values) != 1:
            continue  # the packet's own: Python
        fields[-1] = (FieldValue.CONST, values.pop())
        keep = _STORES.get(f.name)
        if keep is not None:
            try:
                spec.check(off, 4, True)
            except ValueError:
                continue
            stores[off // 4] = keep
    return fields, stores


def skb_batch(vm: VM, prog_type: ProgType, *, netns: NetNamespace | None = None,
              want_frames: bool = False) -> "tuple[NativeBatch, SkbRunner] | None":
    """A NativeBatch of `vm` (a JitVM with native code, an skb program) over a runner
    of its own, and that runner; None where the batch cannot run the program (frames
    asked of a type whose frames are not its window: its MAC header comes back
    zeroed, and a socket filter's frame is cut to its return value)."""
    from ..jit.machine import JitVM, host_address
    l2 = prog_type in TC_TYPES
    if not isinstance(vm, JitVM) or vm.native is None or vm._map_regions is None or \
            prog_type not in SKB_PROG_TYPES or (want_frames and not l2):
        return None
    from ..jit.batch import NativeBatch, PacketSetup
    runner = SkbRunner(vm, prog_type, netns)
    fields, stores = ctx_plan(prog_type, runner)
    head = NET_SKB_PAD + NET_IP_ALIGN
    page = bytearray(PAGE_SIZE)
    access = runner.access
    made: list[NativeBatch] = []

    def fresh() -> None:
        batch = made[0]
        data = batch.record()
        s = skb_of(data, prog_type, runner.dev, runner.netns)
        n = len(data)
        s.buf[head:head + n] = page[head:head + n]  # what the program wrote so far
        runner.switch(s)
        for i in stores:
            access.store(4 * i, 4, batch.ctx_value(i), -1)

    def window_in(meta: int, data: int, end: int) -> None:
        """Native code cannot move an sk_buff's window: nothing to give the model."""

    def window_out() -> tuple[int, int, int]:
        s = runner.skb
        return s.data - s.meta_len, s.data, s.tail

    def page_of() -> int:
        return host_address(runner.skb.buf) or 0

    setup = PacketSetup(
        page=page, headroom=head, min_len=ETH_HLEN, max_len=runner.max_len,
        pkt_base=access.packet.base, pkt_writable=access.packet.writable, ctx_base=runner.r1,
        ctx_fields=fields, pass_value=0, fresh=fresh, window_in=window_in,
        window_out=window_out, ctx_stores=stores, ctx_py=True,
        skb_dev=(runner.dev.address, runner.dev.broadcast), page_of=page_of,
        data_off=0 if l2 else ETH_HLEN)
    batch = NativeBatch(vm, runner.memory, runner.bound.stack_tops, setup,
                        want_frames=want_frames)
    made.append(batch)
    return batch, runner


__all__ = ["ctx_plan", "samples", "skb_batch"]
