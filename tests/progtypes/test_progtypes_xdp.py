"""XDP on the VM against the kernel: packet and xdp_md reads, direct writes, the
adjust_head/tail/meta and load/store_bytes helpers on linear and multi-buffer packets,
ctx_in/ctx_out and the test run's size and error rules."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.progtypes import TestRunError, XdpAction, test_run, xdp_spec
from pybpf.uapi import AttachType, ProgType

from .progtypes_packets import frames

pytestmark = pytest.mark.kernel
XDP = ProgType.XDP

READ_CTX = """
r2 = *(u32 *)(r1 +12)
r3 = *(u32 *)(r1 +16)
r4 = *(u32 *)(r1 +0)
r5 = *(u32 *)(r1 +4)
r6 = *(u32 *)(r1 +8)
r5 -= r4
r4 -= r6
r0 = r2
r0 <<= 8
r0 |= r3
r0 <<= 12
r0 |= r5
r0 <<= 8
r0 |= r4
exit
"""

# Flip the first byte of the packet and bump the second; return XDP_TX.
WRITE_PKT = """
r2 = *(u32 *)(r1 +0)
r3 = *(u32 *)(r1 +4)
r4 = r2
r4 += 2
if r4 > r3 goto out
r5 = *(u8 *)(r2 +0)
r5 ^= 0xff
*(u8 *)(r2 +0) = r5
r5 = *(u8 *)(r2 +1)
r5 += 1
*(u8 *)(r2 +1) = r5
out:
r0 = 3
exit
"""


def adjust(helper: str, off: int, then: str = "") -> str:
    return f"""
r6 = r1
r2 = {off}
call bpf_{helper}
r7 = r0
{then}
r0 = r7
exit
"""


# After the adjustment: write 0x5a to the first byte of data and of data_meta, if any.
TOUCH = """
r2 = *(u32 *)(r6 +0)
r3 = *(u32 *)(r6 +4)
r4 = *(u32 *)(r6 +8)
r5 = r2
r5 += 1
if r5 > r3 goto +1
*(u8 *)(r2 +0) = 0x5a
r5 = r4
r5 += 1
if r5 > r2 goto +1
*(u8 *)(r4 +0) = 0xa5
"""


def md(data: int, data_end: int, meta: int = 0, ifindex: int = 0, rxq: int = 0,
       egress: int = 0) -> bytes:
    return struct.pack("<6I", data, data_end, meta, ifindex, rxq, egress)


@given(frames())
def test_xdp_read_ctx(differ, pkt):
    differ.same(XDP, READ_CTX, data_in=pkt)


@given(frames(), st.integers(0, 2))
def test_xdp_ctx_in(differ, pkt, ifindex):
    meta = min(len(pkt) // 4 * 4, 8)
    differ.same(XDP, READ_CTX, data_in=pkt, ctx_in=md(meta, len(pkt), 0, ifindex))


@given(frames())
def test_xdp_write_packet(differ, pkt):
    differ.same(XDP, WRITE_PKT, data_in=pkt)


@given(frames(), st.integers(-300, 300))
def test_xdp_adjust_head(differ, pkt, off):
    differ.same(XDP, adjust("xdp_adjust_head", off, TOUCH), data_in=pkt)


@given(frames(), st.integers(-300, 3800))
def test_xdp_adjust_tail(differ, pkt, off):
    differ.same(XDP, adjust("xdp_adjust_tail", off, TOUCH), data_in=pkt)


@given(frames(), st.integers(-260, 8), st.sampled_from([0, 4, 32, 200]))
def test_xdp_adjust_meta(differ, pkt, off, meta):
    ctx = md(meta, len(pkt)) if meta and meta + 14 <= len(pkt) else None
    differ.same(XDP, adjust("xdp_adjust_meta", off, TOUCH), data_in=pkt, ctx_in=ctx)


@given(st.integers(3000, 12000), st.integers(-13000, 5000))
@settings(max_examples=60)
def test_xdp_adjust_tail_multibuffer(differ, size, off):
    pkt = bytes(i * 7 & 0xFF for i in range(size))
    src = adjust("xdp_adjust_tail", off, "r1 = r6\ncall bpf_xdp_get_buff_len\nr7 <<= 32\n"
                                         "r7 |= r0")
    differ.same(XDP, src, data_in=pkt)


def bytes_helper(helper: str, off: int, n: int) -> str:
    """load (or store after filling the stack buffer with 0x77) n bytes at off."""
    fill = "\n".join(f"*(u64 *)(r10 -{64 - i}) = 0x77" for i in range(0, 64, 8))
    return f"""
