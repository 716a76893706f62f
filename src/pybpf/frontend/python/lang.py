"""What a restricted-Python BPF program imports: integer types, header views, context
structs, map declarations, program decorators and `.rodata` config.

Everything here is plain Python that runs when the user's module is imported; the
compiler reads the declarations (maps, config, structs) from the module and compiles
the decorated functions' source. The function bodies are never run by Python."""

from __future__ import annotations

import ctypes as C
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...uapi import MapType

if TYPE_CHECKING:
    from .types import CType

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_CURRENT_CPU",
    "BPF_F_NO_PREALLOC",
    "BPF_NOEXIST",
    "BUILTINS",
    "ETH_HLEN",
    "ETH_P_8021AD",
    "ETH_P_8021Q",
    "ETH_P_ARP",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "IPPROTO_ICMP",
    "IPPROTO_ICMPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "PACKET_OUTGOING",
    "SKF_NET_OFF",
    "TC_ACT_OK",
    "TC_ACT_PIPE",
    "TC_ACT_RECLASSIFY",
    "TC_ACT_REDIRECT",
    "TC_ACT_SHOT",
    "TC_ACT_STOLEN",
    "TC_ACT_UNSPEC",
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_REDIRECT",
    "XDP_TX",
    "ArrayMap",
    "Config",
    "EthHdr",
    "Global",
    "HashMap",
    "IPv4Hdr",
    "IPv6Hdr",
    "IcmpHdr",
    "LPMTrie",
    "LRUHash",
    "LRUPerCPUHash",
    "MapDecl",
    "NetStruct",
    "PerCPUArray",
    "PerCPUHash",
    "PerfEventArray",
    "ProgArray",
    "Program",
    "PtRegs",
    "RawTpArgs",
    "RingBuf",
    "SkBuff",
    "Struct",
    "Subprogram",
    "TcpHdr",
    "UdpHdr",
    "VlanHdr",
    "XdpMd",
    "atomic_add",
    "be16",
    "be32",
    "be64",
    "cgroup_skb",
    "htonl",
    "htons",
    "i8",
    "i16",
    "i32",
    "i64",
    "kprobe",
    "load_byte",
    "load_half",
    "load_word",
    "noinline",
    "ntohl",
    "ntohs",
    "perf_event",
    "raw_tp",
    "sizeof",
    "socket_filter",
    "tc",
    "tracepoint",
    "u8",
    "u16",
    "u32",
    "u64",
    "uprobe",
    "xdp",
]

# integer types: ctypes types, so map keys/values and header views are ctypes structs
u8, u16, u32, u64 = C.c_uint8, C.c_uint16, C.c_uint32, C.c_uint64
i8, i16, i32, i64 = C.c_int8, C.c_int16, C.c_int32, C.c_int64
# network byte order in memory (the value in a variable is the number)
be16, be32, be64 = (C.c_uint16.__ctype_be__, C.c_uint32.__ctype_be__,
                    C.c_uint64.__ctype_be__)

# return codes
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = 0, 1, 2, 3, 4
TC_ACT_UNSPEC, TC_ACT_OK, TC_ACT_RECLASSIFY, TC_ACT_SHOT = -1, 0, 1, 2
TC_ACT_PIPE, TC_ACT_STOLEN, TC_ACT_REDIRECT = 3, 4, 7
BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2
BPF_F_NO_PREALLOC = 1
BPF_F_CURRENT_CPU = 0xFFFFFFFF
ETH_HLEN = 14
ETH_P_IP, ETH_P_ARP, ETH_P_8021Q, ETH_P_8021AD, ETH_P_IPV6 = 0x0800, 0x0806, 0x8100, 0x88A8, 0x86DD
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58
SKF_NET_OFF = -0x100000
PACKET_OUTGOING = 4


# ---- dataclass-style structs ----

def _annotated_fields(ns: dict[str, Any], globs: dict[str, Any]) -> list[tuple[Any, ...]]:
    fields: list[tuple[Any, ...]] = []
    for name, t in ns.get("__annotations__", {}).items():
        if isinstance(t, str):  # from __future__ import annotations
            t = eval(t, globs, dict(ns))
        fields.append((name, *t) if isinstance(t, tuple) else (name, t))
    return fields


