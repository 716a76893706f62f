"""verify_spec: one program of an ObjectSpec, its map references resolved to the
spec's MapSpecs (as BPF_PSEUDO_MAP_IDX / _IDX_VALUE lddws), CO-RE relocations applied
against the running kernel's BTF where it is readable, its license and attach type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import VerifierError
from ..isa import (
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    Instruction,
    decode,
    encode,
    slot_offsets,
)


def program_insns(spec: Any, program: str) -> tuple[list[Instruction], dict[int, Any]]:
    """The program's instructions with map lddws by index, and the index -> MapSpec map."""
    pspec = spec.programs.get(program)
    if pspec is None:
        names = ", ".join(sorted(spec.programs)) or "none"
        raise VerifierError(f"no program {program!r} in the object (programs: {names})")
    insns = list(pspec.instructions)
    index = {pc: i for i, pc in enumerate(slot_offsets(insns))}
    map_names = list(spec.maps)
    maps: dict[int, Any] = {}
    for ref in pspec.map_refs:
        i = index.get(ref.pc)
        if i is None or ref.map not in spec.maps:
            raise VerifierError(f"program {program} refers to map {ref.map}, which does not "
                                "exist in this object")
        k = map_names.index(ref.map)
        maps[k] = spec.maps[ref.map]
        old = insns[i]
        if ref.kind == "fd":
            insns[i] = Instruction(old.opcode, old.dst, BPF_PSEUDO_MAP_IDX, 0, k, 0)
        else:
            insns[i] = Instruction(old.opcode, old.dst, BPF_PSEUDO_MAP_IDX_VALUE, 0, k,
                                   ref.offset)
    if pspec.core_relos and spec.btf is not None:
        try:
            from ..btf import CoreRelo as BtfCoreRelo
            from ..btf import CoreRelocator, load_vmlinux, patch_insn
            code = bytearray(encode(insns))
            relocator = CoreRelocator(spec.btf, load_vmlinux())
            for relo in pspec.core_relos:
                res = relocator.relocate(BtfCoreRelo(relo.pc * 8, relo.type_id, relo.access,
                                                     relo.kind))
                patch_insn(code, relo.pc, res)
            insns = list(decode(bytes(code)))
        except Exception:  # noqa: BLE001 - no kernel BTF: verified as compiled
            pass
    return insns, maps


def verify_program_spec(spec: Any, program: str, *, caps: Iterable[str], log_level: int = 0,
                        ) -> Any:
    from .engine import run_verifier
    pspec = spec.programs.get(program)
    insns, maps = program_insns(spec, program)
    func_info = [(f.pc, f.type_id) for f in pspec.func_info] or None
    return run_verifier(insns, pspec.type, maps=maps,
                        expected_attach_type=pspec.expected_attach_type, caps=caps,
                        license=pspec.license or spec.license or "", log_level=log_level,
                        func_info=func_info, line_info=pspec.line_info or None,
                        btf=spec.btf)
