"""Each documented limit (pybpf.limits, README "Limits") at the limit and one past it:
the largest thing is accepted, one more is a clear pybpf error."""

from __future__ import annotations

import mmap

import pytest

import pybpf
from pybpf import limits
from pybpf.btf import BTFError, Builder, format_c, type_decl
from pybpf.errors import InstructionLimitExceeded, InvalidProgram, RegionTooLargeError, RunError
from pybpf.isa import Instruction
from pybpf.maps import MapNotSupportedError, MapSpec
from pybpf.vm import VM, Memory


def _lazy(size: int) -> memoryview:
    """`size` bytes of anonymous memory, not touched (so not resident)."""
    return memoryview(mmap.mmap(-1, size))


def test_largest_vm_region() -> None:
    mem = Memory()
    region = mem.map("big", _lazy(limits.MAX_REGION_SIZE))
    assert region.size == 2 << 30
    with pytest.raises(RegionTooLargeError, match="larger than the VM's largest region"):
        Memory().map("bigger", _lazy(limits.MAX_REGION_SIZE + 1))


def test_run_refuses_memory_past_the_largest_region_before_copying_it() -> None:
    code = pybpf.assemble("r0 = 0\nexit")
    with pytest.raises(RunError, match="largest region"):  # not MemoryError: nothing copied
        pybpf.run(code, _lazy(limits.MAX_REGION_SIZE + 1))


def test_largest_vm_map() -> None:
    entries = limits.MAX_MAP_VALUES // 8
    m = MapSpec("array", 4, 8, entries).create("vm")
    try:
        assert len(m.region.buf) == limits.MAX_MAP_VALUES
    finally:
        m.close()
    with pytest.raises(MapNotSupportedError, match="more than the VM's 2 GiB per map"):
        MapSpec("array", 4, 8, entries + 1).create("vm")


def test_longest_program() -> None:
    exit_ = Instruction(0x95)
    mov = Instruction(0xB7, 0, 0, 0, 0)
    from pybpf import check
    check.check_program([mov] * (limits.MAX_PROGRAM_INSNS - 1) + [exit_])
    with pytest.raises(InvalidProgram, match="too many instructions"):
        check.check_program([mov] * limits.MAX_PROGRAM_INSNS + [exit_])


def test_instruction_budget() -> None:
    code = [Instruction(0xB7, 0, 0, 0, 0)] * 99 + [Instruction(0x95)]
    assert VM(code, insn_budget=100).execute().executed == 100
    with pytest.raises(InstructionLimitExceeded, match="budget of 99"):
        VM(code, insn_budget=99).execute()


def test_longest_btf_chain() -> None:
    b = Builder()
    prev = b.int("int", 4, True)
    for k in range(1, limits.MAX_RESOLVE_DEPTH):  # 63 hops: the chain is 64 types
        prev = b.typedef(f"t{k}", prev)
    assert b.btf.resolve(prev) == 1
    longer = b.typedef("one_more", prev)
    with pytest.raises(BTFError, match="too long or a loop"):
        b.btf.resolve(longer)


def test_longest_c_declarator() -> None:
    b = Builder()
    i = b.int("int", 4, True)
    assert type_decl(b.btf, i, "x" * limits.MAX_DECL_LEN).endswith("x")
    with pytest.raises(BTFError, match=f"longer than {limits.MAX_DECL_LEN} characters"):
        type_decl(b.btf, i, "x" * (limits.MAX_DECL_LEN + 1))


def _struct(last: int) -> tuple[object, int]:
    """A struct of 16 members with 16,000-character names and one of `last`."""
    b = Builder()
    i = b.int("int", 4, True)
    members = [(f"m{k:02d}" + "x" * 15996, i) for k in range(16)] + [("z" * last, i)]
    return b.btf, b.struct("s", members)


def test_longest_c_definition() -> None:
    probe = len(format_c(*_struct(100)))  # the text grows one character a name character
    last = 100 + limits.MAX_DEF_LEN + 1 - probe  # the definition and its ";"
    assert len(format_c(*_struct(last))) == limits.MAX_DEF_LEN + 1
    with pytest.raises(BTFError, match=f"longer than {limits.MAX_DEF_LEN} characters"):
        format_c(*_struct(last + 1))


def _with_bss_size(size: int) -> bytes:
    """examples/rodata_config.o with its .bss section header claiming `size` bytes."""
    import struct
    from pathlib import Path
    data = bytearray(Path(__file__).parents[2].joinpath("examples/rodata_config.o")
                     .read_bytes())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    names_off, = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)
    for i in range(shnum):
        hdr = shoff + i * shentsize
        name_at = names_off + struct.unpack_from("<I", data, hdr)[0]
        if data[name_at:data.index(0, name_at)] == b".bss":
            struct.pack_into("<Q", data, hdr + 0x20, size)
            return bytes(data)
    raise AssertionError("no .bss in the example")


def test_largest_bss_section() -> None:
    from pybpf.elf import ELFError
    spec = pybpf.load(_with_bss_size(limits.MAX_BSS_SIZE))
    assert spec.maps[".bss"].value_size == limits.MAX_BSS_SIZE
    with pytest.raises(ELFError, match="MAX_BSS_SIZE"):
        pybpf.load(_with_bss_size(limits.MAX_BSS_SIZE + 1))
    with pytest.raises(ELFError, match="MAX_BSS_SIZE"):
        pybpf.load(_with_bss_size(1 << 62))
