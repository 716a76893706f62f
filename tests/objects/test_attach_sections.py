"""Program.attach() on the VM: every kind read from the section name (tests/kernel/data's
programs) answers AttachNotSupportedError, naming the kernel backend or what the hook
needs from the caller; attach() never tracebacks on a section it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.objects.instance import AttachNotSupportedError

DATA = Path(__file__).resolve().parents[1] / "kernel" / "data"


@pytest.mark.parametrize("obj_name,prog,match", [
    ("flow_dissector", "dissect", "needs the kernel backend"),
    ("kprobe", "on_kprobe", "kprobe __x64_sys_getppid needs the kernel backend"),
    ("kprobe", "on_kretprobe", "kretprobe __x64_sys_getppid needs the kernel backend"),
    ("kprobe", "on_multi", "kprobe.multi __x64_sys_getppi\\* needs the kernel backend"),
    ("netfilter", "nf_count_drop", "attaches to a hook"),
    ("perf_sample", "on_sample", "perf event cpu-clock needs the kernel backend"),
    ("tracing", "fentry_unlinkat", "fentry do_unlinkat needs the kernel backend"),
    ("tracing", "lsm_file_open", "lsm file_open needs the kernel backend"),
    ("usdt", "on_tick", "USDT ./usdt_target:pybpf_test:tick needs the kernel backend"),
])
def test_attach_on_the_vm_names_what_is_missing(obj_name: str, prog: str, match: str) -> None:
    with pybpf.load(DATA / f"{obj_name}.bpf.o").instantiate("vm", programs=[prog]) as obj:
        with pytest.raises(AttachNotSupportedError, match=match):
            obj.programs[prog].attach()


@pytest.mark.parametrize("section,match", [
    ("kprobe/", "names no kernel function"),
    ("kretprobe/f+8", "takes no offset"),
    ("kprobe.multi", "names no functions"),
    ("usdt/bin:name", "names no USDT probe"),
    ("ksyscall/a+1", "takes no offset"),
])
def test_unreadable_sections_are_named(section: str, match: str) -> None:
    spec = pybpf.load(DATA / "kprobe.bpf.o")
    spec.programs["on_kprobe"].section = section
    with spec.instantiate("vm", programs=["on_kprobe"]) as obj:
        with pytest.raises(AttachNotSupportedError, match=match):
            obj.programs["on_kprobe"].attach()


def test_options_a_section_kind_does_not_take_are_refused() -> None:
    with pybpf.load(DATA / "kprobe.bpf.o").instantiate("vm", programs=["on_kprobe"]) as obj:
        with pytest.raises(AttachNotSupportedError, match="takes only cookie"):
            obj.programs["on_kprobe"].attach(pid=1)
        with pytest.raises(AttachNotSupportedError, match="takes only cookie"):
            obj.programs["on_kprobe"].attach("eth0")