# the bases are ctypes' struct metaclasses, which have no public name: type(...) finds them
class _StructMeta(type(C.Structure)):  # type: ignore[misc]  # a base computed at run time
    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any], **kw: Any) -> Any:
        if ns.get("__annotations__") and "_fields_" not in ns:
            ns["_fields_"] = _annotated_fields(ns, sys._getframe(1).f_globals)
        return super().__new__(mcls, name, bases, ns, **kw)


class _NetStructMeta(type(C.BigEndianStructure)):  # type: ignore[misc]  # as _StructMeta
    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any], **kw: Any) -> Any:
        if ns.get("__annotations__") and "_fields_" not in ns:
            ns["_fields_"] = _annotated_fields(ns, sys._getframe(1).f_globals)
        return super().__new__(mcls, name, bases, ns, **kw)


class Struct(C.Structure, metaclass=_StructMeta):
    """A ctypes structure declared dataclass-style: `addr: be32`, `flags: (u8, 4)` for a
    4-bit field; the fields in the order written, laid out as C lays them out."""


class NetStruct(C.BigEndianStructure, metaclass=_NetStructMeta):
    """A Struct in network byte order (a header view): every field reads as a number."""


# ---- context structs (the kernel's UAPI layouts) ----

class XdpMd(C.Structure):
    """struct xdp_md: the context of an XDP program."""

    _fields_ = [("data", C.c_uint32), ("data_end", C.c_uint32), ("data_meta", C.c_uint32),
                ("ingress_ifindex", C.c_uint32), ("rx_queue_index", C.c_uint32),
                ("egress_ifindex", C.c_uint32)]


class SkBuff(C.Structure):
    """struct __sk_buff: the context of socket filters, tc and cgroup_skb programs."""

    _fields_ = [("len", C.c_uint32), ("pkt_type", C.c_uint32), ("mark", C.c_uint32),
                ("queue_mapping", C.c_uint32), ("protocol", C.c_uint32),
                ("vlan_present", C.c_uint32), ("vlan_tci", C.c_uint32),
                ("vlan_proto", C.c_uint32), ("priority", C.c_uint32),
                ("ingress_ifindex", C.c_uint32), ("ifindex", C.c_uint32),
                ("tc_index", C.c_uint32), ("cb", C.c_uint32 * 5), ("hash", C.c_uint32),
                ("tc_classid", C.c_uint32), ("data", C.c_uint32), ("data_end", C.c_uint32),
                ("napi_id", C.c_uint32), ("family", C.c_uint32), ("remote_ip4", C.c_uint32),
                ("local_ip4", C.c_uint32), ("remote_ip6", C.c_uint32 * 4),
                ("local_ip6", C.c_uint32 * 4), ("remote_port", C.c_uint32),
                ("local_port", C.c_uint32), ("data_meta", C.c_uint32),
                ("flow_keys", C.c_uint64), ("tstamp", C.c_uint64), ("wire_len", C.c_uint32),
                ("gso_segs", C.c_uint32), ("sk", C.c_uint64), ("gso_size", C.c_uint32),
                ("tstamp_type", C.c_uint8), ("_pad", C.c_uint8 * 3),
                ("hwtstamp", C.c_uint64)]


class PtRegs(C.Structure):
    """struct pt_regs (x86-64): the context of kprobes and uprobes."""

    _fields_ = [(n, C.c_uint64) for n in (
        "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx",
        "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")]


class RawTpArgs(C.Structure):
    """struct bpf_raw_tracepoint_args: a raw tracepoint's arguments."""

    _fields_ = [("args", C.c_uint64 * 6)]


# ---- header views (wire layouts, network byte order; fields read as numbers) ----

class EthHdr(C.BigEndianStructure):
    _fields_ = [("h_dest", C.c_uint8 * 6), ("h_source", C.c_uint8 * 6), ("h_proto", C.c_uint16)]


class VlanHdr(C.BigEndianStructure):
    _fields_ = [("h_vlan_TCI", C.c_uint16), ("h_vlan_encapsulated_proto", C.c_uint16)]


class IPv4Hdr(C.BigEndianStructure):
    _fields_ = [("version", C.c_uint8, 4), ("ihl", C.c_uint8, 4), ("tos", C.c_uint8),
                ("tot_len", C.c_uint16), ("id", C.c_uint16), ("frag_off", C.c_uint16),
                ("ttl", C.c_uint8), ("protocol", C.c_uint8), ("check", C.c_uint16),
                ("saddr", C.c_uint32), ("daddr", C.c_uint32)]


