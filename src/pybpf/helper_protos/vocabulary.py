"""The vocabulary of helper prototypes: the kernel's argument and return types and
their flags, `Arg`, `Ret` and `HelperProto` (see pybpf.helper_protos)."""


from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, Flag, auto
from functools import cached_property

from ..errors import PyBPFError

__all__ = ["ARG_ALIASES", "COMPATIBLE_REG_TYPES", "RET_ALIASES", "RET_REG_TYPE", "Arg", "ArgType",
           "HelperProto", "HelperProtoError", "Ret", "RetType", "TypeFlag"]


class HelperProtoError(PyBPFError, LookupError):
    """An unknown helper, or one pybpf has no prototype for."""


class ArgType(Enum):
    """Base argument types (`enum bpf_arg_type` without flags)."""

    ARG_DONTCARE = auto()                  # unused argument
    ARG_CONST_MAP_PTR = auto()             # const argument used as pointer to bpf_map
    ARG_PTR_TO_MAP_KEY = auto()            # pointer to stack/packet/... used as map key
    ARG_PTR_TO_MAP_VALUE = auto()          # pointer used as map value
    ARG_PTR_TO_MEM = auto()                # pointer to valid memory; size in the next arg
    ARG_PTR_TO_ARENA = auto()
    ARG_CONST_SIZE = auto()                # number of bytes accessed from memory
    ARG_CONST_SIZE_OR_ZERO = auto()        # ... or 0
    ARG_PTR_TO_CTX = auto()                # pointer to the program's context
    ARG_ANYTHING = auto()                  # any (initialized) argument is ok
    ARG_PTR_TO_SPIN_LOCK = auto()          # pointer to bpf_spin_lock
    ARG_PTR_TO_SOCK_COMMON = auto()        # pointer to sock_common
    ARG_PTR_TO_SOCKET = auto()             # pointer to bpf_sock (fullsock)
    ARG_PTR_TO_BTF_ID = auto()             # pointer to in-kernel struct (arg_btf_id)
    ARG_PTR_TO_RINGBUF_MEM = auto()        # pointer to memory from bpf_ringbuf_reserve
    ARG_CONST_ALLOC_SIZE_OR_ZERO = auto()  # bytes to allocate; the returned mem's size
    ARG_PTR_TO_BTF_ID_SOCK_COMMON = auto() # in-kernel sock_common or bpf-mirrored bpf_sock
    ARG_PTR_TO_PERCPU_BTF_ID = auto()      # pointer to in-kernel percpu type
    ARG_PTR_TO_FUNC = auto()               # pointer to a bpf program function (callback)
    ARG_PTR_TO_STACK = auto()              # pointer to stack
    ARG_PTR_TO_CONST_STR = auto()          # pointer to a null-terminated read-only string
    ARG_PTR_TO_TIMER = auto()              # pointer to bpf_timer
    ARG_KPTR_XCHG_DEST = auto()            # pointer to a referenced kptr field
    ARG_PTR_TO_DYNPTR = auto()             # pointer to bpf_dynptr


class RetType(Enum):
    """Base return types (`enum bpf_return_type` without flags)."""

    RET_INTEGER = auto()                   # function returns integer
    RET_VOID = auto()                      # function doesn't return anything
    RET_PTR_TO_MAP_VALUE = auto()          # returns a pointer to map elem value
    RET_PTR_TO_SOCKET = auto()             # returns a pointer to a socket
    RET_PTR_TO_TCP_SOCK = auto()           # returns a pointer to a tcp_sock
    RET_PTR_TO_SOCK_COMMON = auto()        # returns a pointer to a sock_common
    RET_PTR_TO_MEM = auto()                # returns a pointer to memory
    RET_PTR_TO_MEM_OR_BTF_ID = auto()      # returns a pointer to a valid memory or a btf_id
    RET_PTR_TO_BTF_ID = auto()             # returns a pointer to a btf_id (ret_btf_id)


