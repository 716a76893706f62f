"""The generated UAPI modules (pybpf.uapi, pybpf.uapi_structs) and their generator:
regenerating from the running kernel's BTF gives the checked-in bytes, every generated
struct matches the BTF member for member, the recorded #defines match the headers in
/usr/include, and bad input to the generator is a clear error."""

from __future__ import annotations

import ast
import ctypes
import operator
import os
import platform
import re
from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf import uapi, uapi_structs
from pybpf.gen_uapi import CONST_ENUMS, DEFINES, generate, main
from pybpf.gen_uapi_structs import STRUCTS, field_bit_offset

PKG = Path(pybpf.__file__).parent
VMLINUX = Path("/sys/kernel/btf/vmlinux")
INCLUDE = Path(os.environ.get("PYBPF_UAPI_INCLUDE", "/usr/include"))


def _release_of(module_text: str) -> str:
    m = re.search(r"BTF of Linux (\S+)\.", module_text.splitlines()[0])
    assert m, module_text.splitlines()[0]
    return m.group(1)


@pytest.fixture(scope="module")
def kernel_btf() -> Any:
    if not os.access(VMLINUX, os.R_OK):
        pytest.skip(f"{VMLINUX} is not readable (no kernel BTF here)")
    from pybpf.btf import load_vmlinux
    return load_vmlinux()


@pytest.fixture(scope="module")
def same_kernel(kernel_btf: Any) -> Any:
    """The running kernel's BTF, when it is the kernel the modules were made from."""
    made_for = _release_of((PKG / "uapi.py").read_text())
    if made_for != platform.release():
        pytest.skip(f"the modules are from Linux {made_for}, this is {platform.release()}")
    return kernel_btf


def test_regenerating_gives_the_checked_in_bytes(same_kernel: Any) -> None:
    modules = generate(same_kernel)
    for name, text in modules.items():
        assert (PKG / name).read_text() == text, f"{name} is stale: run python -m pybpf.gen_uapi"


def test_generation_is_deterministic(kernel_btf: Any) -> None:
    assert generate(kernel_btf, "x") == generate(kernel_btf, "x")