class IPv6Hdr(C.BigEndianStructure):
    _fields_ = [("version", C.c_uint8, 4), ("priority", C.c_uint8, 4),
                ("flow_lbl", C.c_uint8 * 3), ("payload_len", C.c_uint16),
                ("nexthdr", C.c_uint8), ("hop_limit", C.c_uint8),
                ("saddr", C.c_uint8 * 16), ("daddr", C.c_uint8 * 16)]


class TcpHdr(C.BigEndianStructure):
    _fields_ = [("source", C.c_uint16), ("dest", C.c_uint16), ("seq", C.c_uint32),
                ("ack_seq", C.c_uint32), ("doff", C.c_uint16, 4), ("res1", C.c_uint16, 4),
                ("flags", C.c_uint16, 8), ("window", C.c_uint16), ("check", C.c_uint16),
                ("urg_ptr", C.c_uint16)]


class UdpHdr(C.BigEndianStructure):
    _fields_ = [("source", C.c_uint16), ("dest", C.c_uint16), ("len", C.c_uint16),
                ("check", C.c_uint16)]


class IcmpHdr(C.BigEndianStructure):
    _fields_ = [("type", C.c_uint8), ("code", C.c_uint8), ("checksum", C.c_uint16),
                ("rest", C.c_uint32)]


# ---- maps ----

@dataclass
class MapDecl:
    """A map declared at module level; its name is the variable it is bound to."""

    type: MapType
    key: CType | None = None
    value: CType | None = None
    max_entries: int = 0
    flags: int = 0
    key_size: int = 0      # for maps whose key is no BTF type (prog/perf arrays)
    value_size: int = 0
    pinning: int = 0
    values: dict[int, str] = field(default_factory=dict)  # prog array slot -> program


def _map_kind(mtype: MapType, doc: str) -> Callable[..., MapDecl]:
    def make(key: CType, value: CType, max_entries: int, flags: int = 0, *,
             pin: bool = False) -> MapDecl:
        return MapDecl(mtype, key, value, max_entries, flags, pinning=int(pin))
    make.__doc__ = doc
    return make


HashMap = _map_kind(MapType.HASH, "BPF_MAP_TYPE_HASH")
ArrayMap = _map_kind(MapType.ARRAY, "BPF_MAP_TYPE_ARRAY")
PerCPUHash = _map_kind(MapType.PERCPU_HASH, "BPF_MAP_TYPE_PERCPU_HASH")
PerCPUArray = _map_kind(MapType.PERCPU_ARRAY, "BPF_MAP_TYPE_PERCPU_ARRAY")
LRUHash = _map_kind(MapType.LRU_HASH, "BPF_MAP_TYPE_LRU_HASH")
LRUPerCPUHash = _map_kind(MapType.LRU_PERCPU_HASH, "BPF_MAP_TYPE_LRU_PERCPU_HASH")


def LPMTrie(key: CType, value: CType, max_entries: int, flags: int = BPF_F_NO_PREALLOC, *,
            pin: bool = False) -> MapDecl:
    """BPF_MAP_TYPE_LPM_TRIE (the kernel wants BPF_F_NO_PREALLOC, the default here)."""
    return MapDecl(MapType.LPM_TRIE, key, value, max_entries, flags, pinning=int(pin))


def RingBuf(max_entries: int) -> MapDecl:
    """BPF_MAP_TYPE_RINGBUF of max_entries bytes (a power of two, page multiple)."""
    return MapDecl(MapType.RINGBUF, max_entries=max_entries)


def PerfEventArray(max_entries: int = 0) -> MapDecl:
    """BPF_MAP_TYPE_PERF_EVENT_ARRAY (max_entries 0: one per CPU, set at load)."""
    return MapDecl(MapType.PERF_EVENT_ARRAY, max_entries=max_entries, key_size=4,
                   value_size=4)


def ProgArray(max_entries: int, values: dict[int, str | Program] | None = None) -> MapDecl:
    """BPF_MAP_TYPE_PROG_ARRAY for tail calls; `values` fills slots with programs of
    the module at load time ({0: "handle_ipv4"}, by name or the decorated function)."""
    slots = {i: v.name if isinstance(v, Program) else v for i, v in (values or {}).items()}
    return MapDecl(MapType.PROG_ARRAY, max_entries=max_entries, key_size=4, value_size=4,
                   values=slots)


