"""__hidden global functions (STV_HIDDEN, as libbpf's headers declare their helpers)
are verified as static functions: the loader gives their BTF FUNC static linkage, as
libbpf does, so the kernel checks them in their caller's context."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import pybpf
from pybpf.btf.types import BtfKind, FuncLinkage

DATA = Path(__file__).resolve().parent / "data"
HIDDEN = DATA / "hidden_func.bpf.o"


def _linkage(spec: pybpf.ObjectSpec, name: str) -> FuncLinkage:
    (fid,) = spec.btf.find(name, BtfKind.FUNC)
    return spec.btf[fid].linkage


def test_hidden_global_function_gets_static_linkage() -> None:
    spec = pybpf.load(HIDDEN)
    assert _linkage(spec, "first_byte") == FuncLinkage.STATIC
    assert _linkage(spec, "hidden_caller") == FuncLinkage.GLOBAL  # a default-visibility entry
    assert spec.warnings == []


def test_hidden_function_runs_on_the_vm_verified() -> None:
    prog = pybpf.load(HIDDEN).instantiate("vm", verify=True).programs["hidden_caller"]
    assert prog.test_run(b"\x42" + bytes(63)).retval == 1  # XDP_DROP
    assert prog.test_run(bytes(64)).retval == 2  # XDP_PASS


@pytest.mark.kernel
def test_hidden_function_loads_in_the_kernel() -> None:
    with pybpf.load(HIDDEN).instantiate("kernel") as obj:
        prog = obj.programs["hidden_caller"]
        assert prog.test_run(b"\x42" + bytes(63)).retval == 1
        assert prog.test_run(bytes(64)).retval == 2


@pytest.mark.kernel
def test_kernel_refuses_the_same_function_as_global() -> None:
    """The fixture means something: kept global, the kernel's verifier refuses it."""
    spec = pybpf.load(HIDDEN)
    (fid,) = spec.btf.find("first_byte", BtfKind.FUNC)
    spec.btf[fid] = replace(spec.btf[fid], linkage=FuncLinkage.GLOBAL)
    with pytest.raises(pybpf.PyBPFError, match="first_byte"):
        spec.instantiate("kernel")


USDT_HIDDEN = """\
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

long last;

SEC("usdt/./usdt_target:pybpf_test:tick")
int BPF_USDT(on_tick, long seq, long value)
{
	last = seq + value + bpf_usdt_arg_cnt(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.kernel
def test_usdt_header_helpers_load_in_the_kernel(tmp_path: Path) -> None:
    """libbpf's usdt.bpf.h as it is: its bpf_usdt_arg* helpers are __hidden globals."""
    clang = shutil.which("clang")
    if clang is None or not Path("/usr/include/bpf/usdt.bpf.h").exists():
        pytest.skip("needs clang and libbpf's usdt.bpf.h")
    src = tmp_path / "usdt_hidden.bpf.c"
    src.write_text(USDT_HIDDEN)
    out = tmp_path / "usdt_hidden.bpf.o"
    arch = subprocess.run([clang, "-print-multiarch"], capture_output=True, text=True,
                          check=False).stdout.strip() or "x86_64-linux-gnu"
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86",
                    f"-I/usr/include/{arch}", "-c", str(src), "-o", str(out)], check=True)
    spec = pybpf.load(out)
    assert _linkage(spec, "bpf_usdt_arg") == FuncLinkage.STATIC
    with spec.instantiate("kernel") as obj:
        assert obj.programs["on_tick"].fd > 0
