"""The restricted-Python subset, construct by construct: each program is compiled,
loaded and run on both backends (the plugin's bpf_backend fixture), and its result is
what Python's own arithmetic says."""

from __future__ import annotations

import struct
import textwrap
from collections.abc import Callable

import pytest

from pybpf.frontend.python import CompileError, compile_source
from pybpf.objects.instance import Object
from pybpf.packets import TCP, Ether, IPv4

HEAD = "import ctypes\nfrom pybpf.frontend.python import *\nLICENSE = 'GPL'\n"


def _run(src: str, backend: str, data: bytes = bytes(64), prog: str = "p",
         setup: Callable[[Object], object] | None = None
         ) -> tuple[int, dict[str, dict[bytes, bytes]]]:
    spec = compile_source(HEAD + textwrap.dedent(src), "t.py").spec()
    with spec.instantiate(backend) as obj:
        if setup:
            setup(obj)
        r = obj.programs[prog].test_run(data)
        maps = {n: dict(m.items()) for n, m in obj.maps.items()
                if n not in (".rodata",) and m.spec.type_name not in ("prog_array", "ringbuf",
                                                                      "perf_event_array")}
        return r.retval, maps


def _u64(d: dict) -> dict[int, int]:
    """Keys and values as numbers (per-CPU values summed over the CPUs)."""
    return {int.from_bytes(k, "little"):
            int.from_bytes(v, "little") if isinstance(v, bytes) else
            sum(int.from_bytes(c, "little") for c in v) for k, v in d.items()}


def test_loops_break_continue(bpf_backend: str) -> None:
    rv, _ = _run("""
        @xdp
        def p(ctx):
            total: u32 = 0
            for i in range(20):
                if i == 15:
                    break
                if i % 2 == 1:
                    continue
                total += i
            n: u32 = 0
            while n < 7:
                n += 1
            for j in range(10, 0, -3):
                total += j
            return total * 100 + n
    """, bpf_backend)
    assert rv == (sum(i for i in range(15) if i % 2 == 0) + sum(range(10, 0, -3))) * 100 + 7


@pytest.mark.parametrize("expr, want", [
    ("u32(u8(300) + u8(100))", (300 % 256) + 100),       # promoted to int, as C does
    ("u8(u8(200) + u8(100))", (200 + 100) % 256),
    ("u32(i8(-1))", 0xFFFFFFFF),
    ("u32(i64(-16) >> 2)", (-4) & 0xFFFFFFFF),
    ("u32(u64(0xFFFFFFFF00000000) >> 36)", 0xFFFFFFF),
    ("u32(-1) > 0", 1),
    ("i32(-1) < 0", 1),
    ("u32(7) // 2 + u32(7) % 4", 3 + 3),
    ("u32(0x12345678) & 0xFF00 | 0x1", 0x5601),
    ("htons(0x1234)", 0x3412),
    ("u32(ntohl(u32(0x11223344)))", 0x44332211),
    ("sizeof(u64) + sizeof(EthHdr) + sizeof(IPv4Hdr)", 8 + 14 + 20),
    ("3 if u32(5) > 4 else 9", 3),
    ("u32(not u32(0)) + u32(u32(3) and u32(0)) + u32(u32(0) or u32(2))", 1 + 0 + 1),
    ("~u32(0) ^ 0xF0", 0xFFFFFF0F),
    ("2 ** 10 - (1 << 3)", 1016),
])
def test_integer_semantics(bpf_backend: str, expr: str, want: int) -> None:
    rv, _ = _run(f"""
        @xdp
        def p(ctx):
            return {expr}
    """, bpf_backend)
    assert rv == want & 0xFFFFFFFF


def test_header_views_and_bit_fields(bpf_backend: str) -> None:
    frame = bytes(Ether(type=0x0800) / IPv4(src="10.1.2.3", dst="10.0.0.1", tos=0xB8) /
                  TCP(sport=1234, dport=443))
    src = """
        @xdp
        def p(ctx):
            eth = ctx.header(EthHdr)
            if eth is None or eth.h_proto != ETH_P_IP:
                return 1
            ip = ctx.header(IPv4Hdr, ETH_HLEN)
            if ip is None:
                return 2
            tcp = ctx.header(TcpHdr, ETH_HLEN + ip.ihl * 4)
            if tcp is None:
                return 3
            if ctx.header(IPv4Hdr, 10000) is not None:
                return 4
            if not ctx.has_bytes(54) or ctx.has_bytes(55):
                return 5
            return (ip.version << 28) | (ip.ihl << 24) | ((ip.tos >> 2) << 16) | tcp.dest
    """
    rv, _ = _run(src, bpf_backend, frame)
    assert rv == (4 << 28) | (5 << 24) | (46 << 16) | 443
    assert _run(src, bpf_backend, frame[:30])[0] == 2
    assert _run(src, bpf_backend, frame[:40])[0] == 3


