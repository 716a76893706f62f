"""The bpf_conformance and uBPF vectors (../shared/conformance), through pybpf.run,
the conformance plugin, and the VM with uBPF's test helpers."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

import pybpf
from pybpf.conformance import (
    UBPF_HELPERS,
    UBPF_MAX_INSNS,
    check_vector,
    conformance_helpers,
    parse_data,
    plugin_main,
    run_vector_vm,
)
from pybpf.elf import ELFError, load_text
from pybpf.vm import run as vm_run
from tests.conformance.ubpf_elf_template import HelperNotFound, bind_helpers, build
from tests.conftest import CONFORMANCE, conformance_dir

BPF_CONF = sorted((CONFORMANCE / "bpf_conformance").glob("*.data"))
NEGATIVE = sorted((CONFORMANCE / "bpf_conformance" / "negative").glob("*.data"))
UBPF_ALL = sorted((CONFORMANCE / "ubpf").rglob("*.data"))

# uBPF vectors that are not self-contained or test uBPF itself rather than eBPF.
UBPF_SKIPS = {
    "reload": "uBPF VM lifecycle (loading code twice into one VM object); pybpf loads "
              "each program into its own VM",
    "unload_reload": "uBPF VM lifecycle (ubpf_unload_code); not an eBPF semantic",
    "err-unknown-opcode": "0x06 with imm 0 is `gotol +0` (JMP32|JA) in RFC 9669 v4, a valid "
                          "instruction; the vector predates it",
}
ASM_ONLY = {"alu", "alu64", "jmp", "ldx", "st", "stx"}


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(CONFORMANCE)) for p in paths]


def test_vector_counts() -> None:
    conformance_dir()
    assert len(BPF_CONF) == 313
    assert len(NEGATIVE) == 60


def _run_api(vec) -> int:  # type: ignore[no-untyped-def]
    """pybpf.run: the public API with the default (kernel-ID) helpers."""
    return pybpf.run(vec.program(), vec.mem)


@pytest.mark.parametrize("path", BPF_CONF, ids=ids(BPF_CONF))
def test_bpf_conformance_via_run(path: Path) -> None:
    outcome = check_vector(path, _run_api)
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("path", BPF_CONF, ids=ids(BPF_CONF))
def test_bpf_conformance_via_plugin(path: Path) -> None:
    vec = parse_data(path)
    code = vec.program()
    argv = [vec.mem.hex()] if vec.mem else []
    out, err = io.StringIO(), io.StringIO()
    rc = plugin_main(argv, io.StringIO(code.hex(" ") + "\n"), out, err)
    assert rc == 0, err.getvalue()
    assert int(out.getvalue(), 16) == vec.result


@pytest.mark.parametrize("path", NEGATIVE, ids=ids(NEGATIVE))
def test_negative_vectors_rejected(path: Path) -> None:
    """Each negative vector must fail to give its expected result: it is malformed
    (format, assembly, reserved fields), or its result is deliberately wrong."""
    outcome = check_vector(path)
    try:
        expected = parse_data(path).result
    except Exception:  # noqa: BLE001 - an unparsable vector is rejected
        expected = None
    accepted = outcome.r0 is not None and expected is not None and outcome.r0 == expected
    assert not accepted, f"negative vector accepted: {outcome.detail}"


def _ubpf_params() -> list:  # type: ignore[type-arg]
    params = []
    for p in UBPF_ALL:
        rel = p.relative_to(CONFORMANCE / "ubpf")
        marks = []
        if rel.parts[0] == "elf":
            continue  # test_ubpf_elf_vectors
        if p.stem in UBPF_SKIPS:
            marks.append(pytest.mark.skip(reason=UBPF_SKIPS[p.stem]))
        params.append(pytest.param(p, marks=marks, id=str(rel)))
    return params


@pytest.mark.parametrize("path", _ubpf_params())
def test_ubpf_vectors(path: Path) -> None:
    vec = parse_data(path)
    if path.stem in ASM_ONLY:
        from pybpf.asm import assemble
        assert assemble(vec.asm or "", syntax="conformance") == vec.raw
        return
    outcome = check_vector(path, lambda v: run_vector_vm(v, max_insns=UBPF_MAX_INSNS))
    assert outcome.passed, outcome.detail


# uBPF's elf/ vectors: a template object (ubpf_elf_template.py) mutated by each `-- pyelf`.
# Each `-- error` vector maps to a phrase of pybpf's refusal (uBPF's wording differs).
UBPF_ELF = sorted((CONFORMANCE / "ubpf" / "elf").glob("*.data"))
UBPF_ELF_ERRORS = {
    "bad-rel-offset": "relocation at offset 500 is outside .text",
    "bad-rel-strtab-index": "Reading section 30",  # the symtab's sh_link names no section
    "bad-rel-symbol-index": "names symbol 10, which does not exist",
    "bad-rel-symbol-name": "name offset 100 is outside",
    "bad-rel-symbol-table-section-index": "sh_link 30 is not the symbol table",
    "bad-rel-type": "bad relocation type R_BPF_64_ABS32",
    "bad-section-header-offset": "Reading section 0 at offset 1024 past EOF",
    "bad-section-header-size": "malformed ELF",  # 1024-byte entries: headers read as garbage
    "bad-section-offset": "offset 1024 + size 24 is past the end",
    "bad-section-size": "offset 64 + size 1024 is past the end",
    "ehdr-short": "malformed ELF",  # only the 4 magic bytes
    "no-text-section": "text section not found",
    "rel-sym-not-found": "function 'qrti' not found",  # bound to helpers by name: no such one
    "too-many-sections": "malformed ELF",  # e_shnum 1024: headers past the end of the file
    "wrong-byte-order": "big-endian",
    "wrong-class": "not a 64-bit ELF object",
    "wrong-machine": "not a BPF object: machine is EM_M32",
    "wrong-type": "not a relocatable object",
    "wrong-version": "ELF version 2, expected 1",
}
UBPF_ELF_XFAIL = {
    "wrong-osabi": "EI_OSABI is not checked by BPF loaders (libbpf/libelf accept "
                   "ELFOSABI_LINUX; clang writes ELFOSABI_NONE): a uBPF-only rule",
}
UBPF_HELPER_IDS = {name: hid for hid, (name, _) in UBPF_HELPERS.items()}


def _ubpf_elf_params() -> list:  # type: ignore[type-arg]
    marks = {k: [pytest.mark.xfail(reason=v, raises=AssertionError, strict=True)]
             for k, v in UBPF_ELF_XFAIL.items()}
    return [pytest.param(p, marks=marks.get(p.stem, []), id=p.stem) for p in UBPF_ELF]


def _load_ubpf_elf(data: bytes) -> bytes:
    """uBPF's ELF path through pybpf: the .text program, extern calls bound to uBPF's
    helpers by name."""
    return bind_helpers(load_text(data), UBPF_HELPER_IDS)


def test_ubpf_elf_vector_count() -> None:
    conformance_dir("ubpf")
    assert len(UBPF_ELF) == 21
    assert {p.stem for p in UBPF_ELF} == set(UBPF_ELF_ERRORS) | set(UBPF_ELF_XFAIL) | {"ok"}


@pytest.mark.parametrize("path", _ubpf_elf_params())
def test_ubpf_elf_vectors(path: Path) -> None:
    vec = parse_data(path)
    data = build(vec.sections["pyelf"] or "")
    if not vec.expects_error:
        code = _load_ubpf_elf(data)
        assert vm_run(code, helpers=conformance_helpers()) == vec.result == 0x2A
        return
    try:
        _load_ubpf_elf(data)
    except (ELFError, HelperNotFound) as e:
        assert UBPF_ELF_ERRORS[path.stem] in str(e), f"{type(e).__name__}: {e}"
        return
    raise AssertionError(f"pybpf accepted the object; uBPF refuses it with {vec.error!r}")


def test_ubpf_elf_template_is_the_object_uBPF_describes() -> None:
    """The unmutated template: one .text program r1 = 1764; call sqrti; exit, its call
    relocated (R_BPF_64_32) against the undefined symbol sqrti; and the template is
    what makes the mutations fail (a different helper name must not bind)."""
    prog = load_text(build())
    assert [(e.pc, e.name, e.kind) for e in prog.extern_refs] == [(1, "sqrti", "call")]
    assert [(i.opcode, i.imm) for i in prog.instructions] == [(0xB7, 1764), (0x85, -1),
                                                               (0x95, 0)]
    # load() takes .text as the program when no SEC() section exists (uBPF, PREVAIL)
    spec = pybpf.load(build())
    assert list(spec.programs) == ["entry"]
    assert spec.programs["entry"].instructions == prog.instructions
    with pytest.raises(HelperNotFound):
        bind_helpers(prog, {"gather_bytes": 0})


def test_plugin_command_line() -> None:
    """The installed entry point speaks the protocol: hex on stdin, r0 in hex on stdout."""
    code = "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00"
    proc = subprocess.run([sys.executable, "-m", "pybpf.cli", "conformance-plugin"],
                          input=code + "\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "2a\n"
    # memory as a positional argument; --program instead of stdin
    ldx = "61 10 00 00 00 00 00 00 95 00 00 00 00 00 00 00"  # r0 = *(u32 *)(r1 + 0)
    proc = subprocess.run([sys.executable, "-m", "pybpf.cli", "conformance-plugin",
                           "--program", ldx, "efbeadde"], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout == "deadbeef\n"
    proc = subprocess.run([sys.executable, "-m", "pybpf.cli", "conformance-plugin"],
                          input="07 00\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr and not proc.stdout
    assert "Traceback" not in proc.stderr


def test_ubpf_helpers_not_in_default_table() -> None:
    """uBPF's helper 0 (gather_bytes) is plugin-only: the default table has no helper 0."""
    call0 = bytes.fromhex("8500000000000000" "9500000000000000")
    with pytest.raises(pybpf.InvalidProgram, match="unknown helper 0"):
        vm_run(call0)
    assert 0 in conformance_helpers()
