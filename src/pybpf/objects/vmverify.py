"""pybpf's verifier in front of the VM: every program of an object is verified, with
its maps, license, attach type and BTF, before the VM may run it, so that a program
the kernel refuses is refused on the VM too (VerifierError, the base class the kernel
backend's refusal shares)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import isa

if TYPE_CHECKING:
    from .instance import Object
    from .spec import ObjectSpec, ProgramSpec

# the prefix of the verifier's "cannot model this" refusals (kfuncs, ksyms, types
# without a context table): not the kernel's verdict, so they do not stop the load
UNSUPPORTED_PREFIX = "pybpf verifier:"


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
        maps=maps, expected_attach_type=pspec.expected_attach_type,
        license=pspec.license or spec.license or "",
        func_info=[(f.pc, f.type_id) for f in pspec.func_info] or None,
        line_info=pspec.line_info or None, btf=spec.btf)
    level = log_level & 3 or (1 if log_level & 4 else 0)
    result = verify(insns, pspec.type, log_level=level, **kw)
    if not result.accepted:
        error = result.error or "refused"
        if error.startswith(UNSUPPORTED_PREFIX):
            obj.warnings.append(f"program {pspec.name}: not verified ({error}); the VM "
                                "runs it unchecked")
            return None
        log = result.log or verify(insns, pspec.type, log_level=1, **kw).log
        raise result.error_exception(log)
    return result.log if log_level else None
