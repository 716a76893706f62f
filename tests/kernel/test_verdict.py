"""The kernel oracle: verdicts with chosen capabilities, the first error line, maps
passed by index, figures from BPF_LOG_STATS, a log longer than the buffer."""

from __future__ import annotations

import pytest

from pybpf.asm import assemble_insns
from pybpf.kernel.verdict import (
    ALL_CAPS,
    KernelOracle,
    first_error_line,
    kernel_verdict,
    parse_caps,
)
from pybpf.maps.spec import MapSpec

XDP, KPROBE, SOCKET_FILTER = 6, 2, 1
UNPRIV = "bpf,net_admin"

ACCEPTED = "r0 = 2\nexit"
UNCHECKED_PACKET = "r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 0)\nexit"
UNINIT_STACK = "r0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit"
LOOKUP_LEAK = """
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
r1 = map_fd(0)
call map_lookup_elem
if r0 == 0 goto out
*(u64 *)(r0 + 0) = r10
out:
r0 = 0
exit
"""


# --- no kernel needed ------------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [
    ("all", ALL_CAPS), ("none", frozenset()), ("", frozenset()),
    ("bpf,net_admin", {"bpf", "net_admin"}), ("CAP_BPF, cap_perfmon", {"bpf", "perfmon"}),
    (["sys_admin"], {"sys_admin"}), (None, ALL_CAPS)])
def test_parse_caps(text, want) -> None:
    assert parse_caps(text) == want


def test_parse_caps_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="bpf, net_admin, perfmon, sys_admin"):
        parse_caps("bpf,root")


@pytest.mark.parametrize("log, want", [
    (("0: R1=ctx() R10=fp0\n0: (bf) r0 = r3\nR3 !read_ok\nprocessed 1 insns (limit 1000000) "
     "max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"), "R3 !read_ok"),
    # the packet error: the first line, not the detail after it
    (("0: R1=ctx() R10=fp0\n0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2=pkt(r=0)\n"
     "1: (71) r0 = *(u8 *)(r2 +0)\ninvalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)\n"
     "R2 offset is outside of the packet\nverification time 36 usec\nstack depth 0\n"),
     "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)"),
    (("func#0 @0\nLive regs before insn:\n      0: .......... (b7) r10 = 0\n"
     "0: R1=ctx() R10=fp0\n0: (b7) r10 = 0\nframe pointer is read only\n"),
     "frame pointer is read only"),
    (("infinite loop detected at insn 2\ncur state: R0=scalar() R1=scalar() R10=fp0\n"
     "old state: R0=scalar() R1=scalar() R10=fp0\nverification time 557 usec\n"),
     "infinite loop detected at insn 2"),
    (("from 4 to 6: R0=map_value(map=m,ks=4,vs=8) R10=fp0\n6: R0=map_value() R10=fp0\n"
     "frame1: R1=ctx() R10=fp0\nmark_precise: frame0: last_idx 5 first_idx 0\n"
     "; return *p; @ x.c:12\nR0 invalid mem access 'map_value_or_null'\n"),
     "R0 invalid mem access 'map_value_or_null'"),
    ("verification time 48 usec\nstack depth 0\nprocessed 2 insns (limit 1000000)\n", None),
    ("", None),
])
def test_first_error_line(log: str, want: str | None) -> None:
    assert first_error_line(log) == want


# --- the kernel ------------------------------------------------------------------------------

@pytest.mark.kernel
@pytest.mark.parametrize("caps", ["all", UNPRIV])
def test_known_accepted_and_refused(caps: str) -> None:
    ok = kernel_verdict(assemble_insns(ACCEPTED), XDP, caps=caps)
    assert ok.accepted and ok.error_line is None and ok.errno == 0
    assert ok.insns_processed == 2 and ok.verify_us is not None
    bad = kernel_verdict(assemble_insns(UNCHECKED_PACKET), XDP, caps=caps)
    assert not bad.accepted and bad.errno_name == "EACCES"
    assert bad.error_line.startswith("invalid access to packet, off=0 size=1")
    assert "1: (71) r0 = *(u8 *)(r2 +0)" in bad.log


