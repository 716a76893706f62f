"""The ELF loader on fixtures, the examples and real-world objects, and its robustness."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import pybpf
from pybpf import isa
from pybpf.elf import ELFError, load
from pybpf.fuzz import mutated_objects

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = sorted((ROOT / "examples").glob("*.o"))
# Objects real projects ship, from Debian packages (xdp-tools); scripts/test installs them
REAL_GLOBS = ("/usr/lib/*/bpf/*.o", "/usr/lib/bpf/*.o", "/usr/local/lib/bpf/*.o")
REAL = sorted({p for g in REAL_GLOBS for p in glob.glob(g)})


def test_linking_fixture() -> None:
    spec = load(DATA / "linking.o")
    assert spec.license == "GPL"
    assert set(spec.programs) == {"prog_a", "prog_b", "sock"}
    assert set(spec.maps) == {"counts", "arr", ".rodata", ".data", ".bss"}
    assert spec.maps["counts"].type_name == "hash" and spec.maps[".rodata"].freeze
    a = spec.programs["prog_a"]
    # the .text sub-program and the bpf_loop callback are appended behind prog_a
    assert [name for name, _ in a.functions] == ["prog_a", "cb", "helper_add"]
    starts = dict(a.functions)
    insns = a.instructions
    pcs = isa.slot_offsets(insns)
    for insn, pc in zip(insns, pcs):
        if insn.opcode == isa.OPCODE_CALL and insn.src == isa.BPF_PSEUDO_CALL:
            assert isa.jump_target(insn, pc) == starts["helper_add"]
        if insn.is_lddw and insn.src == isa.BPF_PSEUDO_FUNC:
            assert isa.jump_target(insn, pc) == starts["cb"]
    kinds = {(r.map, r.kind) for r in a.map_refs}
    assert kinds == {("counts", "fd"), (".data", "value"), (".bss", "value"), (".rodata", "value")}
    assert spec.global_bytes("hits") == (3).to_bytes(8, "little")
    spec.set_global("cfg_port", 8080)
    assert spec.global_bytes("cfg_port") == (8080).to_bytes(4, "little")


def test_linking_fixture_runs_on_the_vm() -> None:
    spec = load(DATA / "linking.o")
    spec.set_global("cfg_port", 10)
    with spec.instantiate("vm") as obj:
        obj.maps["arr"][0] = (5).to_bytes(4, "little")
        # prog_b: *arr[0] + helper_add(3, 4) = 5 + 3 + 4 + cfg_port
        assert obj.programs["prog_b"].test_run(bytes(64)).retval == 22
        # prog_a: helper_add(1, 2) + sum(0..3) = 3 + 10 + 6, and the counters moved
        assert obj.programs["prog_a"].test_run(bytes(64)).retval == 19
        assert obj.maps[".data"][0] == (4).to_bytes(8, "little")


@pytest.mark.kernel
def test_linking_fixture_same_in_the_kernel() -> None:
    for backend in ("kernel", "vm"):
        spec = load(DATA / "linking.o")
        spec.set_global("cfg_port", 10)
        with spec.instantiate(backend) as obj:
            obj.maps["arr"][0] = (5).to_bytes(4, "little")
            assert obj.programs["prog_b"].test_run(bytes(64)).retval == 22
            assert obj.programs["prog_a"].test_run(bytes(64)).retval == 19


@pytest.mark.parametrize("path", EXAMPLES + [Path(p) for p in REAL],
                         ids=[p.name for p in EXAMPLES] + [Path(p).name for p in REAL])
def test_objects_load_and_show(path: Path) -> None:
    from pybpf.objects.show import describe, format_show
    spec = load(path)
    assert spec.programs
    text = format_show(describe(spec))
    for name in spec.programs:
        assert name in text


@pytest.mark.kernel
@pytest.mark.skipif(not REAL, reason="no real-world objects installed (Debian's xdp-tools)")
@pytest.mark.parametrize("path", [Path(p) for p in REAL if "xdpdump_bpf" not in p],
                         ids=[Path(p).name for p in REAL if "xdpdump_bpf" not in p])
def test_real_objects_load_in_the_kernel(path: Path, bpffs: str) -> None:
    # xdp-tools' maps are pinned by name: under a bpffs of the test's own, not /sys/fs/bpf
    with load(path).instantiate("kernel", pin_root=bpffs) as obj:
        assert obj.programs


@pytest.mark.parametrize("content,message", [
    (b"", "not an ELF object"), (b"\x7fELF" + bytes(60), "malformed ELF|not a"),
    (b"MZ" + bytes(200), "not an ELF object"), (b"\x7fEL", "not an ELF object"),
    (b"#!/bin/sh\necho hi\n", "not an ELF object"),
])
def test_bad_input_is_an_elf_error(content: bytes, message: str) -> None:
    with pytest.raises(ELFError, match=message):
        load(content)


def test_real_objects_all_parse() -> None:
    """Every installed real-world object parses, each program with a type its section
    names (all of them are libbpf objects) and shows."""
    if not REAL:
        pytest.skip("no real-world BPF objects installed (Debian's xdp-tools puts them in "
                    "/usr/lib/<arch>/bpf/)")
    from pybpf.objects.show import describe, format_show
    failures = []
    for path in REAL:
        try:
            spec = load(path)
            format_show(describe(spec))
        except pybpf.PyBPFError as e:
            failures.append(f"{path}: {type(e).__name__}: {e}")
            continue
        if not spec.programs:
            failures.append(f"{path}: no programs")
        failures += [f"{path}: program {p.name} (section {p.section}) has no known type"
                     for p in spec.programs.values() if not p.type_known]
    assert not failures, "\n".join(failures)


def test_non_elf_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "notes.o"
    path.write_text("just text\n")
    with pytest.raises(ELFError, match=re.escape(f"{path}: not an ELF object")):
        pybpf.load(path)


def test_x86_object_is_refused(tmp_path: Path) -> None:
    import subprocess
    c = tmp_path / "x.c"
    c.write_text("int f(void) { return 1; }\n")
    obj = tmp_path / "x.o"
    if subprocess.run(["cc", "-c", str(c), "-o", str(obj)], capture_output=True).returncode:
        pytest.skip("no C compiler")
    with pytest.raises(ELFError, match="not a BPF object"):
        load(obj)


SEEDS = tuple(p.read_bytes() for p in EXAMPLES[:4]) + tuple(
    (DATA / f"{name}.o").read_bytes()
    for name in ("linking", "unknown_sec", "text_only", "iproute2_maps", "samples_maps",
                 "maps_sections"))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_objects(SEEDS))
def test_mutated_objects_never_crash(data: bytes) -> None:
    """`pybpf fuzz elf` runs this for 100,000 inputs; the suite runs a sample."""
    try:
        load(data)
    except ELFError as e:  # the failure names what it could not read
        assert not str(e).startswith(("malformed ELF:", "malformed BPF object:")), str(e)
    except pybpf.PyBPFError:
        pass


def test_corrupt_compressed_section_is_an_elf_error() -> None:
    """Found by `pybpf fuzz elf`: a section flagged SHF_COMPRESSED whose data is not
    zlib made pyelftools raise zlib.error."""
    import struct as st
    data = bytearray((DATA / "linking.o").read_bytes())
    shoff = st.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = st.unpack_from("<HH", data, 0x3A)
    for i in range(1, shnum):
        hdr = shoff + i * shentsize
        sh_type, sh_flags = st.unpack_from("<IQ", data, hdr + 4)
        if sh_type == 1 and not sh_flags & 0x4:  # a PROGBITS data section
            st.pack_into("<Q", data, hdr + 8, sh_flags | 0x800)  # SHF_COMPRESSED
            break
    with pytest.raises(ELFError):
        load(bytes(data))
