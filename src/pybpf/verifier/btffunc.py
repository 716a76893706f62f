"""Global functions' signatures from BTF (btf_prepare_func_args): a subprogram whose
func_info names a FUNC of BTF_FUNC_GLOBAL linkage is verified once, on its own, against
its prototype, and its callers only check the arguments they pass. Each argument is a
scalar (int or enum), the program type's context pointer, or a pointer to memory of the
pointee's size (nullable); the return must be a scalar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..uapi import ProgType

MAX_BPF_FUNC_REG_ARGS = 5

# the struct a program type's context pointer points to in C (bpf_ctx_convert's user types)
_P = ProgType
CTX_STRUCTS: Mapping[int, str] = {
    _P.SOCKET_FILTER: "__sk_buff", _P.SCHED_CLS: "__sk_buff", _P.SCHED_ACT: "__sk_buff",
    _P.CGROUP_SKB: "__sk_buff", _P.LWT_IN: "__sk_buff", _P.LWT_OUT: "__sk_buff",
    _P.LWT_XMIT: "__sk_buff", _P.LWT_SEG6LOCAL: "__sk_buff", _P.SK_SKB: "__sk_buff",
    _P.FLOW_DISSECTOR: "__sk_buff", _P.XDP: "xdp_md", _P.CGROUP_SOCK: "bpf_sock",
    _P.SOCK_OPS: "bpf_sock_ops", _P.CGROUP_SOCK_ADDR: "bpf_sock_addr",
    _P.SK_MSG: "sk_msg_md", _P.PERF_EVENT: "bpf_perf_event_data",
    _P.RAW_TRACEPOINT: "bpf_raw_tracepoint_args", _P.CGROUP_DEVICE: "bpf_cgroup_dev_ctx",
    _P.CGROUP_SYSCTL: "bpf_sysctl", _P.CGROUP_SOCKOPT: "bpf_sockopt",
    _P.SK_REUSEPORT: "sk_reuseport_md", _P.SK_LOOKUP: "bpf_sk_lookup",
    _P.KPROBE: "pt_regs",
}
_KIND_STR = ("UNKNOWN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
             "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT",
             "DECL_TAG", "TYPE_TAG", "ENUM64")


@dataclass(frozen=True)
class GlobalArg:
    """One argument of a global function: kind "scalar", "ctx" or "mem" (`size` bytes)."""

    kind: str
    size: int = 0


@dataclass(frozen=True)
class GlobalFunc:
    """A global subprogram: its name, its arguments, or the refusal of its prototype
    (`error`, the kernel's line, reported when a caller calls it)."""

    name: str
    args: tuple[GlobalArg, ...] = ()
    error: str | None = None


def _as_btf(btf: Any) -> Any:
    if btf is None or hasattr(btf, "skip_mods"):
        return btf
    from ..btf import parse
    return parse(bytes(btf), lazy=True)


def global_funcs(func_info: Sequence[tuple[int, int]] | None, btf: Any, prog_type: int,
                 subprogs: Sequence[int]) -> dict[int, GlobalFunc]:
    """The global subprograms by index (func#N) from func_info: {} without func_info or
    BTF (every subprogram is then verified in its caller's context, as static ones)."""
    if not func_info or btf is None:
        return {}
    try:
        btf = _as_btf(btf)
    except Exception:  # noqa: BLE001 - unreadable BTF: the kernel refuses it at load
        return {}
    start = {pc: k for k, pc in enumerate(subprogs)}
    out: dict[int, GlobalFunc] = {}
    for pc, type_id in func_info:
        k = start.get(pc)
        if not k:  # the main program, or no subprogram starts there
            continue
        try:
            fn = btf[type_id]
            if getattr(fn.kind, "name", "") != "FUNC" or int(fn.linkage) != 1:
                continue
            out[k] = _signature(btf, fn, prog_type)
        except Exception:  # noqa: BLE001 - a bad type id: the kernel's func_info check
            continue
    return out


def _kind_str(t: Any) -> str:
    k = int(t.kind)
    return _KIND_STR[k] if 0 <= k < len(_KIND_STR) else "UNKNOWN"


def _signature(btf: Any, fn: Any, prog_type: int) -> GlobalFunc:
    """btf_prepare_func_args for a global function."""
    name = fn.name
    proto = btf[btf.resolve(fn.type)]
    params = tuple(proto.params)
    if params and params[-1].type == 0:  # variadic
        return GlobalFunc(name, error=f"Global function {name}() with variable args is not "
                                      "supported.")
    if len(params) > MAX_BPF_FUNC_REG_ARGS:
        return GlobalFunc(name, error=f"Global function {name}() with {len(params)} > "
                                      f"{MAX_BPF_FUNC_REG_ARGS} args. Buggy compiler.")
    ret = btf[btf.resolve(proto.return_type)] if proto.return_type else None
    if ret is None or _kind_str(ret) not in ("INT", "ENUM", "ENUM64"):
        return GlobalFunc(name, error=f"Global function {name}() doesn't return scalar. Only "
                                      "those are supported.")
    args = []
    ctx_name = CTX_STRUCTS.get(int(prog_type))
    for i, p in enumerate(params):
        t = btf[btf.resolve(p.type)]
        kind = _kind_str(t)
        if kind in ("INT", "ENUM", "ENUM64"):
            args.append(GlobalArg("scalar"))
            continue
        if kind != "PTR":
            return GlobalFunc(name, error=f"Arg#{i} type {kind} in {name}() is not supported "
                                          "yet.")
        target_id = btf.resolve(t.type) if t.type else 0
        target = btf[target_id] if target_id else None
        if target is not None and ctx_name is not None and _kind_str(target) == "STRUCT" \
                and target.name == ctx_name:
            args.append(GlobalArg("ctx"))
            continue
        try:
            if target is None:
                raise ValueError("void")
            size = btf.size_of(target_id)
        except Exception:  # noqa: BLE001 - void, a forward declaration, a function
            tname = "UNKNOWN" if target is None else _kind_str(target)
            tn = "" if target is None else getattr(target, "name", "") or ""
            return GlobalFunc(name, error=f"arg#{i} reference type('{tname} {tn}') size cannot "
                                          "be determined: -22")
        args.append(GlobalArg("mem", size))
    return GlobalFunc(name, tuple(args))


def changes_pkt_data(slots: Sequence[Any], subprogs: Sequence[int],
                     helper_ids: frozenset[int]) -> set[int]:
    """The subprograms that may move packet data: they call one of `helper_ids`
    (bpf_helper_changes_pkt_data, and bpf_tail_call) or a subprogram that does."""
    bounds = list(subprogs) + [len(slots)]
    direct: set[int] = set()
    calls: dict[int, set[int]] = {k: set() for k in range(len(subprogs))}
    for k in range(len(subprogs)):
        for pc in range(bounds[k], bounds[k + 1]):
            i = slots[pc]
            if i is None or i.opcode != 0x85:
                continue
            if i.src == 0 and i.imm in helper_ids:
                direct.add(k)
            elif i.src == 1:
                target = pc + i.imm + 1
                if target in subprogs:
                    calls[k].add(subprogs.index(target))
    changed = True
    while changed:
        changed = False
        for k, callees in calls.items():
            if k not in direct and callees & direct:
                direct.add(k)
                changed = True
    return direct