class TypeFlag(Flag):
    """`enum bpf_type_flag`: modifiers of argument, return and register types."""

    PTR_MAYBE_NULL = auto()
    MEM_RDONLY = auto()
    MEM_RINGBUF = auto()
    MEM_USER = auto()
    MEM_PERCPU = auto()
    OBJ_RELEASE = auto()
    PTR_UNTRUSTED = auto()
    MEM_UNINIT = auto()
    DYNPTR_TYPE_LOCAL = auto()
    DYNPTR_TYPE_RINGBUF = auto()
    MEM_FIXED_SIZE = auto()
    MEM_ALLOC = auto()
    PTR_TRUSTED = auto()
    MEM_RCU = auto()
    NON_OWN_REF = auto()
    DYNPTR_TYPE_SKB = auto()
    DYNPTR_TYPE_XDP = auto()
    MEM_ALIGNED = auto()
    MEM_WRITE = auto()
    DYNPTR_TYPE_SKB_META = auto()


NOFLAGS = TypeFlag(0)
_F = TypeFlag

# the kernel's composite names: name -> (base, flags)
ARG_ALIASES: dict[str, tuple[ArgType, TypeFlag]] = {
    "ARG_PTR_TO_MAP_VALUE_OR_NULL": (ArgType.ARG_PTR_TO_MAP_VALUE, _F.PTR_MAYBE_NULL),
    "ARG_PTR_TO_MEM_OR_NULL": (ArgType.ARG_PTR_TO_MEM, _F.PTR_MAYBE_NULL),
    "ARG_PTR_TO_CTX_OR_NULL": (ArgType.ARG_PTR_TO_CTX, _F.PTR_MAYBE_NULL),
    "ARG_PTR_TO_SOCKET_OR_NULL": (ArgType.ARG_PTR_TO_SOCKET, _F.PTR_MAYBE_NULL),
    "ARG_PTR_TO_STACK_OR_NULL": (ArgType.ARG_PTR_TO_STACK, _F.PTR_MAYBE_NULL),
    "ARG_PTR_TO_BTF_ID_OR_NULL": (ArgType.ARG_PTR_TO_BTF_ID, _F.PTR_MAYBE_NULL),
    # pointer to memory the helper writes (it need not be initialized)
    "ARG_PTR_TO_UNINIT_MEM": (ArgType.ARG_PTR_TO_MEM, _F.MEM_UNINIT | _F.MEM_WRITE),
    # pointer to memory of arg_size bytes (no size argument)
    "ARG_PTR_TO_FIXED_SIZE_MEM": (ArgType.ARG_PTR_TO_MEM, _F.MEM_FIXED_SIZE),
}
RET_ALIASES: dict[str, tuple[RetType, TypeFlag]] = {
    "RET_PTR_TO_MAP_VALUE_OR_NULL": (RetType.RET_PTR_TO_MAP_VALUE, _F.PTR_MAYBE_NULL),
    "RET_PTR_TO_SOCKET_OR_NULL": (RetType.RET_PTR_TO_SOCKET, _F.PTR_MAYBE_NULL),
    "RET_PTR_TO_TCP_SOCK_OR_NULL": (RetType.RET_PTR_TO_TCP_SOCK, _F.PTR_MAYBE_NULL),
    "RET_PTR_TO_SOCK_COMMON_OR_NULL": (RetType.RET_PTR_TO_SOCK_COMMON, _F.PTR_MAYBE_NULL),
    "RET_PTR_TO_RINGBUF_MEM_OR_NULL": (RetType.RET_PTR_TO_MEM,
                                       _F.PTR_MAYBE_NULL | _F.MEM_RINGBUF),
    "RET_PTR_TO_DYNPTR_MEM_OR_NULL": (RetType.RET_PTR_TO_MEM, _F.PTR_MAYBE_NULL),
    "RET_PTR_TO_BTF_ID_OR_NULL": (RetType.RET_PTR_TO_BTF_ID, _F.PTR_MAYBE_NULL),
    "RET_PTR_TO_BTF_ID_TRUSTED": (RetType.RET_PTR_TO_BTF_ID, _F.PTR_TRUSTED),
}

