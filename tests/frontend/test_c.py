"""pybpf.compile_c / `pybpf cc`: the C examples compiled with clang from PATH and with
the ziglang package's clang (no system toolchain) behave as the shipped objects over
examples/traffic.pcap on both backends; pybpf's headers and errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _pytest.mark import ParameterSet

import pybpf
from pybpf.frontend import c as cfront
from pybpf.frontend.c import CCompileError, compile_c, compile_c_object
from pybpf.frontend.headers import HEADERS, helper_defs_text
from pybpf.pcap import read_pcap
from tests.conftest import on_cpu

from .test_example_tracepoint import _vm_run
from .test_examples_python import PACKET_EXAMPLES, run_packets

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _compilers() -> list[ParameterSet]:
    out = []
    for name, ok, why in (("clang", shutil.which("clang") is not None, "no clang on PATH"),
                          ("zig", cfront._zig_lib() is not None,
                           "ziglang not installed (pip install 'pybpf[cc]')")):
        out.append(pytest.param(name, marks=() if ok else pytest.mark.skip(reason=why),
                                id=name))
    return out


@pytest.fixture(scope="module")
def packets() -> list:
    return read_pcap(EXAMPLES / "traffic.pcap")


@pytest.mark.parametrize("compiler", _compilers())
@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
@pytest.mark.parametrize("name", sorted(PACKET_EXAMPLES))
def test_c_examples_match_the_shipped_objects(name: str, backend: str, compiler: str,
                                              packets: list) -> None:
    spec = compile_c(EXAMPLES / f"{name}.c", compiler=compiler)
    with on_cpu(0):
        got = run_packets(spec, PACKET_EXAMPLES[name], backend, packets)
        want = run_packets(pybpf.load(EXAMPLES / f"{name}.o"), PACKET_EXAMPLES[name], backend,
                           packets)
    assert got == want


# the other C examples: program run over the capture (ringbuf_events' ring is not
# compared: its map has no entries to dump)
MORE_EXAMPLES = {"xdp_lb": "xdp_lb", "ringbuf_events": "xdp_events",
                 "tailcall_dispatch": "dispatcher", "rodata_config": "xdp_config",
                 "cgroup_skb_count": "count_ingress"}


@pytest.mark.parametrize("compiler", _compilers())
@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
@pytest.mark.parametrize("name", sorted(MORE_EXAMPLES))
def test_more_c_examples_match(name: str, backend: str, compiler: str, packets: list) -> None:
    spec = compile_c(EXAMPLES / f"{name}.c", compiler=compiler)
    shipped = pybpf.load(EXAMPLES / f"{name}.o")
    assert sorted(spec.programs) == sorted(shipped.programs)
    assert sorted(spec.maps) == sorted(shipped.maps)
    with on_cpu(0):
        got = run_packets(spec, MORE_EXAMPLES[name], backend, packets)
        want = run_packets(shipped, MORE_EXAMPLES[name], backend, packets)
    assert got == want


@pytest.mark.parametrize("compiler", _compilers())
def test_c_tracepoint_example_matches_on_the_vm(compiler: str) -> None:
    spec = compile_c(EXAMPLES / "tp_syscalls.c", compiler=compiler)
    assert _vm_run(spec, os.getpid()) == _vm_run(pybpf.load(EXAMPLES / "tp_syscalls.o"),
                                                 os.getpid())


def test_helper_defs_are_generated_from_helper_protos() -> None:
    shipped = (HEADERS / "bpf" / "bpf_helper_defs.h").read_text()
    assert shipped == helper_defs_text(), "run python -m pybpf.frontend.headers"
    assert "static void *(* const bpf_map_lookup_elem)(void *map, const void *key) = " \
           "(void *) 1;" in shipped


@pytest.mark.parametrize("compiler", _compilers())
def test_source_text_with_vmlinux_h(compiler: str, bpf_backend: str) -> None:
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no kernel BTF to generate vmlinux.h from")
    src = """
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_endian.h>
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32);
                 __type(value, __u64); __uint(max_entries, 1); } hits SEC(".maps");
        SEC("xdp") int count(struct xdp_md *ctx) {
            __u32 k = 0;
            __u64 *v = bpf_map_lookup_elem(&hits, &k);
            if (v) *v += bpf_ntohs(0x0100);
            return XDP_PASS;
        }
        char LICENSE[] SEC("license") = "GPL";
    """
    with compile_c(src, compiler=compiler).instantiate(bpf_backend) as obj:
        assert obj.programs["count"].test_run(bytes(64)).retval == 2
        assert obj.maps["hits"][(0).to_bytes(4, "little")][:8] == (1).to_bytes(8, "little")


@pytest.mark.parametrize("compiler", _compilers())
def test_compiler_errors_are_pybpf_errors(compiler: str) -> None:
    with pytest.raises(CCompileError) as ei:
        compile_c_object("int f( {\n", compiler=compiler)
    assert "failed" in str(ei.value) and "error" in ei.value.diagnostics
    with pytest.raises(CCompileError, match="cannot read"):
        compile_c_object("/no/such/file.c", compiler=compiler)
    with pytest.raises(CCompileError, match="not allowed"):
        compile_c_object("int x;\n", ["-o/tmp/elsewhere.o"], compiler=compiler)


def test_no_compiler_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cfront.shutil, "which", lambda name: None)
    monkeypatch.setattr(cfront, "_zig_lib", lambda: None)
    with pytest.raises(CCompileError, match=r"pybpf\[cc\]"):
        compile_c_object("int x;\n")
    with pytest.raises(CCompileError, match="no clang"):
        compile_c_object("int x;\n", compiler="clang")
