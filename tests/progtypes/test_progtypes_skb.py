"""Socket filters, tc and cgroup skb on the VM against the kernel: every readable
__sk_buff field (whole and narrow), tc's writable fields and ctx_out, LD_ABS/LD_IND and
truncation lengths, the packet helpers, ctx_in validation and the test run's limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.progtypes import skb_spec
from pybpf.progtypes.ctx import FieldKind
from pybpf.uapi import ProgType

from .conftest import CGROUP_EAT
from .progtypes_packets import frames

pytestmark = pytest.mark.kernel
SF, TC, CG = ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.CGROUP_SKB
SKB_TYPES = [SF, TC, CG]
ZERO_CTX = bytes(192)


def eat(t: ProgType) -> int:
    return CGROUP_EAT if t == CG else 0


def ret(t: ProgType) -> str:
    return "r0 = 1\nexit" if t == CG else "r0 = 0x7fff\nexit"


def readable_values(t: ProgType) -> list[tuple[str, int, int]]:
    """(name, offset, size) of the scalar fields `t` may read whole."""
    out = []
    for f in skb_spec(t):
        if f.kind is FieldKind.VALUE and f.read_sizes:
            out.append((f.name, f.offset, max(f.read_sizes)))
    return out


def store_fields(t: ProgType, fields: list[tuple[str, int, int]]) -> str:
    """Read each field and store it into cb[] (u64 fields take two slots)."""
    lines = ["r6 = r1"]
    slot = 48
    for _, off, size in fields:
        u = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[size]
        lines.append(f"r2 = *({u} *)(r6 +{off})")
        lines.append(f"*({'u64' if size == 8 else 'u32'} *)(r6 +{slot}) = r2")
        slot += 8 if size == 8 else 4
    return "\n".join(lines) + "\n" + ret(t)


def groups(t: ProgType) -> list[list[tuple[str, int, int]]]:
    """Fields in groups that fit cb[]: five u32 fields, or one u64 field (at cb[0])."""
    small = [f for f in readable_values(t) if f[2] < 8]
    out = [small[i:i + 5] for i in range(0, len(small), 5)]
    return out + [[f] for f in readable_values(t) if f[2] == 8]


GROUP_CASES = [(t, i) for t in SKB_TYPES for i in range(len(groups(t)))]


@pytest.mark.parametrize("t,i", GROUP_CASES, ids=[f"{t.name}-{i}" for t, i in GROUP_CASES])
@given(pkt=frames(min_size=14), mark=st.integers(0, 2**32 - 1), ifindex=st.sampled_from([0, 1, 2]))
@settings(max_examples=40)
def test_skb_fields(differ, t, i, pkt, mark, ifindex):
    ctx = bytearray(192)
    ctx[8:12] = mark.to_bytes(4, "little")
    ctx[32:36] = (mark ^ 0x5555).to_bytes(4, "little")
    ctx[36:40] = (mark >> 16).to_bytes(4, "little")
    ctx[40:44] = ifindex.to_bytes(4, "little")
    differ.same(t, store_fields(t, groups(t)[i]), eat(t), data_in=pkt, ctx_in=bytes(ctx))


NARROW_CASES = [(t, f.name, off, size)
                for t in SKB_TYPES for f in skb_spec(t)
                if f.kind is FieldKind.VALUE and f.ctx_field_size
                for size in sorted(f.read_sizes) if size < 4
                for off in range(f.offset, f.offset + 4, size)]


@pytest.mark.parametrize("t,name,off,size", NARROW_CASES,
                         ids=[f"{t.name}-{n}-{o}-{s}" for t, n, o, s in NARROW_CASES])
def test_skb_narrow_loads(differ, t, name, off, size):
    pkt = bytes.fromhex("ffffffffffff0200000000018100a00586dd") + bytes(range(60))
    u = {1: "u8", 2: "u16"}[size]
    src = f"r2 = *({u} *)(r1 +{off})\n*(u32 *)(r1 +48) = r2\n{ret(t)}"
    ctx = bytearray(192)
    ctx[8:12] = b"\x11\x22\x33\x44"
    ctx[32:36] = b"\x55\x66\x77\x88"
    ctx[36:40] = b"\x99\xaa\xbb\xcc"
    ctx[164:168] = b"\x02\x01\x00\x00"
    ctx[176:180] = b"\x04\x03\x00\x00"
    differ.same(t, src, eat(t), data_in=pkt, ctx_in=bytes(ctx))


PKT_LEN = """
r2 = *(u32 *)(r1 +76)
r3 = *(u32 *)(r1 +80)
r4 = *(u32 *)(r1 +140)
r3 -= r2
r2 -= r4
r0 = r3
r0 <<= 8
r0 |= r2
"""


@given(frames(min_size=14))
def test_skb_data_pointers_tc(differ, pkt):
    differ.same(TC, PKT_LEN + "exit", data_in=pkt)


@given(frames(min_size=14))
def test_skb_data_pointers_cgroup(differ, pkt):
    """cgroup skb reads data and data_end (data_end as the test run leaves it)."""
    src = """
