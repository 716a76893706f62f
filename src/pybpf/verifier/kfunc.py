"""kfunc calls (BPF_PSEUDO_KFUNC_CALL) and ksym lddws (BPF_PSEUDO_BTF_ID) checked against
the running kernel's BTF (/sys/kernel/btf/vmlinux) where it is readable, as the kernel's
pre-pass does (add_kfunc_call, check_pseudo_btf_id): an id that is no function, a
function that is no kfunc (no "bpf_kfunc" declaration tag), a ksym that is neither a
variable nor a function. What a real kfunc then does is not modelled: the verifier says
so (Unsupported), and the VM refuses to run it."""

from __future__ import annotations

import functools
from typing import Any

from ..isa import BPF_PSEUDO_BTF_ID, BPF_PSEUDO_KFUNC_CALL, Instruction
from .refusal import Refusal, Unsupported


@functools.lru_cache(maxsize=1)
def kernel_btf() -> Any:
    """This machine's vmlinux BTF with the names of its kfuncs, or None (unreadable)."""
    try:
        from ..btf import load_vmlinux
        btf = load_vmlinux()
        tags: list[Any] = [btf[i] for i in btf.find("bpf_kfunc")]
        kfuncs = frozenset(t.type for t in tags if getattr(t, "component_idx", 0) == -1)
    except Exception:  # noqa: BLE001 - no readable kernel BTF: kfuncs stay unchecked
        return None
    return btf, kfuncs


def kernel_func_id(name: str) -> int:
    """The id of function `name` in this machine's kernel BTF (0: none, or unreadable)."""
    kb = kernel_btf()
    if kb is None:
        return 0
    try:
        ids = [i for i in kb[0].find(name) if _kind(kb[0][i]) == "FUNC"]
    except Exception:  # noqa: BLE001
        return 0
    return ids[0] if ids else 0


def _kind(t: Any) -> str:
    return getattr(getattr(t, "kind", None), "name", "")


def check_kfunc_insn(insn: Instruction, pc: int, gpl: bool = True) -> None:
    """The pre-pass refusals of one kfunc call (add_kfunc_call / fetch_kfunc_meta)."""
    if not gpl:
        raise Refusal("cannot call kernel function from non-GPL compatible program", pc=pc)
    if insn.off:
        raise Refusal("kfunc offset > 0 without fd_array is invalid", pc=pc)
    if insn.imm == 0:  # libbpf's unresolved weak kfunc: only dead code may hold it
        return
    kb = kernel_btf()
    if kb is None:
        return
    btf, kfuncs = kb
    try:
        t = btf[insn.imm]
    except Exception:  # noqa: BLE001 - out of range
        t = None
    if t is None or _kind(t) != "FUNC":
        raise Refusal(f"kernel btf_id {insn.imm & 0xFFFFFFFF} is not a function", pc=pc)
    if insn.imm not in kfuncs:
        raise Refusal(f"calling kernel function {t.name} is not allowed", pc=pc)


def kfunc_unsupported(insn: Instruction) -> Unsupported:
    """The verdict on a kfunc call the walk reaches: not modelled (by name if known)."""
    kb = kernel_btf()
    name = ""
    if kb is not None and insn.imm:
        try:
            name = f" ({kb[0][insn.imm].name})"
        except Exception:  # noqa: BLE001
            name = ""
    return Unsupported(f"pybpf verifier: kfunc calls are not supported{name}")


def check_ksym_insn(insn: Instruction, pc: int) -> None:
    """check_pseudo_btf_id's refusals of a ksym lddw's BTF id."""
    kb = kernel_btf()
    if kb is None:
        return
    btf = kb[0]
    try:
        t = btf[insn.imm]
    except Exception:  # noqa: BLE001 - out of range
        raise Refusal(f"ldimm64 insn specifies invalid btf_id {insn.imm}.", pc=pc) from None
    if _kind(t) not in ("VAR", "FUNC"):
        raise Refusal(f"pseudo btf_id {insn.imm} in ldimm64 isn't KIND_VAR or KIND_FUNC",
                      pc=pc)


def is_kfunc_call(i: Instruction) -> bool:
    return i.opcode == 0x85 and i.src == BPF_PSEUDO_KFUNC_CALL


def is_ksym_lddw(i: Instruction) -> bool:
    return i.opcode == 0x18 and i.src == BPF_PSEUDO_BTF_ID