def test_check_mode(same_kernel: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--outdir", str(PKG), "--check"]) == 0
    for name in ("uapi.py", "uapi_structs.py"):
        (tmp_path / name).write_text((PKG / name).read_text())
    with open(tmp_path / "uapi.py", "a") as f:
        f.write("# edited\n")
    assert main(["--outdir", str(tmp_path), "--check"]) == 1
    assert "uapi.py differs" in capsys.readouterr().err


# --- struct layouts against the kernel's BTF ------------------------------------------------

def _btf_leaves(btf: Any, type_id: int, base_bits: int = 0,
                prefix: str = "") -> list[tuple[str, int, int]]:
    """(dotted path through named members, bit offset, bitfield size) of every member,
    anonymous members flattened into their parent as C (and ctypes' _anonymous_) do."""
    from pybpf.btf import Struct, Union_
    t = btf[btf.resolve(type_id)]
    out = []
    for m in t.members:
        inner = btf[btf.resolve(m.type)]
        off = base_bits + m.offset
        if isinstance(inner, (Struct, Union_)) and not m.name:
            out += _btf_leaves(btf, m.type, off, prefix)
            continue
        path = prefix + m.name
        out.append((path, off, m.bitfield_size))
        if isinstance(inner, (Struct, Union_)):
            out += _btf_leaves(btf, m.type, off, path + ".")
    return out


def _ctypes_bit_offset(cls: Any, path: str) -> int:
    """Bit offset of a dotted member path in ctypes class `cls`, through anonymous
    members as C resolves names."""
    total = 0
    *outer, last = path.split(".")
    for name in outer:
        off, cls = _find(cls, name)
        total += off
    return total + _find(cls, last)[0]


def _find(cls: Any, name: str) -> tuple[int, Any]:
    """(bit offset, ctypes type) of member `name` of `cls`, looking through anonymous
    members."""
    for fname, ftype, *_ in cls._fields_:
        if fname == name:
            return field_bit_offset(cls, name), ftype
    for fname, ftype, *_ in cls._fields_:
        if fname in getattr(cls, "_anonymous_", ()):
            try:
                off, t = _find(ftype, name)
            except AttributeError:
                continue
            return getattr(cls, fname).offset * 8 + off, t
    raise AttributeError(f"{cls.__name__} has no field {name}")


def _btf_type_of(btf: Any, spec: Any) -> Any:
    from pybpf.gen_uapi_structs import _select
    return _select(btf, spec)


@pytest.mark.parametrize("spec", STRUCTS, ids=[s.cls for s in STRUCTS])
def test_struct_matches_kernel_btf(kernel_btf: Any, spec: Any) -> None:
    """sizeof and the offset of every member (nested and bitfields too) of the
    checked-in class equal the running kernel's BTF."""
    from pybpf.btf import Struct, Union_
    t = _btf_type_of(kernel_btf, spec)
    cls = getattr(uapi_structs, spec.cls)
    assert ctypes.sizeof(cls) == t.size
    tid = next(i for i, x in kernel_btf.items() if x is t) if spec.member is None else None
    if tid is None:  # a member of union bpf_attr: walk it from its BTF id
        parent = kernel_btf.find_one(spec.c_type)
        tid = next(m.type for m in kernel_btf[parent].members
                   if kernel_btf[kernel_btf.resolve(m.type)] is t)
    leaves = _btf_leaves(kernel_btf, tid)
    assert leaves
    assert isinstance(t, (Struct, Union_))
    for path, bit_off, _ in leaves:
        assert _ctypes_bit_offset(cls, path) == bit_off, (spec.cls, path)


def test_bpf_attr_size_is_the_kernels(kernel_btf: Any) -> None:
    assert uapi_structs.BPF_ATTR_SIZE == kernel_btf[kernel_btf.find_one("bpf_attr")].size
    for spec in STRUCTS:
        if spec.c_type == "bpf_attr":
            assert ctypes.sizeof(getattr(uapi_structs, spec.cls)) <= uapi_structs.BPF_ATTR_SIZE


def test_anonymous_unions_answer_to_every_name() -> None:
    a = uapi_structs.MapElemAttr(map_fd=3, key=1, next_key=0x1122)
    assert a.value == 0x1122 and bytes(a)[16:18] == b"\x22\x11"
    q = uapi_structs.ProgQueryAttr(target_ifindex=7, count=3)
    assert q.target_fd == 7 and q.prog_cnt == 3
    link = uapi_structs.LinkCreateAttr(map_fd=5)
    link.extra.tcx.relative_id = 9
    assert link.prog_fd == 5 and link.tcx.relative_fd == 9
    assert bytes(link)[16:20] == (9).to_bytes(4, "little")
    p = uapi_structs.PerfEventAttr(disabled=1, inherit=1, precise_ip=3)
    assert bytes(p)[40:48] == ((1 << 0) | (1 << 1) | (3 << 15)).to_bytes(8, "little")
    assert "map_fd=3" in repr(a) and "value=4386" in repr(a)


# --- constants -----------------------------------------------------------------------------

_OPS = {ast.LShift: operator.lshift, ast.BitOr: operator.or_, ast.Add: operator.add,
        ast.Sub: operator.sub, ast.Mult: operator.mul}


def _eval_c(expr: str, known: dict[str, int]) -> int | None:
    """The value of a simple C constant expression (integers with U/L suffixes, <<, |,
    +, -, *, parentheses, names defined earlier); None for anything else."""
    expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr.strip())
    try:
        tree = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return None

    def ev(n: ast.AST) -> int | None:
        if isinstance(n, ast.Constant) and isinstance(n.value, int):
            return n.value
        if isinstance(n, ast.Name):
            return known.get(n.id)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            v = ev(n.operand)
            return None if v is None else -v
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            a, b = ev(n.left), ev(n.right)
            return None if a is None or b is None else _OPS[type(n.op)](a, b)
        return None
    return ev(tree)