# What older kernels called some argument types, in today's terms (base, flags, arg_size).
LEGACY_ARG_NAMES: dict[str, tuple[ArgType, TypeFlag, int]] = {
    "ARG_PTR_TO_LONG": (ArgType.ARG_PTR_TO_MEM, _F.MEM_FIXED_SIZE | _F.MEM_UNINIT
                        | _F.MEM_WRITE | _F.MEM_ALIGNED, 8),
    "ARG_PTR_TO_INT": (ArgType.ARG_PTR_TO_MEM, _F.MEM_FIXED_SIZE | _F.MEM_UNINIT
                       | _F.MEM_WRITE | _F.MEM_ALIGNED, 4),
    "ARG_PTR_TO_ALLOC_MEM": (ArgType.ARG_PTR_TO_RINGBUF_MEM, NOFLAGS, 0),
    "ARG_PTR_TO_KPTR": (ArgType.ARG_KPTR_XCHG_DEST, NOFLAGS, 0),
}

# The verifier's compatible_reg_types: for each base argument type, the register types
# it accepts (flag-adjusted by the arg's PTR_MAYBE_NULL / MEM_RDONLY), as
# "R<n> type=... expected=<these>" lists them.
_MEM_TYPES = ("fp", "pkt", "pkt_meta", "map_key", "map_value", "mem", "ringbuf_mem", "buf",
              "trusted_ptr_")
COMPATIBLE_REG_TYPES: dict[ArgType, tuple[str, ...]] = {
    ArgType.ARG_PTR_TO_MAP_KEY: _MEM_TYPES,
    ArgType.ARG_PTR_TO_MAP_VALUE: _MEM_TYPES,
    ArgType.ARG_PTR_TO_MEM: _MEM_TYPES,
    ArgType.ARG_CONST_SIZE: ("scalar",),
    ArgType.ARG_CONST_SIZE_OR_ZERO: ("scalar",),
    ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO: ("scalar",),
    ArgType.ARG_CONST_MAP_PTR: ("map_ptr",),
    ArgType.ARG_PTR_TO_CTX: ("ctx",),
    ArgType.ARG_PTR_TO_SOCK_COMMON: ("sock_common", "sock", "tcp_sock", "xdp_sock"),
    ArgType.ARG_PTR_TO_BTF_ID_SOCK_COMMON: ("sock_common", "sock", "tcp_sock", "xdp_sock",
                                            "ptr_", "trusted_ptr_"),
    ArgType.ARG_PTR_TO_SOCKET: ("sock",),
    ArgType.ARG_PTR_TO_BTF_ID: ("ptr_", "trusted_ptr_", "rcu_ptr_"),
    ArgType.ARG_PTR_TO_SPIN_LOCK: ("map_value", "ptr_"),
    ArgType.ARG_PTR_TO_RINGBUF_MEM: ("ringbuf_mem",),
    ArgType.ARG_PTR_TO_PERCPU_BTF_ID: ("percpu_ptr_", "percpu_rcu_ptr_",
                                       "percpu_trusted_ptr_"),
    ArgType.ARG_PTR_TO_FUNC: ("func",),
    ArgType.ARG_PTR_TO_STACK: ("fp",),
    ArgType.ARG_PTR_TO_CONST_STR: ("map_value",),
    ArgType.ARG_PTR_TO_TIMER: ("map_value",),
    ArgType.ARG_PTR_TO_DYNPTR: ("fp", "dynptr_ptr"),
}


