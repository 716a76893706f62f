"""Loads through PTR_TO_BTF_ID (check_ptr_to_btf_access, btf_struct_walk): the access
is checked against the kernel struct's layout in this machine's vmlinux BTF. A load
inside a scalar member gives an unknown scalar; an exact load of a member that points to
a struct gives a PTR_TO_BTF_ID of that struct. Stores are refused ("only read is
supported"): no program type the verifier models has a btf_struct_access callback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .refusal import Unsupported


class WalkError(Exception):
    """btf_struct_walk's refusal; the message is the kernel's log line."""


@dataclass(frozen=True)
class WalkResult:
    """What a load reaches: a scalar, or a pointer to the struct `struct_name`."""

    struct_name: str = ""

    @property
    def is_pointer(self) -> bool:
        return bool(self.struct_name)


def _btf() -> Any:
    from .kfunc import kernel_btf
    kb = kernel_btf()
    if kb is None:
        raise Unsupported("pybpf verifier: loads through BTF pointers need this machine's "
                          "vmlinux BTF (/sys/kernel/btf/vmlinux), which is not readable")
    return kb[0]


def struct_id(name: str) -> int:
    """The id of `struct name` in vmlinux BTF (Unsupported when it has none)."""
    btf = _btf()
    for tid in btf.find(name):
        if _kind(btf[tid]) == "STRUCT":
            return tid
    raise Unsupported(f"pybpf verifier: no struct {name} in this kernel's BTF")


def _kind(t: object) -> str:
    return getattr(getattr(t, "kind", None), "name", "")


def _strip(btf: Any, tid: int) -> int:
    """The id behind typedefs and modifiers (btf_type_skip_modifiers)."""
    for _ in range(64):
        if _kind(btf[tid]) not in ("TYPEDEF", "VOLATILE", "CONST", "RESTRICT", "TYPE_TAG"):
            return tid
        tid = btf[tid].type
    return tid


def walk(struct_name: str, off: int, size: int) -> WalkResult:
    """btf_struct_access for a read of `size` bytes at `off` of kernel struct
    `struct_name` (the pointer trusted: no reads past a member's end)."""
    btf = _btf()
    tid = struct_id(struct_name)
    untrusted = False
    for _ in range(256):
        tid = _strip(btf, tid)
        t = btf[tid]
        tname = t.name or "(anon)"
        if _kind(t) not in ("STRUCT", "UNION"):
            raise WalkError(f"Type '{tname}' is not a struct")
        if _kind(t) == "UNION" and len(t.members) != 1:
            untrusted = True
        if off + size > t.size:
            raise WalkError(f"access beyond struct {tname} at off {off} size {size}")
        nested = _walk_members(btf, t, off, size, untrusted)
        if isinstance(nested, WalkResult):
            return nested
        tid, off = nested
    raise WalkError(f"struct {struct_name} is nested too deeply")


def _walk_members(btf: Any, t: Any, off: int, size: int,
                  untrusted: bool) -> "WalkResult | tuple[int, int]":
    """One struct level: the result, or (the member struct's id, the offset in it)."""
    tname = t.name or "(anon)"
    for m in t.members:
        if m.bitfield_size:
            end_bit = m.offset + m.bitfield_size
            if off * 8 <= m.offset and (end_bit + 7) // 8 <= off + size:
                return WalkResult()
            continue
        moff = m.offset // 8
        if off < moff:
            break
        mid = _strip(btf, m.type)
        msize = btf.size_of(mid)
        mtrue_end = moff + msize
        if off >= mtrue_end:
            continue
        mtype = btf[mid]
        while _kind(mtype) == "ARRAY":
            if moff == mtrue_end:
                break
            eid = _strip(btf, mtype.type)
            esize = btf.size_of(eid)
            if esize <= 0:
                break
            moff += (off - moff) // esize * esize
            mid, mtype = eid, btf[eid]
            msize = esize
        if moff == mtrue_end:
            continue
        if _kind(mtype) in ("STRUCT", "UNION"):
            if off == moff:
                return mid, 0
            return mid, off - moff
        if _kind(mtype) == "PTR":
            if msize != size or off != moff:
                raise WalkError(f"cannot access ptr member {m.name} with moff {moff} in "
                                f"struct {tname} with off {off} size {size}")
            sid = _strip(btf, mtype.type)
            if _kind(btf[sid]) == "STRUCT":
                return WalkResult(btf[sid].name)
        if off + size > mtrue_end and not untrusted:
            raise WalkError(f"access beyond the end of member {m.name} (mend:{mtrue_end}) "
                            f"in struct {tname} with off {off} size {size}")
        return WalkResult()
    raise WalkError(f"struct {tname} doesn't have field at offset {off}")


def _read_into(v: Any, tname: str, off: int, size: int, value_regno: int) -> None:
    """The struct walk of a read of `size` bytes at `off` of kernel struct `tname`
    (its error the verifier's), and R`value_regno` (if any) set from it: a
    PTR_TO_BTF_ID where it reads a pointer to a struct, else unknown."""
    from .reg import RegType, mark_unknown, pointer
    try:
        res = walk(tname, off, size)
    except WalkError as e:
        v.fail(str(e))
    if value_regno < 0:
        return
    out = v.regs()[value_regno]
    if res.is_pointer:
        out.assign(pointer(RegType.BTF_ID, btf_name=res.struct_name))
    else:
        mark_unknown(out)


def check_ptr_to_btf_access(v: Any, regno: int, off: int, size: int, write: bool,
                            value_regno: int) -> None:
    """check_ptr_to_btf_access on Verifier `v`: R`regno` (a PTR_TO_BTF_ID) accessed at
    `off` (its fixed offset included); the loaded register set from the struct walk."""
    reg = v.regs()[regno]
    tname = reg.btf_name
    if not v.allow_ptr_leaks:
        v.fail(f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN")
    if not v.gpl:
        v.fail(f"Cannot access kernel 'struct {tname}' from non-GPL compatible program")
    if off < 0:
        v.fail(f"R{regno} is ptr_{tname} invalid negative access: off={off}")
    if not reg.var_off.is_const() or reg.var_off.value:
        v.fail(f"R{regno} is ptr_{tname} invalid variable offset: off={off}, "
               f"var_off=({reg.var_off.value:#x}; {reg.var_off.mask:#x})")
    if write:
        v.fail("only read is supported")
    _read_into(v, tname, off, size, value_regno)


# the kernel struct behind each map type (its ops' map_btf_id), what a load through a
# map pointer walks
_A, _H, _LS = "bpf_array", "bpf_htab", "bpf_local_storage_map"
MAP_STRUCTS: dict[int, str] = {
    1: _H, 2: _A, 3: _A, 4: _A, 5: _H, 6: _A, 7: "bpf_stack_map", 8: _A, 9: _H, 10: _H,
    11: "lpm_trie", 12: _A, 13: _H, 14: "bpf_dtab", 15: "bpf_stab", 16: "bpf_cpu_map",
    17: "xsk_map", 18: "bpf_shtab", 19: "bpf_cgroup_storage_map", 20: "reuseport_array",
    21: "bpf_cgroup_storage_map", 22: "bpf_queue_stack", 23: "bpf_queue_stack", 24: _LS,
    25: "bpf_dtab", 26: "bpf_struct_ops_map", 27: "bpf_ringbuf_map", 28: _LS, 29: _LS,
    30: "bpf_bloom_filter", 31: "bpf_ringbuf_map", 32: _LS, 33: "bpf_arena",
}


def check_ptr_to_map_access(v: Any, regno: int, off: int, size: int, write: bool,
                            value_regno: int) -> None:
    """check_ptr_to_map_access on Verifier `v`: a load through R`regno`, a
    CONST_PTR_TO_MAP, reads the map's kernel struct (struct bpf_htab, ...) as a
    PTR_TO_BTF_ID would; only with CAP_PERFMON, never a store."""
    reg = v.regs()[regno]
    mtype = int(reg.map.type) if reg.map is not None else 0
    tname = MAP_STRUCTS.get(mtype)
    if tname is None:
        v.fail(f"map_ptr access not supported for map type {mtype}")
        return
    _btf()
    if not v.allow_ptr_leaks:
        v.fail(f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN")
    if off < 0:
        v.fail(f"R{regno} is {tname} invalid negative access: off={off}")
    if write:
        v.fail(f"only read from {tname} is supported")
    _read_into(v, tname, off, size, value_regno)
