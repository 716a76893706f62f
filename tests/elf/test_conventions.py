"""Object conventions beyond libbpf's SEC() names, each on a fixture of ours (data/*.c):
sections no SEC() convention knows, `.text`-only objects (uBPF, PREVAIL), iproute2's
`struct bpf_elf_map` (inner_id/inner_idx map-in-map, "<id>/<key>" tail calls, the older
28-byte struct), samples/bpf's `struct bpf_map_def` with inner_map_idx, one `maps/<name>`
section per map, and libbpf's BTF `.values`. Each runs on the VM, and in the kernel with
the same results."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any, Callable

import pytest

import pybpf
from pybpf.elf import ELFError, load, load_text
from pybpf.maps import Pinning
from pybpf.objects.instance import UnknownProgramTypeError
from pybpf.objects.show import describe, format_show
from pybpf.objects.spec import ProgramSpec, ProgramTypeError
from pybpf.uapi import ProgType

DATA = Path(__file__).resolve().parent / "data"
SHORT, LONG = bytes(64), bytes(200)  # Ethernet frames: 50 and 186 bytes past the header


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def _differential(run: Callable[[str], Any]) -> None:
    assert run("kernel") == run("vm")


# --- unknown SEC() names -------------------------------------------------------------------

def test_unknown_sections_are_programs_of_unknown_type() -> None:
    spec = load(DATA / "unknown_sec.o")
    assert {n: (p.section, p.type) for n, p in spec.programs.items()} == {
        "len_filter": ("filter", ProgType.UNSPEC), "len_bucket": ("test", ProgType.UNSPEC)}
    assert not spec.programs["len_filter"].type_known
    desc = describe(spec)
    assert [p["type"] for p in desc["programs"]] == ["unknown", "unknown"]
    assert re.search(r"len_filter\s+unknown", format_show(desc))


@pytest.mark.parametrize("path,program,where", [
    ("unknown_sec.o", "len_filter", "section 'filter', which is not a known SEC() name"),
    ("text_only.o", "entry", "is the object's .text"),
])
def test_unknown_type_is_refused_with_how_to_set_it(path: str, program: str, where: str) -> None:
    spec = load(DATA / path)
    with pytest.raises(UnknownProgramTypeError) as e:
        spec.instantiate("vm")
    msg = str(e.value)
    assert f"program {program}" in msg and where in msg
    assert f"spec.programs['{program}'].type = " in msg and "--type" in msg
    assert isinstance(e.value, pybpf.PyBPFError)


def test_program_type_is_settable_by_name_number_or_enum() -> None:
    prog = load(DATA / "unknown_sec.o").programs["len_filter"]
    for value, expected in [("xdp", ProgType.XDP), ("BPF_PROG_TYPE_SCHED_CLS", 3), ("tc", 3),
                            ("socket", 1), (ProgType.CGROUP_SKB, 8), (6, 6), ("unknown", 0)]:
        prog.type = value
        assert prog.type == expected and type(prog.type) is int
    for bad in ("no_such_type", 999, True, 1.5):
        with pytest.raises(ProgramTypeError):
            prog.type = bad
    assert isinstance(ProgramTypeError("x"), pybpf.PyBPFError)
    assert ProgramSpec("p", "s", "xdp", []).type == ProgType.XDP


def _run_unknown_sec(backend: str) -> list[int]:
    spec = load(DATA / "unknown_sec.o")
    spec.programs["len_filter"].type = "socket_filter"
    spec.programs["len_bucket"].type = ProgType.SCHED_CLS
    with spec.instantiate(backend) as obj:
        assert obj.programs["len_filter"].type == ProgType.SOCKET_FILTER
        return [obj.programs[name].test_run(frame).retval
                for name in ("len_filter", "len_bucket") for frame in (SHORT, LONG)]


def test_unknown_sections_run_once_typed() -> None:
    # socket filter: skb->len is past the Ethernet header; the classifier sees the frame
    assert _run_unknown_sec("vm") == [50, 32, 4, 12]


@pytest.mark.kernel
def test_unknown_sections_same_in_the_kernel() -> None:
    _differential(_run_unknown_sec)


# --- .text-only objects (uBPF, PREVAIL) -------------------------------------------------------

def test_text_only_object_is_one_program() -> None:
    spec = load(DATA / "text_only.o")
    assert list(spec.programs) == ["entry"]
    prog = spec.programs["entry"]
    assert prog.section == ".text" and prog.type == ProgType.UNSPEC
    assert [name for name, _ in prog.functions] == ["entry", "square"]
    # uBPF's entry point (load_text) is the same program
    assert load_text(DATA / "text_only.o").instructions == prog.instructions


def test_text_is_no_program_beside_sec_programs() -> None:
    spec = load(DATA / "linking.o")  # .text holds helper_add, called by prog_a and prog_b
    assert "helper_add" not in spec.programs and all(p.section != ".text"
                                                     for p in spec.programs.values())


def _run_text_only(backend: str) -> int:
    spec = load(DATA / "text_only.o")
    spec.programs["entry"].type = "socket_filter"
    with spec.instantiate(backend) as obj:
        return obj.programs["entry"].test_run(SHORT).retval


def test_text_only_object_runs() -> None:
    assert _run_text_only("vm") == 42  # square(6) + 6 through a bpf-to-bpf call


@pytest.mark.kernel
def test_text_only_object_same_in_the_kernel() -> None:
    _differential(_run_text_only)


# --- iproute2: struct bpf_elf_map, inner_id / inner_idx, "<id>/<key>" tail calls ------------

def test_iproute2_map_in_map_and_tail_call_sections() -> None:
    spec = load(DATA / "iproute2_maps.o")
    maps = spec.maps
    assert list(maps) == ["inner", "outer", "outer_h", "calls"]
    for outer in ("outer", "outer_h"):
        inner = maps[outer].inner
        assert inner is not None and (inner.type_name, inner.key_size, inner.value_size,
                                      inner.max_entries) == ("array", 4, 4, 1)
    assert maps["inner"].inner is None and maps["calls"].type_name == "prog_array"
    # BPF_ANNOTATE_KV_PAIR(inner, __u32, __u32) types the inner map's keys and values
    assert "key __u32  value __u32" in format_show(describe(spec))
    # the inner map (id 1, inner_idx 1) is stored in both outer maps at key 1, and the
    # program of section "2/1" in the prog_array of id 2 at key 1
    assert spec.map_values == {"outer": [(1, "inner")], "outer_h": [(1, "inner")],
                               "calls": [(1, "tail_one")]}
    assert {n: (p.section, p.type) for n, p in spec.programs.items()} == {
        "from_netdev": ("from-netdev", 0), "tail_one": ("2/1", 0)}


def _run_iproute2(backend: str) -> list[int]:
    spec = load(DATA / "iproute2_maps.o")
    for prog in spec.programs.values():
        prog.type = "sched_cls"  # what `tc filter add ... bpf obj` loads them as
    with spec.instantiate(backend) as obj:
        obj.maps["inner"][0] = u32(7)
        out = [obj.programs["from_netdev"].test_run(SHORT).retval,
               obj.programs["tail_one"].test_run(SHORT).retval]
        del obj.maps["calls"][1]
        out.append(obj.programs["from_netdev"].test_run(SHORT).retval)
        return out


def test_iproute2_object_runs() -> None:
    # tail call into "2/1" (inner value through outer_h, + 100); without it, through outer
    assert _run_iproute2("vm") == [107, 107, 7]


@pytest.mark.kernel
def test_iproute2_object_same_in_the_kernel() -> None:
    _differential(_run_iproute2)


def _run_iproute2_old(backend: str) -> list[int]:
    spec = load(DATA / "iproute2_old.o")
    assert spec.btf is None and spec.programs["entry"].type == ProgType.SCHED_CLS
    assert spec.map_values == {"jmp": [(0, "tail")]}  # section "1/0": the map of id 1
    spec.programs["tail"].type = spec.programs["entry"].type
    with spec.instantiate(backend) as obj:
        out = [obj.programs["entry"].test_run(SHORT).retval]
        del obj.maps["jmp"][0]
        out.append(obj.programs["entry"].test_run(SHORT).retval)
        return out


def test_old_iproute2_object_without_btf_runs() -> None:
    assert _run_iproute2_old("vm") == [2, 1]


@pytest.mark.kernel
def test_old_iproute2_object_same_in_the_kernel() -> None:
    _differential(_run_iproute2_old)


# --- samples/bpf: struct bpf_map_def with inner_map_idx ------------------------------------

def test_samples_bpf_inner_map_idx() -> None:
    spec = load(DATA / "samples_maps.o")
    shape = {n: (m.inner.type_name, m.inner.key_size, m.inner.max_entries)
             for n, m in spec.maps.items() if m.inner is not None}
    assert shape == {"a_of_maps": ("array", 4, 2), "h_of_maps": ("hash", 4, 8)}
    assert spec.map_values == {}  # samples/bpf's user space fills the outer maps
    assert spec.maps["h_of_maps"].value_size == 4  # an fd, though the definition says 0


def _run_samples(backend: str) -> list[int]:
    with load(DATA / "samples_maps.o").instantiate(backend) as obj:
        out = [obj.programs["lookup"].test_run(SHORT).retval]  # empty: XDP_ABORTED
        obj.maps["a_of_maps"][0] = obj.maps["port_arr"]
        obj.maps["h_of_maps"][0] = obj.maps["port_hash"]
        obj.maps["port_arr"][0] = u32(3)
        obj.maps["port_hash"][0] = u32(4)
        out.append(obj.programs["lookup"].test_run(SHORT).retval)
        return out


def test_samples_bpf_object_runs() -> None:
    assert _run_samples("vm") == [0, 34]


@pytest.mark.kernel
def test_samples_bpf_object_same_in_the_kernel() -> None:
    _differential(_run_samples)


# --- PREVAIL / gobpf: one maps/<name> section per map, code only in .text ---------------------

def test_maps_sections_count_inner_map_idx_in_section_order() -> None:
    spec = load(DATA / "maps_sections.o")
    assert list(spec.maps) == ["array_of_maps", "inner_map"]
    inner = spec.maps["array_of_maps"].inner
    assert (inner.type_name, inner.max_entries) == ("array", 2)
    assert list(spec.programs) == ["func"] and spec.programs["func"].section == ".text"
    assert {r.map for r in spec.programs["func"].map_refs} == {"array_of_maps"}


def _run_maps_sections(backend: str) -> list[int]:
    spec = load(DATA / "maps_sections.o")
    spec.programs["func"].type = "socket_filter"
    with spec.instantiate(backend) as obj:
        out = [obj.programs["func"].test_run(SHORT).retval]  # no inner map yet: 1
        obj.maps["array_of_maps"][0] = obj.maps["inner_map"]
        obj.maps["inner_map"][1] = u32(5)
        out.append(obj.programs["func"].test_run(SHORT).retval)
        return out


def test_maps_sections_object_runs() -> None:
    assert _run_maps_sections("vm") == [1, 5]


@pytest.mark.kernel
def test_maps_sections_object_same_in_the_kernel() -> None:
    _differential(_run_maps_sections)


# --- libbpf: BTF-defined __array(values, ...) with .values ----------------------------------

def test_btf_map_in_map_values() -> None:
    spec = load(DATA / "btf_map_in_map.o")
    assert spec.maps["outer"].inner.type_name == "array"
    assert spec.maps["outer_h"].inner.type_name == "array"
    assert spec.map_values == {"outer": [(0, "inner_a"), (1, "inner_b")],
                               "outer_h": [(1, "inner_b")]}


def _run_btf_map_in_map(backend: str) -> int:
    with load(DATA / "btf_map_in_map.o").instantiate(backend) as obj:
        obj.maps["inner_a"][0] = u32(1)
        obj.maps["inner_b"][0] = u32(2)
        return obj.programs["lookup"].test_run(SHORT).retval


def test_btf_map_in_map_runs() -> None:
    assert _run_btf_map_in_map("vm") == 122


@pytest.mark.kernel
def test_btf_map_in_map_same_in_the_kernel() -> None:
    _differential(_run_btf_map_in_map)


# --- the struct of a legacy definition: BTF names it, else its size ----------------------------

def _sections(data: bytes) -> list[tuple[str, int, int]]:
    """(name, file offset, size) of each section, read from the ELF64 headers."""
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    heads = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = heads[shstrndx][4]
    out = []
    for name_off, _, _, _, off, size in heads:
        end = data.index(b"\0", strtab + name_off)
        out.append((data[strtab + name_off:end].decode(), off, size))
    return out


def _without_btf(data: bytes) -> bytes:
    """The object with its .BTF* sections renamed out of the loader's sight."""
    out = bytearray(data)
    shstrndx = struct.unpack_from("<H", data, 0x3E)[0]
    _, off, size = _sections(data)[shstrndx]
    out[off:off + size] = bytes(out[off:off + size]).replace(b".BTF", b".BTX")
    return bytes(out)