@dataclass(frozen=True)
class Arg:
    """One argument: its base type and flags (`arg<n>_type`), `size` (`arg<n>_size`, for
    MEM_FIXED_SIZE memory) or `btf_id` (`arg<n>_btf_id`: the kernel struct a
    ARG_PTR_TO_BTF_ID must point to), and its C declaration for docs."""

    type: ArgType
    flags: TypeFlag = NOFLAGS
    size: int = 0
    btf_id: str = ""
    decl: str = ""

    @property
    def kernel_name(self) -> str:
        """The kernel's spelling: an alias where one fits, else `BASE | FLAG | ...`."""
        return _spell(self.type, self.flags, ARG_ALIASES)

    @property
    def is_pointer(self) -> bool:
        return self.type not in _SCALAR_ARGS

    @property
    def is_size(self) -> bool:
        return self.type in _SIZE_ARGS

    @cached_property  # read per helper call by the verifier; a Flag `&` is slow
    def may_be_null(self) -> bool:
        return bool(self.flags & TypeFlag.PTR_MAYBE_NULL)

    @cached_property  # read per helper call by the verifier; a Flag `&` is slow
    def writes(self) -> bool:
        """The helper writes through this pointer (MEM_WRITE: not into read-only maps)."""
        return bool(self.flags & TypeFlag.MEM_WRITE)

    @cached_property  # read per helper call by the verifier; a Flag `&` is slow
    def releases(self) -> bool:
        """The helper releases the reference this argument holds (OBJ_RELEASE)."""
        return bool(self.flags & TypeFlag.OBJ_RELEASE)

    def with_decl(self, decl: str) -> Arg:
        return Arg(self.type, self.flags, self.size, self.btf_id, decl)


@dataclass(frozen=True)
class Ret:
    """The return type (`ret_type`) and, for BTF pointers, `ret_btf_id`."""

    type: RetType
    flags: TypeFlag = NOFLAGS
    btf_id: str = ""

    @property
    def kernel_name(self) -> str:
        return _spell(self.type, self.flags, RET_ALIASES)

    @cached_property  # read per helper call by the verifier; a Flag `&` is slow
    def may_be_null(self) -> bool:
        return bool(self.flags & TypeFlag.PTR_MAYBE_NULL)

    @property
    def reg_type(self) -> str:
        """What r0 becomes after the call, as the verifier log names it ('' for void)."""
        return RET_REG_TYPE[(self.type, self.flags)]


def _spell(base: Enum, flags: TypeFlag, aliases: Mapping[str, tuple[Enum, TypeFlag]]) -> str:
    # longest alias (most flags) contained in the type first
    best = max(((n, f) for n, (b, f) in aliases.items() if b is base and f & flags == f),
               key=lambda nf: nf[1].value.bit_count(), default=None)
    name, rest = (best[0], flags & ~best[1]) if best else (base.name, flags)
    names = [f.name for f in TypeFlag if f in rest and f.name]
    return " | ".join([name, *names])


_SCALAR_ARGS = frozenset({ArgType.ARG_DONTCARE, ArgType.ARG_ANYTHING, ArgType.ARG_CONST_SIZE,
                          ArgType.ARG_CONST_SIZE_OR_ZERO,
                          ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO})
_SIZE_ARGS = frozenset({ArgType.ARG_CONST_SIZE, ArgType.ARG_CONST_SIZE_OR_ZERO,
                        ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO})

