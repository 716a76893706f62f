"""Tracing types: raw_tracepoint test runs against the kernel (args, ctx size rules,
flags and cpu), ENOTSUPP parity for kprobe/tracepoint/perf_event, and the context
layouts (pt_regs, bpf_perf_event_data, tracepoint formats) on the VM."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.asm import assemble
from pybpf.progtypes import (PT_REGS_ARM64, PT_REGS_X86_64, TestRunError, helpers_for,
                             parse_format, perf_event_data, run_context,
                             syscall_tracepoint, test_run)
from pybpf.progtypes.contexts.tracing import SYS_ENTER
from pybpf.progtypes.tracing import max_ctx_offset
from pybpf.uapi import ProgType
from pybpf.vm import VM

RAW = ProgType.RAW_TRACEPOINT
SUM_ARGS = """
r2 = *(u64 *)(r1 +{a})
r3 = *(u32 *)(r1 +{b})
r0 = r2
r0 ^= r3
exit
"""


@pytest.mark.kernel
@given(st.integers(0, 11), st.integers(0, 23), st.binary(min_size=0, max_size=104))
def test_raw_tp_args(differ, a, b, args):
    differ.same(RAW, SUM_ARGS.format(a=8 * a, b=4 * b), data_size_out=0, ctx_size_out=0,
                repeat=0, ctx_in=args or None)


@pytest.mark.kernel
@pytest.mark.parametrize("kw", [
    {}, {"repeat": 1}, {"data_in": bytes(20)}, {"ctx_size_out": 16},
    {"flags": 1}, {"flags": 1, "cpu": 1}, {"flags": 1, "cpu": 4096}, {"cpu": 1},
    {"flags": 2}, {"batch_size": 1},
])
def test_raw_tp_attr_rules(differ, kw):
    args = {"data_size_out": 0, "ctx_size_out": 0, "repeat": 0, "ctx_in": bytes(16)}
    args.update(kw)
    differ.same(RAW, SUM_ARGS.format(a=8, b=0), **args)


@pytest.mark.kernel
@pytest.mark.parametrize("t", [ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
                               ProgType.RAW_TRACEPOINT_WRITABLE])
def test_tracing_test_run_not_supported(differ, t):
    k = differ.same(t, "r0 = 0\nexit", data_in=bytes(64))
    assert k == ("err", "ENOTSUPP")


def test_max_ctx_offset():
    assert max_ctx_offset(assemble("r0 = 0\nexit")) == 0
    assert max_ctx_offset(assemble("r0 = *(u64 *)(r1 +8)\nexit")) == 16
    assert max_ctx_offset(assemble("r6 = r1\nr6 += 16\nr0 = *(u32 *)(r6 +4)\nexit")) == 24
    # a clobbered r1 is no longer the context
    assert max_ctx_offset(assemble("r1 = r10\nr0 = *(u64 *)(r1 -8)\nexit")) == 0
    # either branch may read
    src = "if r2 > 3 goto +2\nr0 = *(u64 *)(r1 +40)\nexit\nr0 = *(u64 *)(r1 +0)\nexit"
    assert max_ctx_offset(assemble(src)) == 48


def test_kprobe_context_on_vm():
    regs = PT_REGS_X86_64.pack(param1=7, param2=35, ip=0xffffffff81000000)
    code = assemble("r2 = *(u64 *)(r1 +112)\nr3 = *(u64 *)(r1 +104)\nr0 = r2\nr0 += r3\nexit")
    vm = VM(code, helpers=helpers_for(ProgType.KPROBE))
    assert run_context(vm, ProgType.KPROBE, regs, arch="x86_64") == 42
    assert PT_REGS_X86_64.offset("di") == 112 and PT_REGS_X86_64.size == 168
    assert PT_REGS_ARM64.offset("pc") == 256 and PT_REGS_ARM64.params[0] == "x0"
    with pytest.raises(TestRunError) as e:
        test_run(vm, ProgType.KPROBE, data_in=bytes(64))
    assert e.value.errno_name == "ENOTSUPP"


def test_kprobe_context_is_read_only():
    from pybpf.errors import MemoryAccessError
    vm = VM(assemble("r2 = 1\n*(u64 *)(r1 +0) = r2\nr0 = 0\nexit"))
    with pytest.raises(MemoryAccessError):
        run_context(vm, ProgType.KPROBE, PT_REGS_X86_64.pack(), arch="x86_64")


def test_perf_event_context_on_vm():
    data = perf_event_data("x86_64", sample_period=1000, addr=0x1234, ip=5)
    assert len(data) == 184
    code = assemble("r0 = *(u32 *)(r1 +168)\nr2 = *(u8 *)(r1 +176)\nr0 += r2\nexit")
    vm = VM(code)
    assert run_context(vm, ProgType.PERF_EVENT, data, arch="x86_64") == 1000 + 0x34


def test_tracepoint_formats():
    fmt = syscall_tracepoint("sys_enter")
    assert fmt.field("id").offset == 8 and fmt.field("args").offset == 16
    assert fmt.field("args").size == 48
    rec = fmt.pack(id=59, args=[1, 2, 3, 4, 5, 6])
    assert struct.unpack_from("<q6Q", rec, 8) == (59, 1, 2, 3, 4, 5, 6)
    exit_fmt = syscall_tracepoint("sys_exit")
    assert exit_fmt.field("ret").offset == 16
    parsed = parse_format("""name: sys_enter
ID: 7
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;
""")
    assert parsed.id == 7 and parsed.field("args").type == "unsigned long[6]"
    assert [f.offset for f in SYS_ENTER.fields if f.name in ("id", "args")] == [8, 16]
    code = assemble("r0 = *(u64 *)(r1 +8)\nexit")
    vm = VM(code)
    assert run_context(vm, ProgType.TRACEPOINT, rec, tracepoint=fmt) == 59
    # the common header is not readable
    from pybpf.errors import MemoryAccessError
    with pytest.raises(MemoryAccessError):
        run_context(VM(assemble("r0 = *(u32 *)(r1 +4)\nexit")), ProgType.TRACEPOINT, rec,
                    tracepoint=fmt)


def test_pt_regs_matches_btf():
    """The x86-64 pt_regs table against the running kernel's BTF (where readable)."""
    import os
    import shutil
    import subprocess
    if os.uname().machine != "x86_64" or not shutil.which("bpftool"):
        pytest.skip("needs x86-64 and bpftool")
    try:
        out = subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux",
                              "format", "c"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("bpftool failed")
    start = out.find("\nstruct pt_regs {")
    if start < 0:
        pytest.skip("no pt_regs in BTF")
    body = out[start:out.index("\n};", start)]
    for name, _off, _ in PT_REGS_X86_64.fields:
        if name in ("cs", "ss"):
            continue
        assert f" {name};" in body