# ---- globals ----

@dataclass
class Config:
    """A `.rodata` constant the loader may set before loading (C's `const volatile`):
    `rate = Config(u64, 100)`, then `spec.set_global("rate", 50)`."""

    type: CType
    default: int = 0


@dataclass
class Global:
    """A global variable the programs read and write (`.bss` when it starts at 0, else
    `.data`); a function that assigns it says `global NAME`, as in Python. User space
    reads it as obj.globals / the data-section maps."""

    type: CType
    default: int = 0


# ---- programs ----

@dataclass
class Program:
    """A function compiled as a BPF program in ELF section `section`."""

    func: Callable[..., object]
    section: str
    kind: str

    @property
    def name(self) -> str:
        return self.func.__name__


@dataclass
class Subprogram:
    """A function kept out of line (a BPF-to-BPF call), as C's __noinline."""

    func: Callable[..., object]
    extra: dict[str, Any] = field(default_factory=dict)


def noinline(func: Callable[..., object]) -> Subprogram:
    """Compile `func` as a sub-program of its own, called with a BPF-to-BPF call."""
    return Subprogram(func)


def _plain(kind: str, section: str) -> Callable[[Callable[..., object]], Program]:
    def deco(func: Callable[..., object]) -> Program:
        return Program(func, section, kind)
    deco.__doc__ = f"A {kind} program (SEC(\"{section}\"))."
    return deco


xdp = _plain("xdp", "xdp")
tc = _plain("tc", "tc")
socket_filter = _plain("socket_filter", "socket")
perf_event = _plain("perf_event", "perf_event")


def _targeted(kind: str, prefix: str, doc: str) -> Callable[[str], Callable[..., Program]]:
    def outer(target: str = "") -> Callable[[Callable[..., object]], Program]:
        section = f"{prefix}/{target}" if target else prefix
        return _plain(kind, section)
    outer.__doc__ = doc
    return outer


tracepoint = _targeted("tracepoint", "tracepoint", "@tracepoint(\"category/name\")")
raw_tp = _targeted("raw_tp", "raw_tp", "@raw_tp(\"name\")")
kprobe = _targeted("kprobe", "kprobe", "@kprobe(\"function\")")
uprobe = _targeted("uprobe", "uprobe", "@uprobe() (attached by path and offset)")
cgroup_skb = _targeted("cgroup_skb", "cgroup_skb", "@cgroup_skb(\"ingress\" | \"egress\")")

# names the compiler gives meaning in program bodies; Python never calls them
BUILTINS = ("print", "atomic_add", "load_byte", "load_half", "load_word", "sizeof", "range",
            "htons", "ntohs", "htonl", "ntohl")


def _builtin(name: str, doc: str) -> Callable[..., Any]:
    """A name to import so that programs read as Python (linters, editors); calling it
    outside a compiled program is an error."""
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{name}() has a meaning only in a BPF program compiled by "
                           "pybpf.frontend.python")
    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = doc
    return stub


atomic_add = _builtin("atomic_add", "atomic_add(place, value): an atomic add to a u32/u64 "
                                    "field or element; returns the old value.")
load_byte = _builtin("load_byte", "load_byte(ctx, offset): LD_ABS of one byte (socket "
                                  "filters; SKF_NET_OFF + n from the network header).")
load_half = _builtin("load_half", "load_half(ctx, offset): LD_ABS of 2 bytes, host order.")
load_word = _builtin("load_word", "load_word(ctx, offset): LD_ABS of 4 bytes, host order.")
sizeof = _builtin("sizeof", "sizeof(type or variable): its size in bytes, a constant.")
htons = _builtin("htons", "htons(x): 16 bits to network byte order.")
ntohs = _builtin("ntohs", "ntohs(x): 16 bits from network byte order.")
htonl = _builtin("htonl", "htonl(x): 32 bits to network byte order.")
ntohl = _builtin("ntohl", "ntohl(x): 32 bits from network byte order.")


def __getattr__(name: str) -> Any:
    """bpf_<helper> for every helper pybpf.helper_protos knows, importable by name."""
    if name.startswith("bpf_"):
        from ...helper_protos import HelperProtoError, render
        try:
            doc = render(name.removeprefix("bpf_"))
        except HelperProtoError:
            raise AttributeError(f"no BPF helper named {name}") from None
        return _builtin(name, doc)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
