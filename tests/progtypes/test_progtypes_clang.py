"""clang-built C programs (tests/progtypes/data/clang) on the VM against the kernel.

Every program type the kernel can test_run and the VM models (XDP, socket filter,
sched_cls, sched_act, cgroup skb, lwt_in/out/xmit) has a C program that parses real
frames (Ethernet, VLAN, IPv4/IPv6 with options and extension headers, fragments,
TCP/UDP/ICMP checksums) and calls the packet helpers its type allows. Each object is
loaded by pybpf.objects on both backends; for each packet from the hypothesis
strategies (well-formed and malformed frames) the retval, data_out, ctx_out, every
map and every ring-buffer record must be equal. Values the kernel cannot reproduce
(clocks, random numbers, the CPU, the flow hash) go to maps of their own that are
compared by property instead: in range, monotonic, consistent within a run.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pybpf
from pybpf.errors import PyBPFError
from pybpf.maps import RingBufReader
from pybpf.objects.runner import dump_maps

from .progtypes_packets import FAULTS, packets

DATA = Path(__file__).resolve().parent / "data" / "clang"
pytestmark = pytest.mark.kernel

# Hypothesis: fixed examples (derandomize) so CI runs the same packets every time; the
# soak variants (-m slow) draw many more.
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SOAK = settings(FAST, max_examples=2000, derandomize=False)
# the fast tests take each operation of a program in turn (hypothesis alone draws a
# skewed mix of them), with this many frames each
PER_OP = settings(FAST, max_examples=10)

Outcome = tuple
CLOCK_MONOTONIC_COARSE = 6  # Linux clockid (the time module does not name it)


def _outcome(prog: Any, data: bytes, ctx_in: bytes | None, flags: int) -> Outcome:
    try:
        r = prog.test_run(data, ctx_in=ctx_in, flags=flags)
    except PyBPFError as e:
        err = getattr(e, "errno", None)
        if err is None:
            raise
        return ("err", errno.errorcode.get(err, err))
    return ("ok", r.retval, r.data_out, r.ctx_out)


def _fmt(o: Outcome) -> str:
    return "(" + ", ".join(x.hex() if isinstance(x, bytes) else repr(x) for x in o) + ")"


@dataclass
class Run:
    """One test run on both backends, with the host clocks read around it."""

    kernel: Outcome
    vm: Outcome
    before: dict[str, int]
    after: dict[str, int]


def _clocks() -> dict[str, int]:
    return {"mono": time.clock_gettime_ns(time.CLOCK_MONOTONIC),
            "coarse": time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE),
            "boot": time.clock_gettime_ns(time.CLOCK_BOOTTIME),
            "tai": time.clock_gettime_ns(time.CLOCK_TAI)}


@dataclass
class Pair:
    """One object instantiated in the kernel and on the VM; runs go to both, and the
    maps (but for the `by_property` ones) and ring buffers are compared after each."""

    name: str
    by_property: frozenset[str] = frozenset()
    kernel: Any = None
    vm: Any = None
    readers: dict[str, tuple[RingBufReader, RingBufReader]] = field(default_factory=dict)
    runs: int = 0
    dirty: bool = False  # the last comparison failed: the VM's maps may differ

    def open(self) -> Pair:
        spec = pybpf.load(DATA / f"{self.name}.o")
        self.kernel = spec.instantiate("kernel")  # the kernel verifies these objects
        # verify=False: the point is the helpers' results on both backends; pybpf's
        # verifier takes minutes on these large helper objects until precision tracking
        # lets it prune (`pybpf fuzz verify --objects` compares them with the kernel)
        self.vm = spec.instantiate("vm", verify=False)
        for name, m in self.kernel.maps.items():
            if spec.maps[name].type_name == "ringbuf":
                self.readers[name] = (RingBufReader(m), RingBufReader(self.vm.maps[name]))
        return self

    def close(self) -> None:
        for k, v in self.readers.values():
            k.close()
            v.close()
        self.kernel.close()
        self.vm.close()

    def set(self, map_name: str, key: bytes, value: bytes) -> None:
        self.kernel.maps[map_name][key] = value
        self.vm.maps[map_name][key] = value

    def set_prog(self, map_name: str, slot: int, prog: str) -> None:
        """Put program `prog` of this object in slot `slot` of a program array."""
        for obj in (self.kernel, self.vm):
            obj.maps[map_name].update(slot.to_bytes(4, "little"), obj.programs[prog].handle)

    def run(self, prog: str, data: bytes, ctx_in: bytes | None = None, flags: int = 0) -> Run:
        self.runs += 1
        before = _clocks()
        k = _outcome(self.kernel.programs[prog], data, ctx_in, flags)
        v = _outcome(self.vm.programs[prog], data, ctx_in, flags)
        after = _clocks()
        return Run(k, v, before, after)

    def sync(self) -> None:
        """Copy the kernel's maps into the VM's and drain the ring buffers, so that the
        next example starts from equal state after a failed one (hypothesis then
        shrinks to the example that differs, not to any example after it)."""
        skip = ("prog_array", "ringbuf")
        for name, km in self.kernel.maps.items():
            if self.kernel.spec.maps[name].type_name in skip or name in self.by_property:
                continue
            vm = self.vm.maps[name]
            want = dict(km.items())
            if "hash" in self.kernel.spec.maps[name].type_name:
                for k in [k for k in vm.keys() if k not in want]:
                    vm.delete(k)
            for k, v in want.items():
                vm.update(k, v)
        for kr, vr in self.readers.values():
            kr.poll(0)
            vr.poll(0)

    def same(self, prog: str, data: bytes, ctx_in: bytes | None = None,
             flags: int = 0) -> Run:
        """Run, then require equal outcomes, maps and ring-buffer records."""
        if self.dirty:
            self.sync()
        self.dirty = True
        r = self.run(prog, data, ctx_in, flags)
        ctx = f"\nprogram {self.name}:{prog} data {data.hex()}\nctx_in " \
              f"{ctx_in.hex() if ctx_in else None} flags {flags}"
        assert r.vm == r.kernel, f"\nkernel: {_fmt(r.kernel)}\nvm:     {_fmt(r.vm)}{ctx}"
        km, vm = self.maps()
        for name in sorted(set(km) | set(vm)):
            assert vm.get(name) == km.get(name), \
                f"map {name}:\nkernel: {km.get(name)}\nvm:     {vm.get(name)}{ctx}"
        for name, (kr, vr) in self.readers.items():
            krec, vrec = kr.poll(0), vr.poll(0)
            assert [x.hex() for x in vrec] == [x.hex() for x in krec], f"ringbuf {name}{ctx}"
        self.dirty = False
        return r

    def maps(self) -> tuple[dict, dict]:
        """Both backends' maps as {name: sorted entries} (hash maps iterate in their own
        order)."""
        def norm(obj: Any) -> dict:
            return {n: sorted(repr(e) for e in v) for n, v in dump_maps(obj).items()
                    if n not in self.by_property}
        return norm(self.kernel), norm(self.vm)

    def raw(self, backend: str, map_name: str, key: int = 0) -> bytes:
        obj = self.kernel if backend == "kernel" else self.vm
        m = obj.maps[map_name]
        return bytes(m[key.to_bytes(m.key_size, "little")])


_PAIRS: dict[str, Pair] = {}


@pytest.fixture(scope="module", autouse=True)
def _cpu0(on_cpu0: None) -> Any:
    """Per-CPU maps: the kernel's runs count on CPU 0, as the VM's do; the loaded
    pairs are closed after the module."""
    yield
    for p in _PAIRS.values():
        p.close()
    _PAIRS.clear()


def pair(name: str, by_property: frozenset[str] = frozenset()) -> Pair:
    """The object `name`, opened once per module on both backends."""
    if name not in _PAIRS:
        _PAIRS[name] = Pair(name, by_property).open()
    return _PAIRS[name]


# --- XDP -------------------------------------------------------------------------------

XDP_OPS = {"parse": 0, "vlan_pop": 1, "vlan_push": 2, "tail": 3, "meta": 4, "ttl": 5,
           "echo": 6, "redirect": 7, "trim": 8, "encap": 9, "store": 10, "head": 11}


@st.composite
def xdp_case(draw: st.DrawFn, op: int | None = None
             ) -> tuple[bytes, int, int, int, bytes | None]:
    """(frame, op, arg, arg2, ctx_in) for xdp_prog.o (any operation when `op` is None)."""
    data = draw(packets(min_size=draw(st.sampled_from([14] * 9 + [0])), max_size=3000))
    if op is None:
        op = draw(st.sampled_from(sorted(XDP_OPS.values())))
    arg = {2: draw(st.integers(0, 0xFFFF)),
           3: draw(st.sampled_from([-300, -60, -14, -1, 0, 1, 4, 100, 3000,
                                    draw(st.integers(-400, 400))])),
           4: draw(st.sampled_from([0, 4, 8, 32, 36, 3, 252, 256])),
           7: draw(st.sampled_from([0, 1, 2, 1000])),
           10: draw(st.integers(-4, len(data) + 4)),
           11: draw(st.sampled_from([-256, -217, -216, -215, -100, -14, -1, 0, 1, 14,
                                     len(data) - 14, len(data) - 13, len(data),
                                     draw(st.integers(-300, len(data) + 8))]))}.get(op, 0)
    arg2 = draw(st.sampled_from([0, 0, 1, 8])) if op == 7 else draw(st.integers(0, 2**32 - 1))
    if op == 11:
        arg2 = draw(st.sampled_from([0, 4, 8, 32, 40, 256, 3]))
    ctx_in = None
    if draw(st.integers(0, 3)) == 0:
        meta = draw(st.sampled_from([0, 4, 8, 12]))
        meta = min(meta, len(data) & ~3)
        ctx_in = struct.pack("<6I", meta, len(data), 0, 1, 0, 0)
    return data, op, arg, arg2, ctx_in


def xdp_check(case: tuple[bytes, int, int, int, bytes | None]) -> None:
    data, op, arg, arg2, ctx_in = case
    p = pair("xdp_prog")
    seq = struct.unpack_from("<I", p.raw("kernel", "xdp_cfg"), 12)[0]
    p.set("xdp_cfg", bytes(4), struct.pack("<IiII", op, arg, arg2, seq))
    p.same("xdp_main", data, ctx_in)


@pytest.mark.parametrize("op", sorted(XDP_OPS), ids=sorted(XDP_OPS))
@given(data=st.data())
@PER_OP
def test_clang_xdp(op: str, data: st.DataObject) -> None:
    xdp_check(data.draw(xdp_case(XDP_OPS[op])))


@pytest.mark.slow
@given(xdp_case())
@SOAK
def test_clang_xdp_soak(case: tuple) -> None:
    xdp_check(case)



@st.composite
def frags_case(draw: st.DrawFn) -> tuple[bytes, int, int, int, bytes | None]:
    """(frame, op, arg, arg2, ctx_in) for xdp_frags.o: frames from a few bytes to several
    pages (multi-buffer test runs)."""
    head = draw(packets(min_size=0, max_size=1500))
    size = draw(st.sampled_from([len(head), 3000, 3520, 3521, 4000, 5000, 9000, 20000]))
    pattern = draw(st.binary(min_size=1, max_size=64))
    data = (head + pattern * (size // len(pattern) + 1))[:size]
    n = len(data)
    op = draw(st.integers(0, 3))
    arg = {1: draw(st.sampled_from([-n, -n + 1, -4000, -3000, -600, -1, 0, 1, 64, 500, 4096,
                                    draw(st.integers(-n, 800))])),
           2: draw(st.sampled_from([0, 3512, 3516, 3520, 3524, n - 8, n - 7, n,
                                    draw(st.integers(0, n))])),
           3: draw(st.sampled_from([-256, -14, -1, 0, 14, 100, 3600]))}.get(op, 0)
    ctx_in = None
    if draw(st.integers(0, 3)) == 0:
        ctx_in = struct.pack("<6I", 0, min(n, draw(st.sampled_from([n, 3520, 100]))), 0, 1,
                             0, 0)
    return data, op, arg, draw(st.integers(0, 2**64 - 1)), ctx_in


def frags_check(case: tuple) -> None:
    data, op, arg, arg2, ctx_in = case
    p = pair("xdp_frags")
    p.set("frags_cfg", bytes(4), struct.pack("<IiQ", op, arg, arg2))
    p.same("xdp_frags_main", data, ctx_in)


@given(frags_case())
@settings(FAST, max_examples=40)
def test_clang_xdp_frags(case: tuple) -> None:
    frags_check(case)


@pytest.mark.slow
@given(frags_case())
@SOAK
def test_clang_xdp_frags_soak(case: tuple) -> None:
    frags_check(case)

# --- tc: sched_cls and sched_act ---------------------------------------------------------

BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2
TC_OPS = {"fields": 0, "nat4": 1, "store": 2, "csum": 3, "level": 4, "vlan_push": 5,
          "vlan_pop": 6, "proto": 7, "type": 8, "head": 9, "tail": 10, "room": 11,
          "pull": 12, "hash": 13, "redirect": 14, "tail_call": 15, "load": 16}
ADJ_FLAGS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 2 | 8, 2 | 16, 4 | 16, 2 | 64, 1 | 32, 0x200,
             2 | 16 | 64, 4 | 8 | 64, 2 | 4, 8 | 16, 128 | 256, 1 | 128, 32 | 256]


def htons(v: int) -> int:
    return int.from_bytes(v.to_bytes(2, "big"), "little")


@st.composite
def skb_ctx(draw: st.DrawFn, cb: list[int], size: int) -> bytes:
    """A struct __sk_buff for ctx_in: the fields a test run accepts (convert___skb_to_skb),
    usually valid, sometimes not (the kernel's refusal is compared too)."""
    ctx = bytearray(192)
    struct.pack_into("<I", ctx, 8, draw(st.integers(0, 2**32 - 1)))       # mark
    struct.pack_into("<I", ctx, 32, draw(st.integers(0, 2**32 - 1)))      # priority
    struct.pack_into("<I", ctx, 36, draw(st.sampled_from([0, 0, 1, 7])))  # ingress_ifindex
    struct.pack_into("<I", ctx, 40, draw(st.sampled_from([0, 0, 1])))     # ifindex
    struct.pack_into("<5I", ctx, 48, *cb)
    if draw(st.integers(0, 3)) == 0:
        struct.pack_into("<Q", ctx, 152, draw(st.integers(0, 2**64 - 1)))  # tstamp
        struct.pack_into("<I", ctx, 160, draw(st.sampled_from(
            [0, size, size + 100, 65536, max(size - 1, 0)])))               # wire_len
        struct.pack_into("<I", ctx, 164, draw(st.sampled_from([0, 1, 65535, 65536])))
        struct.pack_into("<I", ctx, 176, draw(st.sampled_from([0, 1, 1400])))
        struct.pack_into("<Q", ctx, 184, draw(st.integers(0, 2**64 - 1)))  # hwtstamp
    if draw(st.integers(0, 30)) == 0:
        ctx[draw(st.integers(0, 191))] ^= 0xFF   # maybe a field ctx_in may not set
    return bytes(ctx)


@st.composite
def tc_case(draw: st.DrawFn, op: int | None = None) -> tuple[bytes, bytes, int]:
    """(frame, ctx_in, flags) for tc_prog.o: the operation (any when `op` is None) and
    its arguments in cb[]."""
    if op is None:
        op = draw(st.sampled_from(sorted(TC_OPS.values())))
    # NAT wants IPv4 with (or, for UDP, without) correct checksums
    faults = ("none", "udp_nocsum", "l4_csum", "truncate") if op == TC_OPS["nat4"] else FAULTS
    data = draw(packets(min_size=draw(st.sampled_from([14] * 9 + [0])), faults=faults))
    n = len(data)
    u32 = st.integers(0, 2**32 - 1)
    cb1, cb2, cb3, cb4 = draw(u32), draw(u32), draw(u32), 0
    if op == TC_OPS["nat4"]:
        cb2 = draw(st.integers(0, 7))
    elif op == TC_OPS["store"]:
        cb1 = draw(st.sampled_from([0, 6, 12, 14, 26, n - 4, n - 3, n, 2**31,
                                    draw(st.integers(0, n + 4))])) & 0xFFFFFFFF
        cb3 = draw(st.integers(0, 7))
    elif op == TC_OPS["csum"]:
        cb1 = draw(st.integers(0, n + 4))
    elif op == TC_OPS["level"]:
        cb1 = draw(st.integers(0, 7))
    elif op == TC_OPS["vlan_push"]:
        cb1 = draw(st.sampled_from([htons(0x8100), htons(0x88A8), 0x0081, draw(u32)]))
        cb2 = draw(st.integers(0, 0xFFFF))
        cb3 = draw(st.integers(0, 1))
    elif op == TC_OPS["proto"]:
        cb1, cb2 = draw(st.integers(0, 1)), draw(st.sampled_from([0, 0, 0, 1]))
    elif op == TC_OPS["type"]:
        cb1 = draw(st.integers(0, 5))
    elif op == TC_OPS["head"]:
        cb1 = draw(st.sampled_from([0, 4, 14, 64, 100, 4000, 0x10000, draw(u32)]))
        cb2 = draw(st.sampled_from([0, 0, 0, 1]))
    elif op == TC_OPS["tail"]:
        cb1 = draw(st.sampled_from([0, 13, 14, 20, 34, max(n - 10, 0), n, n + 10, 3000, 20000,
                                    draw(st.integers(0, n + 64))]))
        cb2 = draw(st.sampled_from([0, 0, 0, 1]))
    elif op == TC_OPS["room"]:
        cb1 = draw(st.sampled_from([-40, -20, -8, -4, -1, 0, 4, 8, 14, 20, 28, 40, 0x1000,
                                    draw(st.integers(-64, 64))])) & 0xFFFFFFFF
        cb2 = draw(st.sampled_from([0, 1, 2]))
        cb3 = draw(st.sampled_from(ADJ_FLAGS + [draw(st.integers(0, 0x1FF))]))
        cb4 = draw(st.sampled_from([0, 0, 0, 14 << 24, 4 << 24, 20 << 24]))
    elif op == TC_OPS["pull"]:
        cb1 = draw(st.sampled_from([0, 1, 14, 34, n, n + 1, 5000]))
    elif op == TC_OPS["redirect"]:
        cb1, cb2 = draw(st.sampled_from([1, 2, 99])), draw(st.sampled_from([0, 1, 2]))
    elif op == TC_OPS["tail_call"]:
        cb1 = draw(st.sampled_from([0, 1, 2, 3, 100]))
    elif op == TC_OPS["load"]:
        cb1 = draw(st.sampled_from([0, 6, 14, n - 8, n - 7, 0xFFFF, 0x10000, 2**31,
                                    draw(st.integers(0, n + 8))])) & 0xFFFFFFFF
    ctx = draw(skb_ctx([op, cb1, cb2, cb3, cb4], n))
    flags = draw(st.sampled_from([0, 0, BPF_F_TEST_SKB_CHECKSUM_COMPLETE]))
    return data, ctx, flags


def tc_pair() -> Pair:
    p = pair("tc_prog", frozenset(["tc_hash"]))
    if p.runs == 0:
        p.set_prog("tc_jmp", 0, "tc_tail_mark")
        p.set_prog("tc_jmp", 1, "tc_tail_loop")
    return p


_FLOW_HASHES: dict[tuple[str, bytes], int] = {}


def check_hash(p: Pair, slot: int, expect_runs: int, frame: bytes, ran: bool) -> None:
    """get_hash_recalc after set_hash_invalid: the kernel's flow hash is keyed by a
    per-boot secret, so the VM's stand-in is compared by property: non-zero, stable
    within a run, equal to skb->hash read after it, and the same for the same frame in
    another run."""
    for backend in ("kernel", "vm"):
        h_inv, h_again, field_hash, runs = struct.unpack("<4Q", p.raw(backend, "tc_hash", slot))
        assert runs == expect_runs, backend
        if runs:
            assert 0 < h_inv < 2**32, backend
            assert h_again == h_inv == field_hash, backend
        if ran:
            assert _FLOW_HASHES.setdefault((backend, frame), h_inv) == h_inv, backend


def tc_check(case: tuple, prog: str) -> None:
    data, ctx, flags = case
    p = tc_pair()
    slot = 0 if prog == "tc_main" else 1
    runs_before = struct.unpack("<4Q", p.raw("kernel", "tc_hash", slot))[3]
    r = p.same(prog, data, ctx, flags)
    ran_hash = r.kernel[0] == "ok" and struct.unpack_from("<I", ctx, 48)[0] == TC_OPS["hash"]
    check_hash(p, slot, runs_before + ran_hash, data, ran_hash)


TC_PARAMS = [(prog, op) for prog in ("tc_main", "act_main") for op in sorted(TC_OPS)
             if not (prog == "act_main" and op == "tail_call")]


@pytest.mark.parametrize("prog,op", TC_PARAMS, ids=[f"{p}-{o}" for p, o in TC_PARAMS])
@given(data=st.data())
@settings(PER_OP, max_examples=6)
def test_clang_tc(prog: str, op: str, data: st.DataObject) -> None:
    tc_check(data.draw(tc_case(TC_OPS[op])), prog)



@pytest.mark.parametrize("room", [0x10000, 0x3FFE40, 0x3FFE41, 0x400000, 0x7FFFFFFF,
                                  0x80000000, 0xFFFFFF37])
@pytest.mark.parametrize("gso_size", [0, 1])
def test_clang_tc_change_head_limits(room: int, gso_size: int) -> None:
    """bpf_skb_change_head with a head room only a GSO skb may ask for: a negative (int)
    room is -EINVAL, a reallocation past the largest kmalloc -ENOMEM (found by
    test_clang_tc: the VM used to grow the buffer without limit)."""
    ctx = bytearray(192)
    struct.pack_into("<5I", ctx, 48, TC_OPS["head"], room, 0, 0, 0)
    struct.pack_into("<I", ctx, 176, gso_size)
    tc_pair().same("tc_main", bytes(14) + bytes(range(100)), bytes(ctx))

@pytest.mark.slow
@pytest.mark.parametrize("prog", ["tc_main", "act_main"])
@given(case=tc_case())
@SOAK
def test_clang_tc_soak(prog: str, case: tuple) -> None:
    tc_check(case, prog)


# --- socket filter (and the clocks, by property) -------------------------------------------

CLOCKS = struct.Struct("<6Q4IQ")
JIFFIES_HZ_MAX = 1000  # CONFIG_HZ is at most 1000 (the VM counts milliseconds)


@dataclass
class ClockCheck:
    """The non-deterministic helpers, compared by property on each backend: the time
    helpers lie between the host clocks read around the run (ktime_get_ns twice in a run,
    non-decreasing; coarse between the coarse clock before and the fine one after; boot
    and TAI on their clocks), jiffies never go back and advance at most HZ_MAX per
    second, random numbers are u32 and not all equal, the CPU is below nproc, the NUMA
    node 0."""

    last: dict[str, tuple[int, int]] = field(default_factory=dict)  # backend -> (mono, jiffies)
    randoms: dict[str, set[int]] = field(default_factory=dict)

    def check(self, p: Pair, r: Run) -> None:
        runs_seen = set()
        for backend in ("kernel", "vm"):
            (mono0, boot, coarse, tai, jiffies, mono1, rnd0, rnd1, cpu, numa,
             runs) = CLOCKS.unpack(p.raw(backend, "clocks"))
            where = f"{backend}: {r.before} <= {(mono0, boot, coarse, tai, jiffies, mono1)} " \
                    f"<= {r.after}"
            assert r.before["mono"] <= mono0 <= mono1 <= r.after["mono"], where
            assert r.before["boot"] <= boot <= r.after["boot"], where
            assert r.before["coarse"] <= coarse <= r.after["mono"], where
            assert r.before["tai"] <= tai <= r.after["tai"], where
            assert cpu < (os.cpu_count() or 1) and numa == 0, where
            prev = self.last.get(backend)
            if prev is not None:
                assert prev[0] <= mono0, where
                assert prev[1] <= jiffies, where
                elapsed = r.after["mono"] - prev[0]
                assert jiffies - prev[1] <= elapsed * JIFFIES_HZ_MAX // 10**9 + 2, where
            self.last[backend] = (mono0, jiffies)
            self.randoms.setdefault(backend, set()).update([rnd0, rnd1])
            runs_seen.add(runs)
        assert len(runs_seen) == 1, f"runs counted in `clocks` differ: {runs_seen}"

    def check_random(self) -> None:
        for backend, seen in self.randoms.items():
            assert all(0 <= x < 2**32 for x in seen)
            assert len(seen) > 1, f"{backend}: get_prandom_u32 gave one value only"


_CLOCKS = ClockCheck()


@st.composite
def sf_case(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    data = draw(packets(min_size=14))
    keep = draw(st.sampled_from([0, 1, 2, 3]))
    cb = [keep, draw(st.sampled_from([0, 1, 13, 14, 60, len(data), 0xFFFFFFFF])),
          draw(st.integers(0, 2**32 - 1)), 0, 0]
    ctx = draw(skb_ctx(cb, len(data))) if draw(st.integers(0, 4)) else None
    return data, ctx


def sf_check(case: tuple) -> None:
    data, ctx = case
    p = pair("sockfilter", frozenset(["clocks"]))
    r = p.same("sf_main", data, ctx)
    if r.kernel[0] == "ok":
        _CLOCKS.check(p, r)


@given(sf_case())
@FAST
def test_clang_socket_filter(case: tuple) -> None:
    sf_check(case)
    if len(_CLOCKS.randoms.get("kernel", ())) > 8:
        _CLOCKS.check_random()


@pytest.mark.slow
@given(sf_case())
@SOAK
def test_clang_socket_filter_soak(case: tuple) -> None:
    sf_check(case)


# --- cgroup skb ------------------------------------------------------------------------------

@st.composite
def l3_case(draw: st.DrawFn, ops: list[int], arg1: Callable[[int, int], Any]) -> tuple:
    """`ops`: the operations to draw from (one for the per-operation fast tests)."""
    """(frame, ctx_in) for the programs that see the packet from its network header;
    cb[0] the operation, cb[1] from `arg1(op, len)`."""
    data = draw(packets(min_size=14))
    op = draw(st.sampled_from(ops))
    cb = [op, draw(arg1(op, len(data))) & 0xFFFFFFFF, draw(st.integers(0, 2**32 - 1)),
          draw(st.integers(0, 2**32 - 1)), 0]
    ctx = draw(skb_ctx(cb, len(data))) if draw(st.integers(0, 5)) else None
    return data, ctx


def _cg_arg(op: int, n: int) -> st.SearchStrategy[int]:
    return st.sampled_from([0, 1, 13, 14, 20, 40, 200, n])


@pytest.mark.parametrize("prog", ["cg_ingress", "cg_egress"])
@given(case=l3_case(list(range(8)), _cg_arg))
@FAST
def test_clang_cgroup_skb(prog: str, case: tuple) -> None:
    pair("cgroup_prog").same(prog, *case)


@pytest.mark.slow
@pytest.mark.parametrize("prog", ["cg_ingress", "cg_egress"])
@given(case=l3_case(list(range(8)), _cg_arg))
@SOAK
def test_clang_cgroup_skb_soak(prog: str, case: tuple) -> None:
    pair("cgroup_prog").same(prog, *case)


# --- LWT ---------------------------------------------------------------------------------------

def _lwt_arg(op: int, n: int) -> st.SearchStrategy[int]:
    if op in (2, 3, 8):      # pull / load / change_tail lengths and offsets
        return st.sampled_from([0, 1, 14, 19, 20, 40, n - 14, n - 8, n, n + 6, 3000, 0x7FFFFFFF])
    if op == 7:              # change_head room
        return st.sampled_from([0, 14, 18, 100, 0x10000])
    if op == 9:              # store offset
        return st.sampled_from([0, 8, 12, 16, n - 18, n - 14, n])
    if op == 10:             # redirect ifindex
        return st.sampled_from([0, 1, 2])
    return st.integers(0, 2**32 - 1)


def lwt_check(obj: str, prog: str, slot: int, case: tuple) -> None:
    data, ctx = case
    p = pair(obj, frozenset(["lwt_hash"]))
    before = struct.unpack("<4Q", p.raw("kernel", "lwt_hash", slot))[2]
    r = p.same(prog, data, ctx)
    for backend in ("kernel", "vm"):
        h0, h1, runs, _ = struct.unpack("<4Q", p.raw(backend, "lwt_hash", slot))
        assert runs in (before, before + 1) and runs == struct.unpack(
            "<4Q", p.raw("kernel", "lwt_hash", slot))[2], backend
        if runs:
            # get_hash_recalc: non-zero, stable within a run (the value is the kernel's
            # keyed flow hash, a stand-in on the VM)
            assert 0 < h0 < 2**32 and h0 == h1, backend
    del r


LWT_CASES = [("lwt_prog", "lwt_in_main", 0, list(range(5))),
             ("lwt_prog", "lwt_out_main", 1, list(range(5))),
             ("lwt_xmit", "lwt_xmit_main", 2, list(range(12)))]


LWT_PARAMS = [(obj, prog, slot, op) for obj, prog, slot, ops in LWT_CASES for op in ops]


@pytest.mark.parametrize("obj,prog,slot,op", LWT_PARAMS,
                         ids=[f"{c[1]}-{c[3]}" for c in LWT_PARAMS])
@given(data=st.data())
@settings(PER_OP, max_examples=6)
def test_clang_lwt(obj: str, prog: str, slot: int, op: int, data: st.DataObject) -> None:
    lwt_check(obj, prog, slot, data.draw(l3_case([op], _lwt_arg)))


@pytest.mark.slow
@pytest.mark.parametrize("obj,prog,slot,ops", LWT_CASES, ids=[c[1] for c in LWT_CASES])
@given(data=st.data())
@SOAK
def test_clang_lwt_soak(obj: str, prog: str, slot: int, ops: list[int],
                        data: st.DataObject) -> None:
    lwt_check(obj, prog, slot, data.draw(l3_case(ops, _lwt_arg)))
