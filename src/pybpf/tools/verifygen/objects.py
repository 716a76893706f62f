"""Real programs as seeds: every program of the project's example objects, its test
fixtures and the xdp-tools objects installed on this machine (/usr/lib/*/bpf/*.o),
read through pybpf's ELF loader and turned into cases (map references become map
indices, CO-RE relocations are resolved against this kernel's BTF)."""

from __future__ import annotations

import glob
import hashlib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable

from ...errors import PyBPFError
from ...isa import decode
from ...maps.spec import MapSpec
from .case import Case
from .seeds import Seed

SYSTEM_OBJECTS = "/usr/lib/*/bpf/*.o"


def project_root() -> Path:
    """The source checkout pybpf runs from (src/pybpf/verifier/gen -> the root)."""
    return Path(__file__).resolve().parents[4]


def object_files(roots: "Iterable[str | Path] | None" = None) -> list[Path]:
    """The object files to draw programs from: with `roots`, every *.o under them;
    by default the checkout's examples/ and tests/ (when pybpf runs from one), the
    package's own objects and the xdp-tools objects. Sorted, one of each content."""
    paths: list[Path] = []
    if roots is None:
        root = project_root()
        for sub in ("examples", "tests"):
            if (root / sub).is_dir():
                paths += (root / sub).rglob("*.o")
        paths += (Path(__file__).resolve().parents[2] / "tools" / "data").glob("*.o")
        paths += map(Path, glob.glob(SYSTEM_OBJECTS))
    else:
        for r in roots:
            r = Path(r)
            paths += r.rglob("*.o") if r.is_dir() else [r]
    seen: set[str] = set()
    out = []
    for p in sorted(set(paths), key=object_name):
        try:
            digest = hashlib.sha1(p.read_bytes()).hexdigest()
        except OSError:
            continue
        if digest not in seen:
            seen.add(digest)
            out.append(p)
    return out


def object_name(path: "str | Path") -> str:
    """An object's name as cases carry it: its path within the checkout (the same
    wherever the checkout lives, so a seed draws the same cases there), else the path
    as given."""
    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def _type_id(t: Any) -> int | None:
    return t if isinstance(t, int) and not isinstance(t, bool) and t > 0 else None


def _clean_map(spec: MapSpec, typed: bool = False) -> MapSpec:
    """The map as a case carries it: no pinning; its BTF key and value type ids only
    when the case carries the object's BTF (`typed`), so both verifiers know the
    value's special fields (a bpf_spin_lock, a bpf_timer)."""
    inner = _clean_map(spec.inner) if spec.inner is not None else None
    if typed:
        return replace(spec, pinning=0, key_type=_type_id(spec.key_type),
                       value_type=_type_id(spec.value_type), inner=inner)
    return replace(spec, pinning=0, key_type=None, value_type=None, inner=inner)


class ObjectProgramError(PyBPFError):
    """A program of an object that cannot become a case (and why)."""


def program_case(spec: Any, name: str, *, cache: dict[str, Any] | None = None,
                 origin: str = "") -> Case:
    """One program of an ObjectSpec as a Case: its maps in order of first use, each map
    lddw's imm that map's index. Raises ObjectProgramError for programs a case cannot
    hold (unknown type, an attach target in the kernel's BTF, kernel symbols)."""
    from ...objects.attachbtf import expected_attach_type, needs_attach_btf_id
    from ...objects.instance import patch_program
    cache = cache if cache is not None else {}
    pspec = spec.programs[name]
    if not pspec.type:
        raise ObjectProgramError(f"{name}: SEC(\"{pspec.section}\") names no program type")
    eat = expected_attach_type(pspec.type, pspec.expected_attach_type, pspec.section)
    if needs_attach_btf_id(pspec.type, eat):
        raise ObjectProgramError(f"{name}: attaches to a kernel function by BTF id")
    if any(e.section == ".ksyms" for e in pspec.extern_refs):
        raise ObjectProgramError(f"{name}: uses kernel symbols (.ksyms)")
    order: list[str] = []
    for ref in pspec.map_refs:
        if ref.map not in order:
            order.append(ref.map)
    fake = {m: SimpleNamespace(fd=i) for i, m in enumerate(order)}
    core = None
    if pspec.core_relos:
        if "vmlinux" not in cache:
            from ...btf import load_vmlinux
            cache["vmlinux"] = load_vmlinux()
        core = cache["vmlinux"]
    code = patch_program(spec, pspec, fake, core, "kernel", [])
    maps = []
    for m in order:
        mspec = spec.maps[m]
        if m == ".kconfig":
            from ...objects.kconfig import kconfig_value
            mspec = mspec.with_(contents=[(b"\0\0\0\0", kconfig_value(spec))])
        maps.append(_clean_map(mspec, typed=spec.btf is not None))
    btf: Any = None
    finfo: tuple[tuple[int, int], ...] = ()
    if spec.btf is not None:  # global functions' prototypes, typed maps' values
        from ...btf import encode, sanitize_for_kernel
        sizes = {sec: size for sec, _, size in spec.sections}
        btf = encode(sanitize_for_kernel(spec.btf, sizes, spec.symbol_offsets).btf)
        finfo = tuple((f.pc, f.type_id) for f in pspec.func_info)
    return Case(tuple(decode(code)), int(pspec.type), tuple(maps), eat or None,
                origin=origin or f"object:{spec.path}:{name}",
                license=pspec.license or spec.license or "GPL", btf=btf, func_info=finfo)


def object_seeds(paths: Iterable[Path], skipped: list[str] | None = None) -> list[Seed]:
    """Every program of these objects that a case can hold, as a Seed (no tags: the
    mutations find what to change by the instructions themselves). Objects and
    programs that cannot be read are listed in `skipped` with the reason."""
    from ... import load
    skipped = skipped if skipped is not None else []
    cache: dict[str, Any] = {}
    out: list[Seed] = []
    for path in paths:
        try:
            spec = load(str(path))
        except PyBPFError as e:
            skipped.append(f"{path}: {e}")
            continue
        rel = object_name(path)
        for name in spec.programs:
            try:
                case = program_case(spec, name, cache=cache, origin=f"object:{rel}:{name}")
            except PyBPFError as e:
                skipped.append(f"{rel}: {e}")
                continue
            out.append(Seed(case.origin, case.insns, case.prog_type, case.maps,
                            case.expected_attach_type, {}, case.origin, case.license,
                            case.btf, case.func_info))
    return out
