"""pybpf.backend: backends named once at the API edge, asked for what they can do, and
found lazily so that neither implementation imports the other side."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pybpf
from pybpf.backend import BACKEND_NAMES, Backend, get_backend
from pybpf.maps import MapSpec

# what each side may import is checked from the source in tests/test_architecture.py


def test_names_and_lookup() -> None:
    assert BACKEND_NAMES == ("vm", "kernel")
    for name in BACKEND_NAMES:
        b = get_backend(name)
        assert isinstance(b, Backend) and b.name == name
        assert get_backend(b) is b  # a Backend passes through


@pytest.mark.parametrize("bad", ["", "VM", "kernel ", "jit", None, 3, ["vm"]])
def test_unknown_backend_is_todays_value_error(bad: object) -> None:
    msg = f"unknown backend {bad!r} (expected 'vm' or 'kernel')"
    with pytest.raises(ValueError) as e:
        get_backend(bad)  # type: ignore[arg-type]  # hostile input on purpose
    assert str(e.value) == msg
    with pytest.raises(ValueError, match="unknown backend"):
        MapSpec("array", 4, 4, 1).create(bad)  # type: ignore[arg-type]  # same input
    with pytest.raises(ValueError, match="unknown backend"):
        pybpf.run(b"\xb7\x00\x00\x00\x01\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00",
                  backend=bad)  # type: ignore[arg-type]  # same input


def test_capabilities_say_what_each_backend_does() -> None:
    vm, kernel = get_backend("vm").caps, get_backend("kernel").caps
    # the VM: settable surroundings and budget, pybpf's verifier and its log, no hooks,
    # pins or bpf(2)
    assert vm.set_world and vm.insn_budget and vm.custom_helpers and vm.verifier_log
    assert not (vm.attach or vm.pin or vm.host_bpf or vm.fd_handles)
    # the kernel: the opposite on every one of them
    assert kernel.attach and kernel.pin and kernel.verifier_log and kernel.host_bpf
    assert not (kernel.set_world or kernel.insn_budget or kernel.custom_helpers)


def test_vm_object_records_its_backend() -> None:
    code = pybpf.assemble("r0 = 2\nexit")
    assert pybpf.run(code, backend=get_backend("vm")) == 2
    from pybpf.builder import ObjectBuilder
    ob = ObjectBuilder()
    ob.program("p", "xdp").ret(2)
    with ob.build().instantiate(get_backend("vm")) as obj:
        prog = obj.programs["p"]
        assert obj.backend == prog.backend == "vm" and obj.platform is get_backend("vm")
        assert prog.test_run(b"\0" * 14).retval == 2


def test_backend_modules_load_lazily() -> None:
    """Asking for the VM loads no kernel backend, and the other way round."""
    code = ("import sys; from pybpf.backend import get_backend; get_backend({name!r}); "
            "print(sorted(m for m in sys.modules if m.startswith('pybpf.objects.')"
            " and m.endswith('backend')))")
    for name, other in (("vm", "pybpf.objects.kernelbackend"),
                        ("kernel", "pybpf.objects.vmbackend")):
        out = subprocess.run([sys.executable, "-c", code.format(name=name)], check=True,
                             capture_output=True, text=True).stdout
        assert other not in out and f"pybpf.objects.{name}backend" in out
