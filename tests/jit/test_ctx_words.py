"""The context's words (pybpf.jit.layout.CtxWord): outside a batch, a JIT run serves the
4-byte context loads its program may make from words its program type's model fills
(ContextAccess.native_words) at each sync; a store Python does there puts the words it
reaches out of use. The results are the interpreter's: packet pointers before and
after a helper moves the packet, fields a store changed, cb[] bytes, loads the type
refuses, narrow loads; and the loads served so never reach Python."""

from __future__ import annotations

from typing import Any

import pytest

from pybpf import isa
from pybpf.builder import R0, R1, R2, R3, R6, R7, ObjectBuilder
from pybpf.jit import JitVM, available
from pybpf.jit.access import ctx_offsets
from pybpf.pcap import read_pcap
from pybpf.progtypes import test_run
from pybpf.progtypes.helpersets import helpers_for
from pybpf.uapi import ProgType
from pybpf.vm import VM
from tests.progtypes.test_skbrunner import EXAMPLES

pytestmark = pytest.mark.skipif(not available(), reason="llvmlite does not load here")


class Loads(JitVM):
    """A JitVM that records the loads that went through the Python callback."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.loads: list[tuple[int, int]] = []

    def _on_callback(self, stp: int, op: int, a: int, b: int, c: int, pc: int) -> int:
        if op == 1:  # Op.LOAD
            self.loads.append((a & 0xFFFF_FFFF, b))
        return super()._on_callback(stp, op, a, b, c, pc)


def _code(section: str, build: Any) -> bytes:
    ob = ObjectBuilder()
    p = ob.program("f", section)
    build(p)
    return isa.encode(ob.build().programs["f"].instructions)


def _xdp(p: Any) -> None:
    """data_end - data, data - data_meta, ingress_ifindex and rx_queue_index, then
    bpf_xdp_adjust_head(14) and data_end - data again (the words made again after the
    helper), each folded into r7; the packet's length decides whether it also loads
    egress_ifindex (refused for plain XDP: an error) or a byte of data (narrow)."""
    p.mov64(R6, R1).mov64(R7, 0)
    p.ldxw(R2, R6, 4).ldxw(R3, R6, 0).sub64(R2, R3).add64(R7, R2).mul64(R7, 31)
    p.ldxw(R2, R6, 0).ldxw(R3, R6, 8).sub64(R2, R3).add64(R7, R2).mul64(R7, 31)
    p.ldxw(R2, R6, 12).add64(R7, R2).ldxw(R2, R6, 16).add64(R7, R2).mul64(R7, 31)
    p.mov64(R1, R6).mov64(R2, 14).call("xdp_adjust_head").add64(R7, R0)
    p.ldxw(R2, R6, 4).ldxw(R3, R6, 0).sub64(R2, R3).add64(R7, R2).mul64(R7, 31)
    p.ldxw(R2, R6, 4).and64(R2, 7).jne(R2, 3, "narrow").ldxw(R2, R6, 20).add64(R7, R2)
    p.label("narrow").jne(R2, 5, "out").ldxb(R2, R6, 0).add64(R7, R2)
    p.label("out").mov64(R0, R7).and64(R0, 3).exit()


def _tc(p: Any) -> None:
    """len and protocol; mark = len + 1 and mark again (after the store, from Python);
    cb[1] = protocol and cb[1] again; tc_classid = 0x12345 (kept 0x2345) and again."""
    p.mov64(R6, R1).mov64(R7, 0)
    p.ldxw(R2, R6, 0).add64(R7, R2).ldxw(R3, R6, 16).xor64(R7, R3).mul64(R7, 31)
    p.add64(R2, 1).stxw(R6, 8, R2).ldxw(R2, R6, 8).xor64(R7, R2).mul64(R7, 31)
    p.stxw(R6, 52, R3).ldxw(R2, R6, 52).xor64(R7, R2).mul64(R7, 31)
    p.mov64(R2, 0x12345).stxw(R6, 72, R2).ldxw(R2, R6, 72).xor64(R7, R2)
    p.ldxw(R2, R6, 0).add64(R7, R2)
    p.mov64(R0, R7).mod64(R0, 7).exit()


@pytest.mark.parametrize("section,build,pt", [("xdp", _xdp, ProgType.XDP),
                                              ("tc", _tc, ProgType.SCHED_CLS)],
                         ids=["xdp", "tc"])
def test_context_words_give_the_interpreters_results(section: str, build: Any,
                                                     pt: ProgType) -> None:
    code = _code(section, build)
    assert ctx_offsets(isa.decode(code))
    interp = VM(code, helpers=helpers_for(pt))
    jit = Loads(code, helpers=helpers_for(pt))
    frames = [p.data for p in read_pcap(EXAMPLES / "traffic.pcap")][:120]
    frames += [f[:n] for f in frames[:3] for n in (14, 20, 29, 30, 35, 61)]
    results = set()
    for data in frames:
        outcomes = []
        for vm in (interp, jit):
            try:
                outcomes.append(("ok", test_run(vm, pt, data_in=data).retval))
            except Exception as e:  # noqa: BLE001  # the same error on both
                outcomes.append(("error", type(e).__name__, str(e)))
        assert outcomes[0] == outcomes[1], len(data)
        results.add(outcomes[0])
    assert len(results) >= 3
    ctx_loads = [(a, b) for a, b in jit.loads if b == 4]
    if pt == ProgType.XDP:  # Python loaded only what a word cannot hold: egress_ifindex
        assert ctx_loads and all(a & 0xFF == 20 for a, _ in ctx_loads)
    else:  # mark, cb[1] and tc_classid after their stores
        assert sorted({a & 0xFF for a, _ in ctx_loads}) == [8, 52, 72]


def test_the_firewall_loads_no_context_field_in_python() -> None:
    """The README's main job on one packet: xdp_md's fields come from words."""
    import pybpf
    with pybpf.load(str(EXAMPLES / "xdp_firewall.o")).instantiate("vm", engine="jit") as obj:
        prog = obj.programs["xdp_firewall"]
        vm = prog.handle
        seen: list[tuple[int, int]] = []
        on = vm._on_callback

        def spy(stp: int, op: int, a: int, b: int, c: int, pc: int) -> int:
            if op == 1:
                seen.append((a, b))
            return on(stp, op, a, b, c, pc)
        vm._on_callback = spy
        import ctypes

        from pybpf.jit.machine import CALLBACK
        vm._callback = CALLBACK(spy)
        vm._callback_addr = ctypes.cast(vm._callback, ctypes.c_void_p).value
        for p in read_pcap(EXAMPLES / "traffic.pcap")[:20]:
            prog.test_run(p.data)
    assert seen == []
