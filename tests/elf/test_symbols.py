"""Symbol values and sizes, and the offsets relocations derive from them, are checked
against their sections at load: nothing from the file reaches an instruction field
unchecked (issue 11, item 6)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.elf import ELFError, load

from tests.elf.elfbytes import LINKING, section_body, section_headers

SYM = struct.Struct("<IBBHQQ")  # st_name, st_info, st_other, st_shndx, st_value, st_size


def _section(obj: bytes, name: str) -> tuple[int, int]:
    off, size = struct.unpack_from("<QQ", obj, section_headers(obj)[name] + 0x18)
    return off, size


def symbols(obj: bytes) -> dict[str, int]:
    """Symbol name -> file offset of its Elf64_Sym."""
    off, size = _section(obj, ".symtab")
    str_off, _ = _section(obj, ".strtab")
    out = {}
    for pos in range(off, off + size, SYM.size):
        name_off = SYM.unpack_from(obj, pos)[0]
        end = obj.index(b"\0", str_off + name_off)
        out[obj[str_off + name_off:end].decode()] = pos
    return out


def with_symbol(obj: bytes, name: str, value: int | None = None,
                size: int | None = None) -> bytes:
    out = bytearray(obj)
    pos = symbols(obj)[name]
    st_name, info, other, shndx, old_value, old_size = SYM.unpack_from(out, pos)
    SYM.pack_into(out, pos, st_name, info, other, shndx,
                  old_value if value is None else value, old_size if size is None else size)
    return bytes(out)


def test_rodata_symbol_past_its_section_is_refused_naming_it() -> None:
    """The issue's trigger: `.rodata` symbol value 2^50 loaded, and instantiate failed
    in isa.encode with struct.error."""
    bad = with_symbol(LINKING, "cfg_port", value=1 << 50)
    with pytest.raises(ELFError, match=r"symbol cfg_port: offset 1125899906842624 \+ size 4 "
                                       r"is outside section \.rodata \(4 bytes\)"):
        load(bad)


@pytest.mark.parametrize("name,value,size,message", [
    ("cfg_port", 4, None, r"cfg_port: offset 4 \+ size 4 is outside section \.rodata"),
    ("cfg_port", None, 5, r"cfg_port: offset 0 \+ size 5 is outside"),
    ("cfg_port", None, 1 << 63, "cfg_port: offset 0 "),
    ("hits", (1 << 64) - 8, None, "symbol hits: offset 18446744073709551608"),
    ("prog_b", None, 1 << 40, r"symbol prog_b: offset 280 \+ size 1099511627776 is outside "
                              r"section xdp \(408 bytes\)"),
    ("LBB0_2", 1 << 33, None, "symbol LBB0_2: offset 8589934592 is outside section xdp"),
    ("counts", 1 << 40, None, "symbol counts: offset 1099511627776"),
])
def test_symbols_outside_their_section(name: str, value: int | None, size: int | None,
                                       message: str) -> None:
    with pytest.raises(ELFError, match=message):
        load(with_symbol(LINKING, name, value, size))


def test_a_symbol_at_the_end_of_its_section_is_fine() -> None:
    """A label may sit at a section's end (value == size, no extent)."""
    xdp = len(section_body(LINKING, "xdp"))
    spec = load(with_symbol(LINKING, "LBB0_2", value=xdp))
    assert "prog_a" in spec.programs


def test_symbol_in_a_missing_section() -> None:
    out = bytearray(LINKING)
    pos = symbols(LINKING)["hits"]
    fields = list(SYM.unpack_from(out, pos))
    fields[3] = 200  # st_shndx
    SYM.pack_into(out, pos, *fields)
    with pytest.raises(ELFError, match="symbol hits is in section 200, which does not exist"):
        load(bytes(out))


def _lddw_addend(obj: bytes, section: str, rel_section: str, symbol: str) -> int:
    """File offset of the imm of the lddw relocated against `symbol` in `section`."""
    sym_index = (symbols(obj)[symbol] - _section(obj, ".symtab")[0]) // SYM.size
    code_off, _ = _section(obj, section)
    rel_off, rel_size = _section(obj, rel_section)
    for pos in range(rel_off, rel_off + rel_size, 16):
        r_offset, r_info = struct.unpack_from("<QQ", obj, pos)
        if r_info >> 32 == sym_index:
            return code_off + r_offset + 4
    raise AssertionError(f"no relocation against {symbol}")


@pytest.mark.parametrize("addend,offset", [(4, 4), (-1, -1), (0x7FFFFFFF, 0x7FFFFFFF),
                                            (-(1 << 31), -(1 << 31))])
def test_relocation_addend_past_the_data_section(addend: int, offset: int) -> None:
    """sym + addend is the map value offset the lddw gets: inside the value, as the
    kernel requires (off < value_size)."""
    out = bytearray(LINKING)
    struct.pack_into("<i", out, _lddw_addend(LINKING, ".text", ".rel.text", "cfg_port"),
                     addend)
    with pytest.raises(ELFError, match=f"refers to symbol cfg_port \\+ {addend}: offset "
                                       f"{offset} is outside \\.rodata \\(4 bytes\\)"):
        load(bytes(out))


def test_good_object_instantiates() -> None:
    spec = load(LINKING)
    with spec.instantiate("vm") as obj:
        assert obj.programs["prog_a"].spec.name == "prog_a"


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(["cfg_port", "hits", "zeroed", "counts", "arr", "prog_a", "prog_b",
                             "helper_add", "cb", "LBB0_2", "_license", "sock"]),
       value=st.one_of(st.none(), st.integers(0, 600), st.integers(0, (1 << 64) - 1)),
       size=st.one_of(st.none(), st.integers(0, 600), st.integers(0, (1 << 64) - 1)))
def test_any_symbol_value_loads_and_instantiates_or_is_an_elf_error(
        name: str, value: int | None, size: int | None) -> None:
    """Whatever a symbol says, load() refuses it with an ELFError or the object
    instantiates on the VM (no struct.error, OverflowError or IndexError later)."""
    import pybpf
    try:
        spec = load(with_symbol(LINKING, name, value, size))
    except ELFError:
        return
    try:  # hostile symbols: the loader's robustness, on the VM without the verifier
        with spec.instantiate("vm", verify=False):
            pass
    except pybpf.PyBPFError:
        pass