r6 = r1
{fill}
r1 = r6
r2 = {off}
r3 = r10
r3 += -64
r4 = {n}
call bpf_{helper}
r7 = r0
r1 = *(u64 *)(r10 -64)
r2 = *(u64 *)(r10 -16)
r0 = r7
r0 ^= r1
r0 ^= r2
exit
"""


@given(st.integers(14, 9000), st.integers(0, 9100), st.integers(1, 64),
       st.sampled_from(["xdp_load_bytes", "xdp_store_bytes"]))
@settings(max_examples=80)
def test_xdp_load_store_bytes(differ, size, off, n, helper):
    pkt = bytes(i * 13 & 0xFF for i in range(size))
    differ.same(XDP, bytes_helper(helper, off, n), data_in=pkt)


@pytest.mark.parametrize("size", [0, 1, 13, 14, 3519, 3520, 3521, 4096, 73152, 73153])
def test_xdp_sizes(differ, size):
    differ.same(XDP, "r0 = 2\nexit", data_in=bytes(range(256)) * (size // 256 + 1)
                if size else None, data_size_out=size + 64 if size else 0)


CTX_CASES = [
    md(0, 100), md(0, 99), md(0, 50), md(4, 100), md(2, 100), md(216, 100), md(220, 100),
    md(252, 100), md(0, 101), md(8, 4), md(0, 100, meta=1), md(0, 100, ifindex=1),
    md(0, 100, ifindex=1, rxq=1), md(0, 100, rxq=1), md(0, 100, ifindex=99),
    md(0, 100, egress=1), md(0, 100, ifindex=2), md(0, 13), md(88, 100), md(90, 100),
    md(0, 100) + bytes(8), md(0, 100) + b"\x01", md(0, 100)[:8], b"", b"\x00" * 4,
]


@pytest.mark.parametrize("ctx", CTX_CASES, ids=lambda c: c.hex() or "none")
@pytest.mark.parametrize("ctx_out", [None, 0, 8, 24, 32])
def test_xdp_ctx_rules(differ, ctx, ctx_out):
    differ.same(XDP, READ_CTX, data_in=bytes(range(100)), ctx_in=ctx or None,
                ctx_size_out=ctx_out)


@pytest.mark.parametrize("kw", [
    {"flags": 1}, {"flags": 4}, {"batch_size": 1}, {"repeat": 0}, {"repeat": 5},
    {"data_size_out": 10}, {"data_size_out": 100}, {"cpu": 1},
    {"flags": 2}, {"flags": 2, "batch_size": 300}, {"flags": 2, "ctx_in": md(0, 100)},
])
def test_xdp_attr_rules(differ, kw):
    k = differ.same(XDP, WRITE_PKT, data_in=bytes(range(100)), **kw)
    assert k[0] in ("ok", "err")


@given(st.integers(0, 4))
def test_xdp_repeat_accumulates(differ, repeat):
    """Repetitions run on the same xdp_buff: head adjustments add up."""
    differ.same(XDP, adjust("xdp_adjust_head", 4), data_in=bytes(range(64)), repeat=repeat)


def test_xdp_devmap_rejected(differ):
    differ.same(XDP, "r0 = 2\nexit", eat=AttachType.XDP_DEVMAP, data_in=bytes(64))


def test_xdp_spec_is_read_only():
    spec = xdp_spec()
    assert all(not f.writable for f in spec)
    assert not spec["egress_ifindex"].readable
    assert xdp_spec(AttachType.XDP_DEVMAP)["egress_ifindex"].readable
    with pytest.raises(ValueError):
        spec.check(0, 2, False)


def test_xdp_vm_without_kernel():
    """The VM alone: a program dropping IPv6 and passing the rest."""
    src = """
r2 = *(u32 *)(r1 +0)
r3 = *(u32 *)(r1 +4)
r4 = r2
r4 += 14
if r4 > r3 goto pass
r5 = *(u16 *)(r2 +12)
if r5 != 0xdd86 goto pass
r0 = 1
exit
pass:
r0 = 2
exit
"""
    from pybpf.asm import assemble
    code = assemble(src)
    v6 = bytes(12) + b"\x86\xdd" + bytes(40)
    v4 = bytes(12) + b"\x08\x00" + bytes(20)
    assert test_run(code, XDP, data_in=v6).retval == XdpAction.DROP
    assert test_run(code, XDP, data_in=v4).retval == XdpAction.PASS
    with pytest.raises(TestRunError) as e:
        test_run(code, XDP, data_in=bytes(10))
    assert e.value.errno_name == "EINVAL"