def _untyped(m: Any) -> Any:
    """A MapSpec without BTF key/value types (what an object without BTF gives)."""
    inner = _untyped(m.inner) if m.inner is not None else None
    return m.with_(key_type=None, value_type=None, inner=inner)


@pytest.mark.parametrize("path", ["iproute2_maps.o", "samples_maps.o"])
def test_legacy_layout_without_btf_comes_from_the_size(path: str) -> None:
    data = (DATA / path).read_bytes()
    with_btf = load(data)
    bare = load(_without_btf(data))
    assert bare.btf is None
    assert bare.maps == {n: _untyped(m) for n, m in with_btf.maps.items()}
    assert bare.map_values == with_btf.map_values


def _patch_map_word(path: str, map_name: str, word: int, value: int) -> bytes:
    """The object with one u32 of a legacy map definition changed."""
    data = bytearray((DATA / path).read_bytes())
    spec = load(bytes(data))
    offset = next(off for name, off, _ in _sections(bytes(data)) if name == "maps")
    offset += spec.symbol_offsets[map_name] + 4 * word
    struct.pack_into("<I", data, offset, value)
    return bytes(data)


@pytest.mark.parametrize("path,map_name,word,value,message", [
    ("iproute2_maps.o", "outer", 7, 9, "map outer (struct bpf_elf_map) is a map of maps whose "
                                       "inner_id 9 is the id of no other legacy map"),
    ("samples_maps.o", "a_of_maps", 5, 7, "map a_of_maps (struct bpf_map_def) is a map of maps "
                                          "whose inner_map_idx 7 is not another"),
    ("samples_maps.o", "a_of_maps", 5, 2, "inner_map_idx 2 is not another"),  # itself
    ("samples_maps.o", "h_of_maps", 5, 2, "its inner map a_of_maps is itself a map of maps"),
])
def test_bad_inner_map_reference_names_the_map(path: str, map_name: str, word: int, value: int,
                                               message: str) -> None:
    with pytest.raises(ELFError, match=re.escape(message)):
        load(_patch_map_word(path, map_name, word, value))


