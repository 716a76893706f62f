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
