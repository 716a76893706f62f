"""pybpf.BPF: BCC's Python API (text=C compiled at run time, b["map"], attach_*,
trace_print/trace_fields) on the VM and in the kernel."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

import pybpf
from pybpf.bcc import BPFError
from pybpf.frontend import c as cfront

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.skipif(shutil.which("clang") is None and cfront._zig_lib() is None,
                                reason="no clang and no ziglang")

XDP = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64);
         __uint(max_entries, 16); } lengths SEC(".maps");
SEC("xdp") int count(struct xdp_md *ctx) {
    __u32 len = ctx->data_end - ctx->data;
    __u64 one = 1, *v = bpf_map_lookup_elem(&lengths, &len);
    if (v) __sync_fetch_and_add(v, 1); else bpf_map_update_elem(&lengths, &len, &one, 0);
    bpf_printk("len %u", len);
    return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_bpf_text_tables_and_trace(bpf_backend: str) -> None:
    with pybpf.BPF(text=XDP, backend=bpf_backend) as b:
        fn = b.load_func("count")
        for n in (64, 64, 100):
            assert fn.test_run(bytes(n)).retval == 2
        table = b["lengths"]
        assert {int.from_bytes(k, "little"): int.from_bytes(v, "little")
                for k, v in table.items()} == {64: 2, 100: 1}
        assert "lengths" in b and "nope" not in b
        fields = [b.trace_fields(nonblocking=False, timeout=2.0) for _ in range(3)]
        assert [f[5] for f in fields if f] == ["len 64", "len 64", "len 100"]
        out = io.StringIO()
        fn.test_run(bytes(70))
        assert b.trace_print(fmt="{5}", timeout=1.0, file=out) == 1
        assert out.getvalue() == "len 70\n"
        with pytest.raises(BPFError, match="no map named 'nope'; the maps are: .*lengths"):
            b["nope"]
        with pytest.raises(BPFError, match="no function"):
            b.load_func("nope")


def test_bpf_src_file_python_and_c(bpf_backend: str) -> None:
    with pybpf.BPF(src_file=EXAMPLES / "python" / "tc_classifier.py",
                   backend=bpf_backend) as b:
        assert "class_stats" in b and b.load_func("classify").name == "classify"
    with pybpf.BPF(src_file=EXAMPLES / "tc_classifier.c", backend=bpf_backend) as b:
        assert "class_stats" in b


@pytest.mark.kernel
def test_bpf_attach_tracepoint() -> None:
    src = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);
             __uint(max_entries, 1); } calls SEC(".maps");
    const volatile __u32 me = 0;
    SEC("tracepoint/syscalls/sys_enter_getppid") int on_getppid(void *ctx) {
        __u32 k = 0;
        __u64 *v = bpf_map_lookup_elem(&calls, &k);
        if (v && (bpf_get_current_pid_tgid() >> 32) == me) __sync_fetch_and_add(v, 1);
        return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
    """
    b = pybpf.BPF(text=src.replace("me = 0", f"me = {os.getpid()}"), backend="kernel")
    try:
        b.attach_tracepoint(tp="syscalls:sys_enter_getppid", fn_name="on_getppid")
        for _ in range(5):
            os.getppid()
        assert int.from_bytes(b["calls"][(0).to_bytes(4, "little")], "little") >= 5
    finally:
        b.cleanup()


def test_bpf_argument_errors() -> None:
    with pytest.raises(BPFError, match="text="):
        pybpf.BPF()
    with pytest.raises(BPFError, match="backend"):
        pybpf.BPF(text="int x;", backend="gpu")
    with pytest.raises(pybpf.PyBPFError):
        pybpf.BPF(text="this is not C")
    with pybpf.BPF(text=XDP) as b:
        with pytest.raises(BPFError, match="category:name"):
            b.attach_tracepoint(tp="nocolon", fn_name="count")
        with pytest.raises(BPFError, match="no XDP program"):
            b.remove_xdp("lo")


def test_ring_and_perf_buffers(bpf_backend: str, tmp_path: Path) -> None:
    src = tmp_path / "events.py"
    src.write_text(
        "from pybpf.frontend.python import *\nLICENSE = 'GPL'\n"
        "class Event(Struct):\n    len: u32\n    proto: u16\n    pad: u16\n"
        "ring = RingBuf(4096)\nperf = PerfEventArray()\n"
        "@xdp\ndef p(ctx):\n    eth = ctx.header(EthHdr)\n    if eth is None:\n"
        "        return XDP_ABORTED\n    e = Event(len=64, proto=eth.h_proto)\n"
        "    ring.output(e)\n    perf.output(ctx, e)\n    return XDP_PASS\n")
    got: list = []
    from tests.conftest import on_cpu
    with on_cpu(0), pybpf.BPF(src_file=src, backend=bpf_backend) as b:
        b["ring"].open_ring_buffer(lambda ctx, data, size: got.append(
            ("ring", ctx, b["ring"].event(data).proto, size)), ctx="c")
        b["perf"].open_perf_buffer(lambda cpu, data, size: got.append(
            ("perf", cpu, b["perf"].event(data).proto, size)))
        for proto in (0x0800, 0x86DD):
            b.test_run("p", bytes(12) + proto.to_bytes(2, "big") + bytes(50))
        assert b.ring_buffer_poll(1000) + b.perf_buffer_poll(0) >= 4
    assert sorted(g for g in got if g[0] == "ring") == [("ring", "c", 0x0800, 8),
                                                         ("ring", "c", 0x86DD, 8)]
    assert sorted(g[2] for g in got if g[0] == "perf") == [0x0800, 0x86DD]
