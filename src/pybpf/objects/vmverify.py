"""pybpf's verifier in front of the VM: every program of an object is verified, with
its maps, license, attach type and BTF, before the VM may run it, so that a program
the kernel refuses is refused on the VM too (VerifierError, the base class the kernel
backend's refusal shares).

The verdict depends only on the program's bytes and what it is verified with, so it is
memoised within the process (verdict_cache): an object instantiated again (tests, a
session's reloads) is not verified again. The VM's map fds are process-wide ids that
change with each instantiation, so the key names maps by their order of first use."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import isa

if TYPE_CHECKING:
    from .instance import Object
    from .spec import ObjectSpec, ProgramSpec

# the prefix of the verifier's "cannot model this" refusals (kfuncs, ksyms, types
# without a context table): not the kernel's verdict, so they do not stop the load
UNSUPPORTED_PREFIX = "pybpf verifier:"
_MAP_LDDW_SRCS = (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_VALUE)


@dataclass(frozen=True)
class Verdict:
    """What the memo keeps of a verification at log level 0."""

    accepted: bool
    error: str | None
    pc: int | None


@dataclass(frozen=True, eq=False)
class _Job:
    """One verification at log level 0, hashed by what decides its verdict: the bytes
    with map fds renumbered by first use, the MapSpecs in that order, the type, attach
    type, license, func_info and the identity of the object's BTF (kept alive by the
    memo, so the id is not reused while the entry lives)."""

    key: tuple[Any, ...]
    insns: tuple[isa.Instruction, ...]
    maps: tuple[tuple[int, Any], ...]
    kw: tuple[tuple[str, Any], ...]
    btf: Any

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Job) and self.key == other.key and self.btf is other.btf


@functools.lru_cache(maxsize=4096)
def _verdict(job: _Job) -> Verdict:
    from ..verifier import verify
    r = verify(job.insns, dict(job.kw)["prog_type"], maps=dict(job.maps), btf=job.btf,
               **{k: v for k, v in job.kw if k != "prog_type"})
    return Verdict(r.accepted, r.error, r.pc)


def _job(insns: list[isa.Instruction], maps: dict[int, Any], kw: dict[str, Any],
         btf: Any) -> _Job | None:
    """The memo key of a verification, or None when a part of it is not hashable."""
    order: dict[int, int] = {}
    norm = []
    for i in insns:
        if i.opcode == isa.OPCODE_LDDW and i.src in _MAP_LDDW_SRCS:
            k = order.setdefault(i.imm, len(order))
            norm.append((i.opcode, i.dst, i.src, i.off, k))
        else:
            norm.append((i.opcode, i.dst, i.src, i.off, i.imm))
    specs = tuple(maps.get(fd) for fd in order)
    kwt = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kw.items()))
    key = (tuple(norm), specs, kwt)
    try:
        hash(key)
    except TypeError:
        return None
    return _Job(key, tuple(insns), tuple(maps.items()), kwt, btf)


def verify_for_vm(spec: "ObjectSpec", pspec: "ProgramSpec", code: bytes, obj: "Object",
                  log_level: int = 0) -> str | None:
    """Verify the program's patched bytes (map lddws hold the VM maps' fds) as the
    kernel would at BPF_PROG_LOAD. Returns the log when `log_level` asks for one
    (kernel levels: 1 the log, 2 every instruction, 4 statistics); raises
    VerifierError (.log .pc .error) on refusal, the log always included."""
    from ..verifier import verify
    insns = isa.decode(code)
    maps = {m.fd: m.spec for m in obj.maps.values() if getattr(m, "spec", None) is not None}
    kw: dict[str, Any] = dict(
        expected_attach_type=pspec.expected_attach_type,
        license=pspec.license or spec.license or "",
        func_info=[(f.pc, f.type_id) for f in pspec.func_info] or None)
    level = log_level & 3 or (1 if log_level & 4 else 0)
    log: str | None = None
    job = None if level else _job(list(insns), maps, dict(kw, prog_type=int(pspec.type)),
                                  spec.btf)
    r = None
    if job is not None:
        v = _verdict(job)
        accepted, error = v.accepted, v.error
    else:
        r = verify(insns, pspec.type, maps=maps, btf=spec.btf, log_level=level,
                   line_info=pspec.line_info or None, **kw)
        accepted, error, log = r.accepted, r.error, r.log
    if not accepted:
        error = error or "refused"
        if error.startswith(UNSUPPORTED_PREFIX):
            obj.warnings.append(f"program {pspec.name}: not verified ({error}); the VM "
                                "runs it unchecked")
            return None
        if r is None or not r.log:  # the refusal's log, with this load's map ids and lines
            r = verify(insns, pspec.type, maps=maps, btf=spec.btf, log_level=1,
                       line_info=pspec.line_info or None, **kw)
        raise r.error_exception(r.log)
    return log if log_level else None