def test_maps_structs_and_sub_programs(bpf_backend: str) -> None:
    rv, maps = _run("""
        class Key(ctypes.Structure):
            _fields_ = [("a", u32), ("b", be16), ("c", u8)]

        class Val(ctypes.Structure):
            _fields_ = [("hits", u64), ("last", u32), ("tag", u8 * 4)]

        table = HashMap(Key, Val, 16)
        lru = LRUHash(u64, u32, 16)
        pcpu = PerCPUArray(u32, u64, 2)
        trie = LPMTrie(Key, u32, 8)

        @noinline
        def touch(a: u32, b: u32) -> i64:
            k = Key(a=a, b=b, c=7)
            v = table.lookup(k)
            if v is None:
                fresh = Val(hits=1, last=b)
                fresh.tag[1] = 0xAB
                return table.update(k, fresh, BPF_NOEXIST)
            v.hits += 1
            v.last = b
            return 0

        @xdp
        def p(ctx):
            for i in range(3):
                touch(1, 0x1234)
            touch(2, 5)
            lru.update(u64(99), u32(5))
            slot = pcpu.lookup(1)
            if slot is not None:
                slot[0] += 41
            if lru.lookup(u64(98)) is not None or lru.lookup(u64(99)) is None:
                return 100
            lru.delete(u64(99))
            if lru.lookup(u64(99)) is not None:
                return 101
            return XDP_PASS
    """, bpf_backend)
    assert rv == 2
    table = {struct.unpack("<IHB", k[:7]): v for k, v in maps["table"].items()}
    # b is stored in network order
    raw_keys = sorted(maps["table"])
    assert raw_keys[0][4:6] == b"\x12\x34"
    hits, last, tag = struct.unpack("<QI4s", table[(1, 0x3412, 7)])
    assert (hits, last, tag) == (3, 0x1234, b"\0\xab\0\0")
    assert struct.unpack("<QI4s", table[(2, 0x0500, 7)])[:2] == (1, 5)
    assert maps["lru"] == {}
    assert _u64(maps["pcpu"])[1] == 41


def test_rodata_config_is_set_before_load(bpf_backend: str) -> None:
    src = HEAD + textwrap.dedent("""
        limit = Config(u32, 10)
        neg = Config(i16, -3)

        @xdp
        def p(ctx):
            return limit * 2 + neg
    """)
    for value, want in ((None, 17), (21, 39)):
        spec = compile_source(src, "t.py").spec()
        if value is not None:
            spec.set_global("limit", value)
        with spec.instantiate(bpf_backend) as obj:
            assert obj.programs["p"].test_run(bytes(64)).retval == want


def test_tail_call(bpf_backend: str) -> None:
    rv, _ = _run("""
        jump = ProgArray(4, values={2: "target"})

        @xdp
        def target(ctx):
            return XDP_TX

        @xdp
        def p(ctx):
            jump.tail_call(ctx, 3)        # an empty slot: the call falls through
            jump.tail_call(ctx, 2)
            return XDP_DROP
    """, bpf_backend)
    assert rv == 3


def test_ringbuf_and_perf_output_load(bpf_backend: str) -> None:
    rv, _ = _run("""
        class Event(ctypes.Structure):
            _fields_ = [("len", u32), ("proto", u16), ("pad", u16)]

        events = RingBuf(4096)
        perf = PerfEventArray()

        @xdp
        def p(ctx):
            eth = ctx.header(EthHdr)
            if eth is None:
                return XDP_ABORTED
            e = Event(len=64, proto=eth.h_proto)
            if events.output(e) != 0:
                return XDP_DROP
            perf.output(ctx, e)
            return XDP_PASS
    """, bpf_backend)
    assert rv == 2


def test_print_compiles_to_trace_printk(bpf_backend: str) -> None:
    rv, _ = _run("""
        @xdp
        def p(ctx):
            x: u32 = 42
            print("x is", x, f"hex {x:x} neg {i32(-1)}")
            return 7
    """, bpf_backend)
    assert rv == 7


def test_socket_filter_ld_abs(bpf_backend: str) -> None:
    frame = bytes(Ether(type=0x0800) / IPv4(src="10.1.2.3", dst="10.0.0.1") /
                  TCP(sport=1, dport=2))
    rv, _ = _run("""
        @socket_filter
        def p(skb):
            if skb.protocol != htons(ETH_P_IP):
                return 0
            return load_byte(skb, SKF_NET_OFF + 9) + (load_half(skb, SKF_NET_OFF + 2) << 8)
    """, bpf_backend, frame)
    assert rv == 6 + (40 << 8)