def _header_defines(path: Path) -> dict[str, int]:
    known: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(r"\s*#\s*define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$", line)
        if m:
            v = _eval_c(m.group(2), known)
            if v is not None:
                known[m.group(1)] = v
    return known


def test_recorded_defines_match_the_headers() -> None:
    """Every recorded #define from a UAPI header equals the header's own, where the
    header in /usr/include has it (older headers lack the newest names)."""
    checked, missing = 0, []
    for header in sorted({d.header for d in DEFINES if d.header.startswith("linux/")}):
        path = INCLUDE / header
        if not path.exists():
            continue
        defs = _header_defines(path)
        for d in DEFINES:
            if d.header != header:
                continue
            if d.name not in defs:
                missing.append(d.name)
                continue
            assert defs[d.name] == d.value, f"{d.name}: {header} says {defs[d.name]}"
            checked += 1
    if not checked:
        pytest.skip(f"no UAPI headers under {INCLUDE}")
    assert checked >= 30, (checked, missing)


def test_generated_constants_are_the_recorded_and_btf_values() -> None:
    for d in DEFINES:
        assert getattr(uapi, d.name) == d.value
    assert (uapi.BPF_ANY, uapi.BPF_NOEXIST, uapi.BPF_EXIST, uapi.BPF_F_LOCK) == (0, 1, 2, 4)
    assert uapi.BPF_F_CURRENT_CPU == uapi.BPF_F_INDEX_MASK == 0xFFFF_FFFF
    assert uapi.BPF_F_CTXLEN_MASK == 0xFFFFF << 32
    assert (uapi.XDP_ABORTED, uapi.XDP_PASS, uapi.XDP_REDIRECT) == (0, 2, 4)
    assert type(uapi.XDP_PASS) is int and uapi.XDP_TX == 3
    assert uapi.BPF_RINGBUF_BUSY_BIT == 1 << 31 and uapi.BPF_RINGBUF_HDR_SZ == 8
    assert uapi.BPF_F_CURRENT_NETNS == -1
    assert uapi.BPF_FIB_LKUP_RET_NO_SRC_ADDR == 9 and uapi.BPF_FIB_LOOKUP_MARK == 32
    assert uapi.BPF_ADJ_ROOM_ENCAP_L2_SHIFT == 56 and uapi.BPF_HDR_START_NET == 1
    assert uapi.PERF_TYPE_TRACEPOINT == 2 and uapi.PERF_SAMPLE_RAW == 1 << 10
    assert uapi.PERF_RECORD_SAMPLE == 9 and uapi.PERF_COUNT_SW_BPF_OUTPUT == 10


def test_const_enum_markers_are_uapi_names() -> None:
    """The anonymous enums published as UAPI are in the UAPI header (where present)."""
    bpf_h = INCLUDE / "linux" / "bpf.h"
    if not bpf_h.exists():
        pytest.skip(f"no {bpf_h}")
    text = bpf_h.read_text(errors="replace")
    old = []
    for marker, header in CONST_ENUMS:
        if header != "linux/bpf.h":
            continue
        name = marker.split()[-1]
        if not re.search(rf"\b{name}\b", text):
            old.append(name)
    # /usr/include may be older than the kernel: a few recent names may be missing
    assert len(old) <= 4, old


# --- the generator on bad input -------------------------------------------------------------

def test_generator_refuses_bad_btf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 20)
    assert main(["--btf", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pybpf.gen_uapi: ") and "Traceback" not in err
    assert main(["--btf", str(tmp_path / "missing")]) == 2
    assert "pybpf.gen_uapi: " in capsys.readouterr().err


def test_generator_names_what_the_btf_lacks(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    """A BTF without the UAPI enums (a module's, a tiny one) is refused by name."""
    from pybpf.btf import Builder, encode
    b = Builder()
    b.int("int", 4, signed=True)
    path = tmp_path / "tiny.btf"
    path.write_bytes(encode(b.btf))
    assert main(["--btf", str(path)]) == 2
    assert "enum bpf_cmd not found" in capsys.readouterr().err
