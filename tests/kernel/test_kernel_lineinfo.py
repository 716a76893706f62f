"""BTF line info passed to BPF_PROG_LOAD (kernel.prog_load(line_info=...), the kernel
backend's loads): the kernel validates it (a wrong record is EINVAL), keeps it, and
`pybpf prog dump xlated` shows the source lines from it, as bpftool does."""

from __future__ import annotations

import dataclasses
import errno
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import pybpf
from pybpf import isa, kernel
from pybpf.btf import encode, sanitize_for_kernel
from pybpf.kernel.info import prog_detail_by_id
from tests.conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.kernel


def test_clang_object_line_info_reaches_the_kernel(capsys) -> None:  # type: ignore[no-untyped-def]
    spec = pybpf.load(EXAMPLES / "xdp_firewall.o")
    pspec = spec.programs["xdp_firewall"]
    with spec.instantiate("kernel") as obj:
        assert not [w for w in obj.warnings if "line info" in w], obj.warnings
        d = prog_detail_by_id(obj.programs["xdp_firewall"].handle.id, insns=True)
        # one kernel record per distinct instruction of the spec's records, in order (the
        # kernel moves their offsets where its rewrites grow the program)
        want = sorted({li.pc: li for li in reversed(pspec.line_info)}.values(),
                      key=lambda li: li.pc)
        offs = [r.insn_off for r in d.line_info]
        assert offs == sorted(set(offs)) and offs[0] == 0
        assert [(r.line_num, r.column) for r in d.line_info] == \
            [(li.line_num, li.column) for li in want]
        rc, out, err = run_cli(capsys, "prog", "dump", "xlated", str(d.info.id), "-j",
                               "--linum")
        assert rc == 0, err
        mine = json.loads(out)
        srcs = [m for m in mine if "src" in m]
        assert len(srcs) == len(want)
        assert [m["src"] for m in srcs] == [li.line.strip() for li in want]
        assert {m["file"] for m in srcs} == {want[0].file}
        if shutil.which("bpftool"):
            theirs = json.loads(subprocess.run(
                ["bpftool", "-j", "prog", "dump", "xlated", "id", str(d.info.id), "linum"],
                capture_output=True, text=True, check=True).stdout)
            assert [(m.get("src"), m.get("line_num"), m.get("line_col")) for m in mine] == \
                [(t.get("src"), t.get("line_num"), t.get("line_col")) for t in theirs]