# What r0 holds after a call returning each (type, flags), as the verifier log prints
# it ("R0 invalid mem access '<this>'"); RET_VOID leaves r0 unreadable.
RET_REG_TYPE: dict[tuple[RetType, TypeFlag], str] = {
    (RetType.RET_INTEGER, NOFLAGS): "scalar",
    (RetType.RET_VOID, NOFLAGS): "",
    (RetType.RET_PTR_TO_MAP_VALUE, _F.PTR_MAYBE_NULL): "map_value_or_null",
    (RetType.RET_PTR_TO_MAP_VALUE, NOFLAGS): "map_value",
    (RetType.RET_PTR_TO_SOCKET, _F.PTR_MAYBE_NULL): "sock_or_null",
    (RetType.RET_PTR_TO_TCP_SOCK, _F.PTR_MAYBE_NULL): "tcp_sock_or_null",
    (RetType.RET_PTR_TO_SOCK_COMMON, _F.PTR_MAYBE_NULL): "sock_common_or_null",
    (RetType.RET_PTR_TO_MEM, _F.PTR_MAYBE_NULL | _F.MEM_RINGBUF): "ringbuf_mem_or_null",
    (RetType.RET_PTR_TO_MEM, _F.PTR_MAYBE_NULL): "mem_or_null",
    (RetType.RET_PTR_TO_BTF_ID, _F.PTR_MAYBE_NULL): "ptr_or_null_",
    (RetType.RET_PTR_TO_BTF_ID, NOFLAGS): "ptr_",
    (RetType.RET_PTR_TO_BTF_ID, _F.PTR_TRUSTED): "trusted_ptr_",
    (RetType.RET_PTR_TO_MEM_OR_BTF_ID, _F.MEM_RDONLY): "rdonly_mem",
    (RetType.RET_PTR_TO_MEM_OR_BTF_ID, _F.PTR_MAYBE_NULL | _F.MEM_RDONLY):
        "rdonly_mem_or_null",
}


@dataclass(frozen=True)
class HelperProto:
    """One `struct bpf_func_proto`: the fields a verifier uses, plus the helper's
    identity (`id`, `name` without `bpf_`), the kernel symbol of the proto
    (`kernel_proto`, e.g. "bpf_skb_event_output_proto") and C types for docs.

    `acquire` is the verifier's is_acquire_function(): r0 holds a reference the
    program must release (through an OBJ_RELEASE argument) before it exits."""

    id: int
    name: str
    ret: Ret
    args: tuple[Arg, ...]
    gpl_only: bool = False
    pkt_access: bool = False
    might_sleep: bool = False
    acquire: bool = False
    kernel_proto: str = ""
    ret_ctype: str = "long"
    # C parameters after `args` that the verifier does not check (bpf_trace_printk's
    # "...", bpf_get_branch_snapshot's flags): for render() only
    unchecked_decls: tuple[str, ...] = ()

    @property
    def arg_types(self) -> tuple[ArgType, ...]:
        return tuple(a.type for a in self.args)

    @property
    def nargs(self) -> int:
        return len(self.args)

    @property
    def ret_size_arg(self) -> int | None:
        """1-based index of the argument giving the size of the returned memory
        (ARG_CONST_ALLOC_SIZE_OR_ZERO: bpf_ringbuf_reserve's size), if any."""
        for i, a in enumerate(self.args, 1):
            if a.type is ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO:
                return i
        return None

    @property
    def release_arg(self) -> int | None:
        """1-based index of the OBJ_RELEASE argument, if any."""
        for i, a in enumerate(self.args, 1):
            if a.releases:
                return i
        return None

    def render(self) -> str:
        """The C declaration, as the UAPI documentation writes it."""
        params = ", ".join([a.decl for a in self.args] + list(self.unchecked_decls)) or "void"
        sep = "" if self.ret_ctype.endswith("*") else " "
        return f"{self.ret_ctype}{sep}bpf_{self.name}({params})"

    def describe(self) -> str:
        """The C declaration and the verifier's view of it, on a few lines."""
        flags = [n for n in ("gpl_only", "pkt_access", "might_sleep", "acquire")
                 if getattr(self, n)]
        lines = [f"{self.render()}  [#{self.id}"
                 + (f", {self.kernel_proto}" if self.kernel_proto else "") + "]",
                 f"    ret:  {self.ret.kernel_name}"
                 + (f" ({self.ret.btf_id})" if self.ret.btf_id else "")]
        for i, a in enumerate(self.args, 1):
            extra = f" size={a.size}" if a.size else ""
            extra += f" ({a.btf_id})" if a.btf_id else ""
            lines.append(f"    arg{i}: {a.kernel_name}{extra}")
        if flags:
            lines.append("    " + ", ".join(flags))
        return "\n".join(lines)