def test_program_kinds_compile_to_their_sections() -> None:
    obj = compile_source(HEAD + textwrap.dedent("""
        class Rec(ctypes.Structure):
            _fields_ = [("common", u64), ("id", i64)]

        @tracepoint("syscalls/sys_enter_getpid")
        def a(ctx: Rec):
            return 0

        @raw_tp("sys_enter")
        def b(ctx):
            return u32(ctx.args[1])

        @kprobe("do_nanosleep")
        def c(ctx):
            return u32(ctx.di)

        @uprobe()
        def d(ctx):
            return 0

        @cgroup_skb("ingress")
        def e(skb):
            return 1

        @tc
        def f(skb):
            skb.mark = 7
            return TC_ACT_OK
    """), "kinds.py")
    spec = obj.spec()
    sections = {n: p.section for n, p in spec.programs.items()}
    assert sections == {"a": "tracepoint/syscalls/sys_enter_getpid", "b": "raw_tp/sys_enter",
                        "c": "kprobe/do_nanosleep", "d": "uprobe", "e": "cgroup_skb/ingress",
                        "f": "tc"}


def test_dataclass_style_structs(bpf_backend: str) -> None:
    src = "from __future__ import annotations\n" + HEAD + textwrap.dedent("""
        class Hdr(NetStruct):
            version: (u8, 4)
            ihl: (u8, 4)
            tos: u8
            total: u16

        class Key(Struct):
            proto: u16
            flags: (u32, 3)
            addr: be32

        seen = HashMap(Key, u64, 4)

        @xdp
        def p(ctx):
            h = ctx.header(Hdr, 14)
            if h is None:
                return 0
            seen.update(Key(proto=h.total, flags=h.ihl, addr=0x0A000001), u64(h.version))
            return h.ihl * 1000 + h.tos
    """)
    spec = compile_source(src, "t.py").spec()
    with spec.instantiate(bpf_backend) as obj:
        frame = bytes(14) + bytes([0x46, 0x10, 0x01, 0x02]) + bytes(46)
        assert obj.programs["p"].test_run(frame).retval == 6 * 1000 + 0x10
        (k, v), = obj.maps["seen"].items()
        assert k == struct.pack("<HxxI", 0x0102, 6) + bytes([10, 0, 0, 1])
        assert int.from_bytes(v, "little") == 4


def test_packet_writes_through_header_views(bpf_backend: str) -> None:
    frame = bytes(Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02", type=0x0800) /
                  IPv4(src="10.1.2.3", dst="10.0.0.1", ttl=64) / TCP(sport=1, dport=2))
    spec = compile_source(HEAD + textwrap.dedent("""
        @xdp
        def p(ctx):
            eth = ctx.header(EthHdr)
            ip = ctx.header(IPv4Hdr, ETH_HLEN)
            if eth is None or ip is None:
                return XDP_ABORTED
            for i in range(6):          # swap the MAC addresses
                b = eth.h_dest[i]
                eth.h_dest[i] = eth.h_source[i]
                eth.h_source[i] = b
            ip.ttl -= 1
            ip.tos = (ip.tos & 3) | (46 << 2)
            return XDP_TX
    """), "w.py").spec()
    with spec.instantiate(bpf_backend) as obj:
        r = obj.programs["p"].test_run(frame)
    assert r.retval == 3
    out = r.data_out
    assert out[:6] == frame[6:12] and out[6:12] == frame[:6]
    assert out[14 + 8] == 63 and out[14 + 1] == 46 << 2
    assert out[34:] == frame[34:]


@pytest.mark.kernel
def test_raw_tracepoint_program_attached() -> None:
    import os
    spec = compile_source(HEAD + textwrap.dedent("""
        me = Config(u32, 0)
        nr = Config(u64, 0)
        calls = ArrayMap(u32, u64, 1)

        @raw_tp("sys_enter")
        def on_enter(ctx):
            if u32(bpf_get_current_pid_tgid() >> 32) != me:
                return 0
            if ctx.args[1] == nr:
                slot = calls.lookup(0)
                if slot is not None:
                    atomic_add(slot[0], 1)
            return 0
    """), "rawtp.py").spec()
    from pybpf.tools.syscalls import syscall_number
    spec.set_global("me", os.getpid())
    spec.set_global("nr", syscall_number("getppid"))
    with spec.instantiate("kernel") as obj:
        obj.programs["on_enter"].attach_raw_tracepoint("sys_enter")
        for _ in range(10):
            os.getppid()
        obj.programs["on_enter"].detach()
        assert int.from_bytes(obj.maps["calls"][(0).to_bytes(4, "little")], "little") >= 10