@pytest.mark.kernel
def test_capabilities_change_the_verdict() -> None:
    with KernelOracle() as o:
        # a pointer stored into a map: allowed with CAP_PERFMON, a leak without
        m = [MapSpec("hash", 4, 8, 4)]
        assert o.verdict(assemble_insns(LOOKUP_LEAK), SOCKET_FILTER, maps=m).accepted
        leak = o.verdict(assemble_insns(LOOKUP_LEAK), SOCKET_FILTER, maps=m, caps=UNPRIV)
        assert not leak.accepted and leak.error_line == "R10 leaks addr into map"
        # reading uninitialised stack: likewise
        assert o.verdict(assemble_insns(UNINIT_STACK), XDP).accepted
        un = o.verdict(assemble_insns(UNINIT_STACK), XDP, caps=UNPRIV)
        assert not un.accepted and "invalid read from stack" in un.error_line
        # kprobe programs need CAP_PERFMON: refused before verification, no log
        kp = o.verdict(assemble_insns("r0 = 0\nexit"), KPROBE, caps=UNPRIV)
        assert not kp.accepted and kp.errno_name == "EPERM" and kp.error_line is None
        assert o.verdict(assemble_insns("r0 = 0\nexit"), KPROBE, caps="perfmon,bpf").accepted


@pytest.mark.kernel
def test_many_programs_through_one_worker(fd_count) -> None:
    with KernelOracle() as o:
        o.verdict(assemble_insns(ACCEPTED), XDP)
        before = fd_count()
        m = [MapSpec("array", 4, 8, 1)]
        prog = assemble_insns(LOOKUP_LEAK)
        for i in range(200):
            v = o.verdict(prog, SOCKET_FILTER, maps=m, caps=("all", UNPRIV)[i % 2])
            assert v.accepted == (i % 2 == 0)
        # the array map was made once; only the second worker's socket is new
        assert fd_count() - before <= 2


@pytest.mark.kernel
def test_a_log_longer_than_the_buffer_keeps_the_verdict() -> None:
    loop = assemble_insns("r1 = 0\nl: r1 += 1\nif r1 < 200 goto l\nr0 = 0\nexit")
    bad = assemble_insns("r1 = 0\nl: r1 += 1\nif r1 < 200 goto l\nr0 = r3\nexit")
    with KernelOracle(log_size=4096) as o:
        v = o.verdict(loop, XDP, log_level=1)
        assert v.accepted and v.log_truncated and v.insns_processed > 400
        w = o.verdict(bad, XDP, log_level=1)
        assert not w.accepted and w.log_truncated and w.error_line == "R3 !read_ok"


@pytest.mark.kernel
def test_prog_arrays_are_made_per_program() -> None:
    # a prog_array is bound to the type of the first program that uses it: one per load
    tail = assemble_insns("r2 = map_fd(0)\nr3 = 0\ncall tail_call\nr0 = 0\nexit")
    m = [MapSpec("prog_array", 4, 4, 2)]
    with KernelOracle() as o:
        assert o.verdict(tail, XDP, maps=m).accepted
        assert o.verdict(tail, SOCKET_FILTER, maps=m).accepted


@pytest.mark.kernel
def test_level_two_and_bad_arguments() -> None:
    v = kernel_verdict(assemble_insns(ACCEPTED), XDP, log_level=2)
    assert v.accepted and "0: (b7) r0 = 2" in v.log
    with pytest.raises(ValueError):
        kernel_verdict(assemble_insns(ACCEPTED), XDP, log_level=3)
    with pytest.raises(ValueError):
        kernel_verdict(assemble_insns(ACCEPTED), XDP, caps="root")


@pytest.mark.kernel
def test_btf_func_info_for_callbacks() -> None:
    """An object program with a callback needs its BTF and func_info: with them the
    kernel accepts it, without them it says so."""
    from pathlib import Path

    from pybpf import load
    from pybpf.tools.verifygen.objects import program_case
    root = Path(__file__).resolve().parents[2]
    spec = load(str(root / "tests/elf/data/linking.o"))
    case = program_case(spec, "prog_a")
    assert case.btf and case.func_info
    with KernelOracle() as o:
        ok = o.verdict(case.insns, case.prog_type, maps=case.maps, btf=case.btf,
                       func_info=case.func_info)
        assert ok.accepted, ok.error_line
        no = o.verdict(case.insns, case.prog_type, maps=case.maps)
        assert not no.accepted and no.error_line == "missing btf func_info"
        bad = o.verdict(case.insns, case.prog_type, maps=case.maps, btf=b"\x9f\xeb",
                        func_info=case.func_info)
        assert not bad.accepted and bad.error_line.startswith("BPF_BTF_LOAD")
