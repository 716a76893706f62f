"""The kernel BTF id a tracing or LSM program attaches to (`attach_btf_id` of
BPF_PROG_LOAD), found by the kernel's own naming rules in vmlinux BTF:

* tp_btf/X                 -> the typedef `btf_trace_X`
* fentry|fexit|fmod_ret/X  -> the function `X`
* lsm/X, lsm_cgroup/X      -> the function `bpf_lsm_X`
* iter/X                   -> the function `bpf_iter_X`
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..uapi import AttachType, BtfKind, ProgType
from .errors import ObjectError

# (expected attach type) -> (what the section names, BTF name prefix, BTF kind)
_RULES: dict[int, tuple[str, str, BtfKind]] = {
    AttachType.TRACE_RAW_TP: ("BTF tracepoint", "btf_trace_", BtfKind.TYPEDEF),
    AttachType.TRACE_FENTRY: ("function", "", BtfKind.FUNC),
    AttachType.TRACE_FEXIT: ("function", "", BtfKind.FUNC),
    AttachType.MODIFY_RETURN: ("function", "", BtfKind.FUNC),
    AttachType.TRACE_ITER: ("iterator", "bpf_iter_", BtfKind.FUNC),
    AttachType.LSM_MAC: ("LSM hook", "bpf_lsm_", BtfKind.FUNC),
    AttachType.LSM_CGROUP: ("LSM hook", "bpf_lsm_", BtfKind.FUNC),
}
_PROG_TYPES = (ProgType.TRACING, ProgType.LSM)

# section kind -> expected attach type, for a program whose type was set by hand
_SECTION_ATTACH = {
    "tp_btf": AttachType.TRACE_RAW_TP, "fentry": AttachType.TRACE_FENTRY,
    "fexit": AttachType.TRACE_FEXIT, "fmod_ret": AttachType.MODIFY_RETURN,
    "iter": AttachType.TRACE_ITER, "lsm": AttachType.LSM_MAC,
    "lsm_cgroup": AttachType.LSM_CGROUP,
}


@dataclass(frozen=True)
class AttachTarget:
    """What a program attaches to: the BTF name and kind to look up."""

    what: str  # "function", "BTF tracepoint", "LSM hook", "iterator"
    name: str  # e.g. "btf_trace_sys_enter"
    kind: BtfKind


def expected_attach_type(prog_type: int, attach_type: int, section: str) -> int:
    """The expected attach type a tracing or LSM program loads with: its own when it is
    one of theirs, else what its section kind says (SEC("fentry/...") -> TRACE_FENTRY),
    e.g. for a program whose type was set by hand."""
    if prog_type not in _PROG_TYPES or attach_type in _RULES:
        return attach_type
    kind = section.split("/", 1)[0].removesuffix(".s")
    return int(_SECTION_ATTACH.get(kind, attach_type))


def needs_attach_btf_id(prog_type: int, attach_type: int) -> bool:
    """True for the program types the kernel loads only with an attach_btf_id."""
    return prog_type in _PROG_TYPES and attach_type in _RULES


def attach_target(program: str, prog_type: int, attach_type: int, attach_to: str
                  ) -> AttachTarget:
    """The BTF name and kind that `attach_to` (the section after its first '/') stands
    for; ObjectError naming `program` when the section names nothing usable."""
    if not needs_attach_btf_id(prog_type, attach_type):
        raise ObjectError(f"program {program}: type {prog_type} with attach type "
                          f"{attach_type} takes no attach_btf_id")
    what, prefix, kind = _RULES[attach_type]
    if not attach_to:
        raise ObjectError(f"program {program}: the section names no {what} to attach to "
                          f"(e.g. SEC(\"fentry/do_unlinkat\"), SEC(\"tp_btf/sys_enter\"))")
    if ":" in attach_to:
        raise ObjectError(f"program {program}: {attach_to!r} names a kernel module's "
                          f"{what}; pybpf resolves only vmlinux BTF")
    return AttachTarget(what, prefix + attach_to, kind)


def resolve_attach_btf_id(btf: Any, program: str, prog_type: int, attach_type: int,
                          attach_to: str) -> int:
    """The id in `btf` (vmlinux BTF, pybpf.btf.Btf) of the program's attach target."""
    target = attach_target(program, prog_type, attach_type, attach_to)
    ids = btf.find(target.name, target.kind)
    if not ids:
        raise ObjectError(f"program {program}: {target.what} {attach_to!r} is not in the "
                          f"kernel's BTF (no {target.kind.name} {target.name})")
    return int(ids[0])