@pytest.mark.parametrize("value,pinning,warning", [
    (0, Pinning.NONE, None),
    (1, Pinning.IPROUTE2_OBJECT_NS, None),   # <bpffs>/tc/<object sha1>/<name>
    (2, Pinning.IPROUTE2_GLOBAL_NS, None),   # <bpffs>/tc/globals/<name>
    (7, Pinning.NONE, "map inner: iproute2's custom pinning 7 (a subdirectory named in "
                      "/etc/iproute2/bpf_pinning) is not supported; the map is not pinned"),
])
def test_iproute2_pinning(value: int, pinning: int, warning: str | None) -> None:
    spec = load(_patch_map_word("iproute2_maps.o", "inner", 6, value))
    assert spec.maps["inner"].pinning is pinning
    assert spec.maps["outer"].inner.pinning == 0  # a template is never pinned
    if warning is None:
        assert spec.warnings == []
    else:
        assert len(spec.warnings) == 1 and spec.warnings[0].startswith(warning)


def test_iproute2_inner_idx_minus_one_is_not_stored() -> None:
    spec = load(_patch_map_word("iproute2_maps.o", "inner", 8, 0xFFFFFFFF))
    assert "outer" not in spec.map_values and spec.maps["outer"].inner is not None


# --- BTF nothing needs is passed over, as libbpf does ------------------------------------------