r2 = *(u32 *)(r1 +76)
r3 = *(u32 *)(r1 +80)
r4 = r2
r4 += 14
if r4 > r3 goto out
r5 = *(u8 *)(r2 +0)
*(u32 *)(r1 +48) = r5
out:
r0 = 1
exit
"""
    differ.same(CG, src, CGROUP_EAT, data_in=pkt, ctx_in=ZERO_CTX)


LD_ABS = """
r6 = r1
r0 = *(u8 *)skb[{a}]
r7 = r0
r0 = *(u16 *)skb[{b}]
r7 <<= 16
r7 |= r0
r8 = {c}
r0 = *(u32 *)skb[r8 {d}]
r0 ^= r7
r0 &= 0xffff
exit
"""


@given(frames(min_size=14), st.integers(0, 80), st.integers(0, 80), st.integers(0, 80),
       st.integers(-4, 40))
def test_socket_filter_ld_abs(differ, pkt, a, b, c, d):
    differ.same(SF, LD_ABS.format(a=a, b=b, c=c, d=f"{'+' if d >= 0 else '-'} {abs(d)}"),
                data_in=pkt)


@given(frames(min_size=14), st.sampled_from([0, 1, 14, 20, 60, 0xFFFFFFFF]))
def test_socket_filter_truncation_retval(differ, pkt, keep):
    """The return value is the number of bytes to keep; test_run reports it as is."""
    differ.same(SF, f"r0 = *(u32 *)(r1 +0)\nif r0 > {keep & 0x7fffffff} goto +1\nr0 = 0\n"
                    f"exit", data_in=pkt)


def load_bytes(helper: str, off: int, n: int, extra: str = "") -> str:
    fill = "\n".join(f"*(u64 *)(r10 -{64 - i}) = 0x33" for i in range(0, 64, 8))
    return f"""
r6 = r1
{fill}
r1 = r6
r2 = {off}
r3 = r10
r3 += -64
r4 = {n}
{extra}
call bpf_{helper}
r7 = r0
r2 = *(u64 *)(r10 -64)
r3 = *(u64 *)(r10 -56)
r4 = *(u64 *)(r10 -16)
*(u64 *)(r6 +48) = r2
*(u64 *)(r6 +56) = r3
*(u32 *)(r6 +64) = r4
r0 = r7
r0 &= 1
exit
"""


@pytest.mark.parametrize("t", SKB_TYPES)
@given(pkt=frames(min_size=14), off=st.integers(0, 140), n=st.integers(1, 64))
@settings(max_examples=60)
def test_skb_load_bytes(differ, t, pkt, off, n):
    differ.same(t, load_bytes("skb_load_bytes", off, n), eat(t), data_in=pkt,
                ctx_in=ZERO_CTX)


@pytest.mark.parametrize("t", SKB_TYPES)
@given(pkt=frames(min_size=14), off=st.integers(0, 140), n=st.integers(1, 64),
       hdr=st.integers(0, 2))
@settings(max_examples=60)
def test_skb_load_bytes_relative(differ, t, pkt, off, n, hdr):
    differ.same(t, load_bytes("skb_load_bytes_relative", off, n, f"r5 = {hdr}"), eat(t),
                data_in=pkt, ctx_in=ZERO_CTX)


def call_tc(call: str) -> str:
    """Run `call` (setting up r2-r5 after r1 = ctx), return its r0 in retval and keep
    the packet; the stack buffer at r10-64 holds 0x0102030405060708 repeated."""
    fill = "\n".join(f"r9 = 0x{(0x0102030405060708 + i):x} ll\n*(u64 *)(r10 -{64 - i}) = r9"
                     for i in range(0, 64, 8))
    return f"""
