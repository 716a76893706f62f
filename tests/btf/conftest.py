"""Fixtures of the BTF tests: the committed clang objects (tests/btf/data, rebuilt by
build.sh) and the running kernel's BTF."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pytest

from pybpf.btf import Btf, BtfExt, load_vmlinux, parse, parse_ext

from .elfutil import DATA, Elf, read_elf

VMLINUX = "/sys/kernel/btf/vmlinux"


@dataclass
class Obj:
    """A committed object: its ELF, raw .BTF/.BTF.ext and their parses."""

    name: str
    elf: Elf
    btf_raw: bytes
    ext_raw: bytes
    btf: Btf
    ext: BtfExt


def load_obj(name: str) -> Obj:
    elf = read_elf(DATA / f"{name}.o")
    btf_raw = elf.sections[".BTF"]
    ext_raw = elf.sections[".BTF.ext"]
    btf = parse(btf_raw)
    return Obj(name, elf, btf_raw, ext_raw, btf, parse_ext(ext_raw, btf))


@pytest.fixture(scope="session")
def kinds_obj() -> Obj:
    return load_obj("kinds")


@pytest.fixture(scope="session")
def core_obj() -> Obj:
    return load_obj("core")


@pytest.fixture(scope="session")
def vmlinux_raw() -> bytes:
    if not os.path.exists(VMLINUX):
        pytest.skip(f"{VMLINUX} not present (kernel without CONFIG_DEBUG_INFO_BTF)")
    with open(VMLINUX, "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def vmlinux(vmlinux_raw: bytes) -> Btf:
    return load_vmlinux()


@pytest.fixture(scope="session")
def clang() -> str:
    path = shutil.which("clang")
    if path is None:
        pytest.skip("clang not installed")
    return path


@pytest.fixture(scope="session")
def bpftool() -> str:
    path = shutil.which("bpftool")
    if path is None:
        pytest.skip("bpftool not installed")
    return path