def _corrupt_section(path: str, section: str) -> bytes:
    data = bytearray((DATA / path).read_bytes())
    offset = next(off for name, off, _ in _sections(bytes(data)) if name == section)
    data[offset:offset + 4] = b"\xde\xad\xbe\xef"  # the magic
    return bytes(data)


def test_bad_btf_is_dropped_when_nothing_needs_it() -> None:
    spec = load(_corrupt_section("unknown_sec.o", ".BTF"))
    assert spec.btf is None and set(spec.programs) == {"len_filter", "len_bucket"}
    assert len(spec.warnings) == 1 and spec.warnings[0].startswith("section .BTF ignored")
    assert "warning: section .BTF ignored" in format_show(describe(spec))
    spec = load(_corrupt_section("samples_maps.o", ".BTF.ext"))
    assert spec.btf is not None and spec.btf_ext is None
    assert spec.warnings[0].startswith("section .BTF.ext ignored")


def test_bad_btf_is_an_error_when_maps_need_it() -> None:
    with pytest.raises(ELFError, match="bad BTF"):
        load(_corrupt_section("btf_map_in_map.o", ".BTF"))


def test_short_legacy_definition_names_no_inner_map() -> None:
    """A 20-byte bpf_map_def (libbpf's) map of maps has no inner_map_idx: its inner map is
    left for the user to set, not guessed."""
    from pybpf.elf.legacymaps import read_defs

    class Sym:
        def __init__(self, name: str, value: int) -> None:
            self.name, self.value, self.size = name, value, 20

    body = struct.pack("<5I", 2, 4, 4, 1, 0) + struct.pack("<5I", 12, 4, 4, 1, 0)
    defs = read_defs(body, [Sym("arr", 0), Sym("outer", 20)], None)
    assert [d.names_inner for d in defs] == [False, False]
    assert defs[1].is_map_in_map and defs[1].fields["inner_map_idx"] == 0