def test_globals_in_data_and_bss(bpf_backend: str) -> None:
    spec = compile_source(HEAD + textwrap.dedent("""
        packets = Global(u64)           # .bss
        last_len = Global(u32, 7)       # .data
        limit = Config(u32, 3)          # .rodata

        def seen(n: u32) -> None:
            global last_len
            last_len = n

        @xdp
        def p(ctx):
            global packets
            packets += 1
            atomic_add(packets, 10)
            before = last_len
            seen(u32(packets))
            if packets > limit * 10:
                return before
            return XDP_PASS
    """), "g.py").spec()
    assert {".bss", ".data", ".rodata"} <= set(spec.maps)
    with spec.instantiate(bpf_backend) as obj:
        prog = obj.programs["p"]
        rets = [prog.test_run(bytes(64)).retval for _ in range(4)]
        assert rets == [2, 2, 22, 33]  # from the 3rd run (33 > 30): the previous count
        bss = obj.maps[".bss"][(0).to_bytes(4, "little")]
        data = obj.maps[".data"][(0).to_bytes(4, "little")]
        assert int.from_bytes(bss[:8], "little") == 44
        assert int.from_bytes(data[:4], "little") == 44
    e = pytest.raises(CompileError, compile_source, HEAD + textwrap.dedent("""
        limit = Config(u32, 3)
        @xdp
        def p(ctx):
            global limit
            limit = 4
            return 0
    """), "g.py")
    assert "a Config is read-only" in str(e.value)


def test_sub_functions_take_the_context(bpf_backend: str) -> None:
    frame = bytes(Ether(type=0x0800) / IPv4(src="10.1.2.3", dst="10.0.0.1", ttl=9) /
                  TCP(sport=1, dport=2))
    rv, _ = _run("""
        def ttl(ctx: XdpMd, off: u32) -> u32:
            ip = ctx.header(IPv4Hdr, off)
            if ip is None:
                return 0
            return ip.ttl

        @noinline
        def proto_of(ctx: XdpMd) -> u32:
            eth = ctx.header(EthHdr)
            if eth is None:
                return 0
            return eth.h_proto

        @xdp
        def p(ctx):
            return ttl(ctx, ETH_HLEN) * 0x10000 + proto_of(ctx)
    """, bpf_backend, frame)
    assert rv == 9 * 0x10000 + 0x0800


def test_ringbuf_reserve_submit_discard(bpf_backend: str) -> None:
    from pybpf.objects.output import RunCapture
    spec = compile_source(HEAD + textwrap.dedent("""
        class Event(Struct):
            len: u32
            proto: u16
            pad: u16

        events = RingBuf(4096)

        @xdp
        def p(ctx):
            eth = ctx.header(EthHdr)
            if eth is None:
                return XDP_ABORTED
            e = events.reserve(Event)
            if e is None:
                return XDP_DROP
            e.len = 64
            e.proto = eth.h_proto
            if eth.h_proto == ETH_P_ARP:
                events.discard(e)
            else:
                events.submit(e)
            return XDP_PASS
    """), "rb.py").spec()
    with spec.instantiate(bpf_backend) as obj, RunCapture(obj) as cap:
        for proto in (0x0800, 0x0806, 0x86DD):
            assert obj.programs["p"].test_run(bytes(12) + proto.to_bytes(2, "big") +
                                              bytes(50)).retval == 2
    # (pad is not written: reserved memory is not cleared)
    assert [(r.value["len"], r.value["proto"]) for r in cap.records] == [(64, 0x0800),
                                                                         (64, 0x86DD)]


@pytest.mark.parametrize("a, b", [(7, 2), (-7, 2), (7, -2), (-7, -2), (6, -3), (-6, 3),
                                  (0, -5), (-(1 << 62), 3)])
def test_signed_floor_division_is_pythons(bpf_backend: str, a: int, b: int) -> None:
    spec = compile_source(HEAD + textwrap.dedent("""
        class In(Struct):
            a: i64
            b: i64

        out = ArrayMap(u32, i64, 2)

        @xdp
        def p(ctx):
            v = ctx.header(In)          # from the packet: nothing folds at compile time
            if v is None:
                return 0
            out.update(0, v.a // v.b)
            out.update(1, v.a % v.b)
            return 2
    """), "div.py").spec()
    data = struct.pack("<qq", a, b) + bytes(48)
    with spec.instantiate(bpf_backend) as obj:
        assert obj.programs["p"].test_run(data).retval == 2
        got = [int.from_bytes(obj.maps["out"][i.to_bytes(4, "little")], "little", signed=True)
               for i in (0, 1)]
    assert got == [a // b, a % b]
