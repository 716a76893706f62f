"""The objects and tables the tools ship: the example objects as package data, the
syscall name tables, and the tracepoint example compared between the VM and the
kernel (the kernel cannot test_run a tracepoint program: it runs on real syscalls,
the VM on records with the same fields)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pybpf
from pybpf.tools import ToolError, example_object
from pybpf.tools.syscalls import (
    _NOT_ARM64,
    GENERIC_HEADERS,
    X86_64_HEADERS,
    parse_unistd,
    syscall_name,
    syscall_number,
)
from tests.tp_syscalls_runs import kernel_run, vm_run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize("name", ["sockfilter_proto", "tp_syscalls"])
def test_shipped_objects_are_the_examples(name: str) -> None:
    """scripts/build-examples copies these; a stale copy would run old code."""
    assert example_object(name).read_bytes() == (EXAMPLES / f"{name}.o").read_bytes()
    with pytest.raises(ToolError, match="missing"):
        example_object("no_such_example")


def test_syscall_tables() -> None:
    assert syscall_name(110, "x86_64") == "getppid" and syscall_name(173, "aarch64") == "getppid"
    assert syscall_number("newfstatat", "x86_64") == 262
    assert syscall_number("newfstatat", "aarch64") == 79  # __NR3264_fstatat
    assert syscall_name(84, "aarch64") == "sync_file_range"
    assert syscall_name(321, "x86_64") == "bpf" and syscall_name(280, "aarch64") == "bpf"
    assert syscall_name(99999) == "syscall_99999"
    with pytest.raises(KeyError):
        syscall_number("no_such_call")


def _header(paths: tuple[str, ...]) -> str:
    for p in paths:
        if os.path.exists(p):
            return Path(p).read_text()
    pytest.skip(f"no {paths[0]} (linux-libc-dev)")


def test_generated_tables_agree_with_the_headers() -> None:
    """Every number the installed headers define has the generated table's name (a
    newer header may add numbers)."""
    from pybpf.tools.syscall_table import TABLES
    for arch, paths, skip in (("x86_64", X86_64_HEADERS, ()),
                              ("arm64", GENERIC_HEADERS, _NOT_ARM64)):
        parsed = parse_unistd(_header(paths), skip)
        assert len(parsed) > 300
        common = set(parsed) & set(TABLES[arch])
        assert len(common) >= 300
        assert all(parsed[n] == TABLES[arch][n] for n in common)


def _vm_run(tgid: int) -> dict[str, dict[int, int]]:
    """The C example on the VM: tests.tp_syscalls_runs.vm_run."""
    return vm_run(pybpf.load(EXAMPLES / "tp_syscalls.o"), tgid)


def test_tp_syscalls_on_the_vm() -> None:
    getppid, close = syscall_number("getppid"), syscall_number("close")
    maps = _vm_run(os.getpid())
    assert maps["syscall_counts"] == {getppid: 100, close: 7}
    assert maps["syscall_errors"] == {close: 7}
    assert maps["pid_counts"] == {os.getpid(): 107}
    assert {k: v for k, v in maps["latency_hist"].items() if v} == {10: 107}  # 1024..2047 ns
    assert maps["start"] == {}  # every enter met its exit
    other = _vm_run(os.getpid() + 1)  # the .rodata filter: another process counts nothing
    assert other["syscall_counts"] == {} and not any(other["latency_hist"].values())


@pytest.mark.kernel
def test_tp_syscalls_vm_matches_kernel() -> None:
    """The same calls made for real with the example attached in the kernel count the
    same as the VM's runs (the kernel also sees this process's other syscalls, so the
    two syscalls' entries are compared)."""
    getppid, close = syscall_number("getppid"), syscall_number("close")
    kernel = kernel_run(pybpf.load(EXAMPLES / "tp_syscalls.o"))
    vm = _vm_run(os.getpid())
    assert kernel["syscall_counts"][getppid] == vm["syscall_counts"][getppid] == 100
    assert kernel["syscall_errors"][close] == vm["syscall_errors"][close] == 7
    assert set(kernel["pid_counts"]) == set(vm["pid_counts"]) == {os.getpid()}
    assert sum(kernel["latency_hist"].values()) >= sum(vm["latency_hist"].values()) == 107