def test_relocation_against_a_missing_section_names_it() -> None:
    """Found by fuzzing: a symbol whose section index is past the section table, used by
    an lddw relocation, raised IndexError inside the loader. Symbols are now checked
    against their sections as they are read."""
    data = bytearray((DATA / "linking.o").read_bytes())
    secs = _sections(bytes(data))
    _, symtab, size = next(s for s in secs if s[0] == ".symtab")
    _, strtab, _ = next(s for s in secs if s[0] == ".strtab")
    for off in range(symtab, symtab + size, 24):
        name_off = struct.unpack_from("<I", data, off)[0]
        if data[strtab + name_off:].startswith(b"cfg_port\0"):
            struct.pack_into("<H", data, off + 6, 500)  # st_shndx
            break
    else:
        raise AssertionError("no symbol cfg_port")
    with pytest.raises(ELFError, match="symbol cfg_port is in section 500, which does not "
                                       "exist"):
        load(bytes(data))


def test_object_without_code_says_so() -> None:
    """An object of maps only loads (libbpf loads it too), with a warning, not silently."""
    import shutil
    import subprocess
    import tempfile
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    src = ('struct { int type, key_size, value_size, max_entries, flags; } m '
           '__attribute__((section("maps"), used)) = { 2, 4, 4, 1, 0 };\n')
    with tempfile.TemporaryDirectory() as tmp:
        obj = Path(tmp) / "maps_only.o"
        proc = subprocess.run(["clang", "-O2", "-target", "bpf", "-x", "c", "-c", "-",
                               "-o", str(obj)], input=src.encode(), capture_output=True)
        if proc.returncode:
            pytest.skip(f"clang cannot build BPF objects here: {proc.stderr.decode()[:200]}")
        spec = load(obj)
    assert spec.programs == {} and list(spec.maps) == ["m"]
    assert spec.warnings == ["the object has no programs (no executable section holds code)"]


def test_untyped_entry_symbols_name_programs() -> None:
    """Objects of older LLVM mark entry points as global symbols without a type
    (STT_NOTYPE): they still name the programs, as libbpf reads them."""
    data = bytearray((DATA / "iproute2_old.o").read_bytes())
    secs = _sections(bytes(data))
    _, symtab, size = next(s for s in secs if s[0] == ".symtab")
    patched = 0
    for off in range(symtab, symtab + size, 24):
        info = data[off + 4]
        if info & 0xF == 2:  # STT_FUNC -> STT_NOTYPE, binding kept
            data[off + 4] = info & 0xF0
            patched += 1
    assert patched == 2
    spec = load(bytes(data))
    assert {n: p.section for n, p in spec.programs.items()} == {"entry": "classifier",
                                                                "tail": "1/0"}
