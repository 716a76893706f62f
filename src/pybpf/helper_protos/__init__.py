"""Helper prototypes as data: what the kernel's `struct bpf_func_proto` says about each
helper (argument types, return type, gpl_only, pkt_access, might_sleep), for a verifier.

The vocabulary is the kernel's (Linux 6.18): `ArgType` and `RetType` are the base types
of `enum bpf_arg_type` / `enum bpf_return_type`, `TypeFlag` the `enum bpf_type_flag`
bits a type may carry (`ARG_PTR_TO_MAP_VALUE_OR_NULL` is `ARG_PTR_TO_MAP_VALUE` with
`PTR_MAYBE_NULL`; `ARG_ALIASES` / `RET_ALIASES` hold the kernel's composite names). The
kernel's numeric values are internal (not UAPI) and move between versions, so the enums
carry names only; the tests check every name, and every alias' composition, against
the running kernel's BTF (`enum bpf_arg_type`, `enum bpf_return_type`, `enum
bpf_type_flag` in /sys/kernel/btf/vmlinux).

Some helper IDs have several protos, chosen by program type (`bpf_get_socket_cookie`
on an skb, a sock_addr or a kernel socket; `bpf_perf_event_output` from tracing, tc or
XDP; ...): `proto_for(helper, prog_type)` picks the one the kernel's
`<type>_func_proto` hands out, `proto(helper)` the generic one.

`COMPATIBLE_REG_TYPES` is the verifier's table of the register types each argument
type accepts, spelled as the verifier log prints them, and `RET_REG_TYPE` the register
type `r0` gets for each return type; both are checked against the kernel's verifier.
"""

from __future__ import annotations

from .table import all_protos, describe, proto, proto_for, render, variants
from .table import (ANY, MAP, KEY, VALUE, VALUE_UNINIT, VALUE_OR_NULL, MEM, MEM_RO,
                     MEM_RO_OR_NULL, MEM_W, UNINIT, SIZE, SIZE0, ALLOC0, CTX, CTX_OR_NULL,
                     SOCK_COMMON, BTF_SOCK, BTF_SOCK_RELEASE, FUNC, STACK_OR_NULL, CONST_STR,
                     TIMER, SPIN_LOCK, RINGBUF_RELEASE, PERCPU_BTF, MEM_W_OR_NULL, DYNPTR_RO,
                     DYNPTR_LOCAL_OUT, DYNPTR_RINGBUF_OUT, DYNPTR_RINGBUF_RELEASE, LONG_OUT,
                     INT, VOID, MAP_VALUE_OR_NULL, SOCKET_OR_NULL, TCP_SOCK_OR_NULL,
                     SOCK_COMMON_OR_NULL, RINGBUF_MEM_OR_NULL)  # the table's shorthands
from .vocabulary import (ARG_ALIASES, COMPATIBLE_REG_TYPES, RET_ALIASES, RET_REG_TYPE, Arg,
                         ArgType, HelperProto, HelperProtoError, Ret, RetType, TypeFlag)

__all__ = ["ARG_ALIASES", "COMPATIBLE_REG_TYPES", "RET_ALIASES", "RET_REG_TYPE", "Arg", "ArgType",
           "HelperProto", "HelperProtoError", "Ret", "RetType", "TypeFlag", "all_protos",
           "describe", "proto", "proto_for", "render", "variants"]
# the table's shorthands for argument and return types
__all__ += ["ANY", "MAP", "KEY", "VALUE", "VALUE_UNINIT", "VALUE_OR_NULL", "MEM", "MEM_RO",
            "MEM_RO_OR_NULL", "MEM_W", "UNINIT", "SIZE", "SIZE0", "ALLOC0", "CTX",
            "CTX_OR_NULL", "SOCK_COMMON", "BTF_SOCK", "BTF_SOCK_RELEASE", "FUNC",
            "STACK_OR_NULL", "CONST_STR", "TIMER", "SPIN_LOCK", "RINGBUF_RELEASE",
            "PERCPU_BTF", "MEM_W_OR_NULL", "DYNPTR_RO", "DYNPTR_LOCAL_OUT",
            "DYNPTR_RINGBUF_OUT", "DYNPTR_RINGBUF_RELEASE", "LONG_OUT", "INT", "VOID",
            "MAP_VALUE_OR_NULL", "SOCKET_OR_NULL", "TCP_SOCK_OR_NULL", "SOCK_COMMON_OR_NULL",
            "RINGBUF_MEM_OR_NULL"]