def test_python_program_shows_its_python_lines(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from pybpf.frontend.python import compile_file
    src = tmp_path / "lineinfo_demo.py"
    src.write_text("from pybpf.frontend.python import XDP_DROP, XDP_PASS, XdpMd, xdp\n\n"
                   "@xdp\ndef lineinfo_demo(ctx: XdpMd) -> int:\n"
                   "    if ctx.data_end - ctx.data < 60:\n"
                   "        return XDP_DROP\n"
                   "    return XDP_PASS\n")
    spec = compile_file(src).spec()
    with spec.instantiate("kernel") as obj:
        assert not [w for w in obj.warnings if "line info" in w], obj.warnings
        prog = obj.programs["lineinfo_demo"]
        rc, out, err = run_cli(capsys, "prog", "dump", "xlated", str(prog.handle.id),
                               "--linum")
        assert rc == 0, err
        assert "; if ctx.data_end - ctx.data < 60: [file:" in out
        assert "lineinfo_demo.py line_num:5" in out


def _loaded_btf(spec):  # type: ignore[no-untyped-def]
    clean = sanitize_for_kernel(spec.btf, {n: s for n, _, s in spec.sections},
                                spec.symbol_offsets)
    strings = clean.btf.strings
    line_off, file_off = strings.add("some line"), strings.add("file.c")
    return kernel.btf_load(encode(clean.btf)), file_off, line_off


def test_kernel_validates_line_info() -> None:
    """Out-of-order or out-of-range records, and bad string offsets: EINVAL, and the
    verifier log says line_info."""
    from pybpf.asm import assemble
    spec = pybpf.load(EXAMPLES / "sockfilter_proto.o")
    pspec = next(iter(spec.programs.values()))
    code = assemble("r0 = 0\nr0 += 1\nr0 += 2\nr0 += 3\nexit")
    n = len(code) // 8
    btf, file_off, line_off = _loaded_btf(spec)
    finfo = [(f.pc, f.type_id) for f in pspec.func_info]
    good = [(0, file_off, line_off, 7 << 10 | 3)]
    with kernel.prog_load(pspec.type, code, "GPL", prog_btf_fd=btf, func_info=finfo,
                          line_info=good) as prog:
        d = prog_detail_by_id(prog.id, insns=True)
        assert [(r.insn_off, r.line_num, r.column) for r in d.line_info] == [(0, 7, 3)]
    bad = {"after the end": [(0, file_off, line_off, 1 << 10), (n + 5, file_off, line_off, 0)],
           "out of order": [(0, file_off, line_off, 0), (3, file_off, line_off, 0),
                            (2, file_off, line_off, 0)],
           "bad string": [(0, file_off, 1 << 30, 0)],
           "no record at insn 0": [(1, file_off, line_off, 0)]}
    for what, recs in bad.items():
        with pytest.raises(kernel.KernelVerifierError) as ei:
            kernel.prog_load(pspec.type, code, "GPL", prog_btf_fd=btf, func_info=finfo,
                             line_info=recs, log_level=1)
        assert ei.value.errno == errno.EINVAL, what
        assert "line_info" in ei.value.log, (what, ei.value.log)
    btf.close()


def test_loader_falls_back_without_line_info_and_says_so(monkeypatch) -> None:
    """Line info the kernel refuses (here: records pointing at strings that are not in
    the BTF) costs the program its source lines, not its load; the warning says so."""
    from pybpf.objects import kernelbackend
    real = kernelbackend._line_records

    def broken(pspec, code, obj):  # type: ignore[no-untyped-def]
        recs = real(pspec, code, obj)
        return [(pc, f, 1 << 30, lc) for pc, f, _, lc in recs or []]

    monkeypatch.setattr(kernelbackend, "_line_records", broken)
    with pybpf.load(EXAMPLES / "xdp_firewall.o").instantiate("kernel") as obj:
        assert any("refused its line info" in w for w in obj.warnings), obj.warnings
        d = prog_detail_by_id(obj.programs["xdp_firewall"].handle.id, insns=True)
        assert d.line_info == [] and d.func_info


def test_missing_function_start_loads_without_line_info() -> None:
    """A subprogram without a record at its first instruction: the kernel would refuse
    the whole load; the loader leaves line info out and warns."""
    spec = pybpf.load(EXAMPLES / "xdp_firewall.o")
    pspec = spec.programs["xdp_firewall"]
    sub = [start for name, start in pspec.functions if start][0]
    pspec.line_info = [li for li in pspec.line_info if li.pc != sub]
    with spec.instantiate("kernel") as obj:
        assert any(f"function at insn {sub}" in w for w in obj.warnings), obj.warnings
        d = prog_detail_by_id(obj.programs["xdp_firewall"].handle.id, insns=True)
        assert d.line_info == []


def test_line_records_drop_duplicates_and_lddw_halves() -> None:
    from pybpf.objects.kernelbackend import _line_records
    spec = pybpf.load(EXAMPLES / "xdp_firewall.o")
    pspec = spec.programs["xdp_firewall"]
    code = isa.encode(pspec.instructions)
    lddw = [pc for pc, insn in zip(isa.slot_offsets(pspec.instructions), pspec.instructions)
            if insn.is_lddw][0]
    li = pspec.line_info[0]
    pspec.line_info = [*pspec.line_info, dataclasses.replace(li, pc=lddw + 1),
                       dataclasses.replace(li, pc=0, line_num=999)]

    class Obj:
        warnings: list[str] = []

    obj = Obj()
    clean = sanitize_for_kernel(spec.btf, {n: s for n, _, s in spec.sections},
                                spec.symbol_offsets)
    for p in spec.programs.values():
        for rec in p.line_info:
            clean.btf.strings.add(rec.file)
            clean.btf.strings.add(rec.line)
    obj.__dict__["btf_strings"] = clean.btf.strings
    recs = _line_records(pspec, code, obj)  # type: ignore[arg-type]  # a stand-in Object
    assert recs is not None
    pcs = [r[0] for r in recs]
    assert pcs == sorted(set(pcs)) and lddw + 1 not in pcs and pcs[0] == 0
    assert recs[0][3] >> 10 != 999  # the first record at a pc wins