r6 = r1
{fill}
r1 = r6
{call}
r7 = r0
r2 = *(u32 *)(r6 +0)
*(u32 *)(r6 +48) = r2
r2 = *(u32 *)(r6 +16)
*(u32 *)(r6 +52) = r2
r2 = *(u32 *)(r6 +20)
*(u32 *)(r6 +56) = r2
r2 = *(u32 *)(r6 +24)
r3 = *(u32 *)(r6 +28)
r3 <<= 16
r2 |= r3
*(u32 *)(r6 +60) = r2
r2 = *(u32 *)(r6 +68)
*(u32 *)(r6 +64) = r2
r0 = r7
exit
"""


@given(frames(min_size=14), st.integers(0, 120), st.integers(1, 64), st.integers(0, 4))
@settings(max_examples=80)
def test_tc_store_bytes(differ, pkt, off, n, flags):
    call = f"r2 = {off}\nr3 = r10\nr3 += -64\nr4 = {n}\nr5 = {flags}\ncall bpf_skb_store_bytes"
    differ.same(TC, call_tc(call), data_in=pkt, ctx_in=ZERO_CTX)
    differ.same(TC, call_tc(call), data_in=pkt, ctx_in=ZERO_CTX, flags=4)


@given(frames(min_size=14), st.integers(0, 80), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1), st.sampled_from([0, 2, 4, 3, 0x12, 0x14, 0x10, 0x34, 0x74,
                                                    0x94, 0x100]),
       st.sampled_from(["l3_csum_replace", "l4_csum_replace"]))
@settings(max_examples=150)
def test_tc_csum_replace(differ, pkt, off, frm, to, flags, helper):
    if flags & 0xF == 0 and frm % 3:
        frm = 0
    call = (f"r2 = {off}\nr3 = {frm} ll\nr4 = {to} ll\nr5 = {flags}\ncall bpf_{helper}")
    differ.same(TC, call_tc(call), data_in=pkt, ctx_in=ZERO_CTX)
    differ.same(TC, call_tc(call), data_in=pkt, ctx_in=ZERO_CTX, flags=4)


@given(st.integers(0, 64), st.integers(0, 48), st.integers(0, 2**32 - 1))
@settings(max_examples=100)
def test_csum_diff(differ, from_size, to_size, seed):
    call = (f"r1 = r10\nr1 += -64\nr2 = {from_size}\nr3 = r10\nr3 += -48\nr4 = {to_size}\n"
            f"r5 = {seed} ll\ncall bpf_csum_diff")
    differ.same(TC, call_tc(call), data_in=bytes(range(60)), ctx_in=ZERO_CTX)


SIMPLE_CALLS = [
    "r2 = {a}\ncall bpf_skb_pull_data",
    "r2 = {a}\nr3 = 0\ncall bpf_skb_change_tail",
    "r2 = {a}\nr3 = 1\ncall bpf_skb_change_tail",
    "r2 = {b}\nr3 = 0\ncall bpf_skb_change_head",
    "r2 = {p}\nr3 = {b}\ncall bpf_skb_vlan_push",
    "call bpf_skb_vlan_pop",
    "r2 = {p}\nr3 = {b}\ncall bpf_skb_vlan_push\nr1 = r6\nr2 = {p}\nr3 = 5\n"
    "call bpf_skb_vlan_push",
    "call bpf_skb_vlan_pop\nr1 = r6\ncall bpf_skb_vlan_pop",
    "r2 = {p}\nr3 = 0\ncall bpf_skb_change_proto",
    "r2 = {a}\ncall bpf_skb_change_type",
    "r2 = {a}\ncall bpf_set_hash\nr1 = r6\ncall bpf_get_hash_recalc",
    "r2 = {a}\ncall bpf_set_hash\nr1 = r6\ncall bpf_set_hash_invalid",
    "r2 = {s}\nr3 = {m}\nr4 = {f} ll\ncall bpf_skb_adjust_room",
    "r2 = {b}\ncall bpf_csum_level",
    "r2 = {a}\nr3 = {b}\ncall bpf_skb_set_tstamp",
    "r1 = {a}\nr2 = {b}\ncall bpf_redirect",
    "r2 = {a}\ncall bpf_csum_update",
]


@pytest.mark.parametrize("call", SIMPLE_CALLS, ids=[c.split("call bpf_")[1].split("\n")[0]
                                                    + str(i) for i, c in
                                                    enumerate(SIMPLE_CALLS)])
@given(pkt=frames(min_size=14), a=st.sampled_from([0, 1, 3, 4, 13, 14, 15, 33, 34, 54, 60,
                                                   100, 200, 16064, 16065, 0xFFFFFFFF]),
       b=st.sampled_from([0, 1, 2, 3, 4, 5, 14, 100, 4095]),
       p=st.sampled_from([0x0008, 0xdd86, 0x0081, 0xa888, 0x1234]),
       s=st.sampled_from([-100, -40, -20, -8, -1, 0, 4, 8, 20, 40, 4096]),
       m=st.sampled_from([0, 1, 2]),
       f=st.sampled_from([0, 1, 2, 4, 8, 0x12, 0x14, 0x20, 0x40, 0x42 | (14 << 56), 0x80,
                          0x100, 0x180, 0x1000]),
       csum=st.sampled_from([0, 4]))
@settings(max_examples=60)
def test_tc_helpers(differ, call, pkt, a, b, p, s, m, f, csum):
    src = call_tc(call.format(a=hex(a), b=b, p=p, s=s, m=m, f=f))
    differ.same(TC, src, data_in=pkt, ctx_in=ZERO_CTX, flags=csum)


TC_WRITES = """
r2 = {v} ll
r4 = {w} ll
*(u32 *)(r1 +8) = r2
*(u32 *)(r1 +32) = r2
*(u32 *)(r1 +44) = r2
*(u32 *)(r1 +72) = r2
*(u32 *)(r1 +12) = r2
*(u64 *)(r1 +152) = r4
*(u16 *)(r1 +50) = r2
*(u8 *)(r1 +67) = r2
r3 = *(u32 *)(r1 +44)
*(u32 *)(r1 +52) = r3
r3 = *(u32 *)(r1 +72)
*(u32 *)(r1 +56) = r3
r3 = *(u32 *)(r1 +12)
*(u32 *)(r1 +60) = r3
r3 = *(u8 *)(r1 +180)
*(u8 *)(r1 +64) = r3
r0 = 0
exit
"""


@given(frames(min_size=14), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1))
def test_tc_writes_and_ctx_out(differ, pkt, v, w):
    """(A 64-bit register stored to queue_mapping is compared whole by the kernel and
    truncated by the VM's store, so values stay 32-bit here.)"""
    differ.same(TC, TC_WRITES.format(v=v, w=w), data_in=pkt, ctx_in=ZERO_CTX)


@given(frames(min_size=14), st.integers(0, 2**64 - 1))
def test_cgroup_writes(differ, pkt, v):
    src = f"r2 = {v} ll\n*(u32 *)(r1 +8) = r2\n*(u32 *)(r1 +32) = r2\n" \
          f"*(u64 *)(r1 +152) = r2\n*(u32 *)(r1 +60) = r2\nr0 = 1\nexit"
    differ.same(CG, src, CGROUP_EAT, data_in=pkt, ctx_in=ZERO_CTX)


@pytest.mark.parametrize("t", SKB_TYPES)
@given(pos=st.integers(0, 191), val=st.integers(1, 255), base=st.sampled_from(
    [0, 1, 2, 99]), wire=st.sampled_from([0, 1, 60, 100, 65536, 65537]),
    segs=st.sampled_from([0, 1, 65535, 65536]))
@settings(max_examples=80)
def test_skb_ctx_in_rules(differ, t, pos, val, base, wire, segs):
    ctx = bytearray(192)
    ctx[40:44] = base.to_bytes(4, "little")
    ctx[160:164] = wire.to_bytes(4, "little")
    ctx[164:168] = segs.to_bytes(4, "little")
    ctx[pos] = val
    differ.same(t, ret(t), eat(t), data_in=bytes(range(100)), ctx_in=bytes(ctx))


@pytest.mark.parametrize("t", SKB_TYPES)
@pytest.mark.parametrize("kw", [
    {"data_in": None}, {"data_in": bytes(13)}, {"data_in": bytes(14)},
    {"data_in": bytes(3712)}, {"data_in": bytes(3713)}, {"data_in": bytes(64), "flags": 1},
    {"data_in": bytes(64), "flags": 4}, {"data_in": bytes(64), "cpu": 1},
    {"data_in": bytes(64), "batch_size": 1}, {"data_in": bytes(64), "data_size_out": 10},
    {"data_in": bytes(64), "ctx_in": ZERO_CTX, "ctx_size_out": 100},
    {"data_in": bytes(64), "ctx_in": ZERO_CTX + b"\0"},
    {"data_in": bytes(64), "ctx_in": ZERO_CTX + b"\1"},
    {"data_in": bytes(64), "ctx_in": bytes(8)}, {"data_in": bytes(64), "ctx_size_out": 192},
    {"data_in": bytes(64), "repeat": 3},
], ids=lambda kw: ",".join(f"{k}={len(v) if isinstance(v, bytes) else v}"
                           for k, v in kw.items()))
def test_skb_attr_rules(differ, t, kw):
    differ.same(t, ret(t), eat(t), **kw)


ACCESS_TYPES = [SF, TC, CG, ProgType.LWT_IN, ProgType.LWT_XMIT]


@pytest.mark.parametrize("t", ACCESS_TYPES)
def test_skb_access_table_matches_verifier(t):
    """The per-type __sk_buff table accepts exactly the loads and stores the kernel's
    verifier accepts (every aligned offset and size, read and write)."""
    from pybpf.asm import assemble
    from pybpf.kernel import KernelError, prog_load
    from tests.conftest import kernel_available
    if not kernel_available()[0]:
        pytest.skip("bpf(2) unavailable")
    spec = skb_spec(t)
    wrong = []
    for size, u in ((1, "u8"), (2, "u16"), (4, "u32"), (8, "u64")):
        for off in range(0, 192, size):
            for write in (False, True):
                src = (f"r2 = 0\n*({u} *)(r1 +{off}) = r2\n" if write
                       else f"r2 = *({u} *)(r1 +{off})\n") + "r0 = 0\nexit"
                try:
                    prog_load(t, assemble(src), "GPL", expected_attach_type=eat(t))
                    kernel_ok = True
                except KernelError:
                    kernel_ok = False
                try:
                    spec.check(off, size, write)
                    ok = True
                except ValueError:
                    ok = False
                if ok != kernel_ok:
                    wrong.append((off, size, "w" if write else "r", kernel_ok))
    assert not wrong, wrong


def test_skb_vm_runs_without_kernel_fields():
    from pybpf.asm import assemble
    from pybpf.progtypes import test_run
    code = assemble("r0 = *(u32 *)(r1 +16)\nexit")
    pkt = bytes(12) + b"\x86\xdd" + bytes(40)
    assert test_run(code, TC, data_in=pkt).retval == 0xdd86
    assert test_run(code, SF, data_in=pkt).retval == 0xdd86
    r = test_run(assemble("r0 = 0\nexit"), SF, data_in=pkt)
    assert r.data_out == bytes(14) + bytes(40)
