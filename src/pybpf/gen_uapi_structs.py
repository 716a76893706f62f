"""Generate `pybpf.uapi_structs`: ctypes layouts of the kernel's UAPI structs, from BTF.

Each class is one struct (or one member of `union bpf_attr`), member for member as the
BTF of the running kernel lays it out: anonymous unions and structs become ctypes
`_anonymous_` members (so `attr.next_key` and `attr.value` both work), gaps the BTF
leaves (`__u32 :32`) become `_padN` bytes, and the generator checks every offset and
size of the ctypes class it wrote against the BTF before returning it.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .btf import Btf


@dataclass(frozen=True)
class StructSpec:
    """One generated class: `c_type` is a struct/union tag; `member` picks one member
    of it (by name, or for an anonymous member by the name of its first field)."""

    cls: str
    c_type: str
    member: str | None
    doc: str
    renames: tuple[tuple[int, str], ...] = ()  # (index of an anonymous member, name)


STRUCTS: tuple[StructSpec, ...] = (
    StructSpec("MapCreateAttr", "bpf_attr", "map_type", "BPF_MAP_CREATE."),
    StructSpec("MapElemAttr", "bpf_attr", "map_fd",
               "BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, "
               "FREEZE."),
    StructSpec("MapBatchAttr", "bpf_attr", "batch", "BPF_MAP_*_BATCH (the `batch` member)."),
    StructSpec("ProgLoadAttr", "bpf_attr", "prog_type", "BPF_PROG_LOAD."),
    StructSpec("ObjAttr", "bpf_attr", "pathname", "BPF_OBJ_PIN / BPF_OBJ_GET."),
    StructSpec("ProgAttachAttr", "bpf_attr", "target_fd",
               "BPF_PROG_ATTACH / BPF_PROG_DETACH."),
    StructSpec("TestRunAttr", "bpf_attr", "test", "BPF_PROG_TEST_RUN (the `test` member)."),
    StructSpec("GetIdAttr", "bpf_attr", "start_id",
               "BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID."),
    StructSpec("InfoAttr", "bpf_attr", "info", "BPF_OBJ_GET_INFO_BY_FD (the `info` member)."),
    StructSpec("ProgQueryAttr", "bpf_attr", "query", "BPF_PROG_QUERY (the `query` member)."),
    StructSpec("RawTracepointOpenAttr", "bpf_attr", "raw_tracepoint",
               "BPF_RAW_TRACEPOINT_OPEN (the `raw_tracepoint` member)."),
    StructSpec("BtfLoadAttr", "bpf_attr", "btf", "BPF_BTF_LOAD."),
    StructSpec("TaskFdQueryAttr", "bpf_attr", "task_fd_query", "BPF_TASK_FD_QUERY."),
    StructSpec("LinkCreateAttr", "bpf_attr", "link_create",
               "BPF_LINK_CREATE (the `link_create` member); `extra` is the per-attach-type "
               "union.", renames=((4, "extra"),)),
    StructSpec("LinkUpdateAttr", "bpf_attr", "link_update", "BPF_LINK_UPDATE."),
    StructSpec("LinkDetachAttr", "bpf_attr", "link_detach", "BPF_LINK_DETACH."),
    StructSpec("EnableStatsAttr", "bpf_attr", "enable_stats", "BPF_ENABLE_STATS."),
    StructSpec("IterCreateAttr", "bpf_attr", "iter_create", "BPF_ITER_CREATE."),
    StructSpec("ProgBindMapAttr", "bpf_attr", "prog_bind_map", "BPF_PROG_BIND_MAP."),
    StructSpec("TokenCreateAttr", "bpf_attr", "token_create", "BPF_TOKEN_CREATE."),
    StructSpec("ProgStreamReadAttr", "bpf_attr", "prog_stream_read",
               "BPF_PROG_STREAM_READ_BY_FD."),
    StructSpec("BpfProgInfo", "bpf_prog_info", None, "struct bpf_prog_info."),
    StructSpec("BpfMapInfo", "bpf_map_info", None, "struct bpf_map_info."),
    StructSpec("BpfBtfInfo", "bpf_btf_info", None, "struct bpf_btf_info."),
    StructSpec("BpfLinkInfo", "bpf_link_info", None,
               "struct bpf_link_info: the common head and the per-type union `extra`.",
               renames=((3, "extra"),)),
    StructSpec("PerfEventAttr", "perf_event_attr", None,
               "struct perf_event_attr (linux/perf_event.h)."),
)

# Sizes published as constants: (constant, struct or union tag).
SIZES: tuple[tuple[str, str], ...] = (
    ("BPF_ATTR_SIZE", "bpf_attr"),
)

_INTS = {(1, False): "c_uint8", (2, False): "c_uint16", (4, False): "c_uint32",
         (8, False): "c_uint64", (1, True): "c_int8", (2, True): "c_int16",
         (4, True): "c_int32", (8, True): "c_int64"}


class _Writer:
    """Emits classes for one BTF, nested composites first, each checked as it goes."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.lines: list[str] = []
        self.used: set[str] = set()
        self.ns: dict[str, Any] = {"ctypes": ctypes, **{n: getattr(ctypes, n) for n in
                                                       set(_INTS.values()) | {"c_char"}}}
        exec(_PRELUDE, self.ns)

    # --- types -------------------------------------------------------------------------

    def ctype(self, type_id: int, owner: str, label: str) -> str:
        """The ctypes expression for a member's type (composites emitted on the way)."""
        from .btf import Array, Enum, Enum64, Int, Ptr, Struct, Union_
        btf = self.btf
        t = btf[btf.resolve(type_id)]
        if isinstance(t, Int):
            if t.name == "char":
                return "c_char"
            return _INTS[(t.size, bool(t.encoding & 1))]
        if isinstance(t, (Enum, Enum64)):
            return _INTS[(t.size, t.signed)]
        if isinstance(t, Ptr):
            return "c_uint64"
        if isinstance(t, Array):
            return f"({self.ctype(t.type, owner, label)} * {t.nelems})"
        if isinstance(t, (Struct, Union_)):
            return self.composite(t, f"_{owner.lstrip('_')}_{label}", "", ())
        raise GenError(f"{owner}.{label}: no ctypes for BTF {t.kind.name}")

    def composite(self, t: Any, cls: str, doc: str,
                  renames: tuple[tuple[int, str], ...]) -> str:
        """Emit the class for struct/union `t` as `cls`; returns `cls`."""
        from .btf import Union_
        is_union = isinstance(t, Union_)
        rename = dict(renames)
        fields: list[tuple[str, str, int | None]] = []   # (name, ctype source, bits)
        anonymous: list[str] = []
        want: list[tuple[str, int, int]] = []            # (name, bit offset, bits)
        npad = 0
        for i, m in enumerate(t.members):
            name = m.name or rename.get(i) or f"_u{i}"
            if not m.name:
                anonymous.append(name)
            ctype = self.ctype(m.type, cls, name)
            bits = m.bitfield_size or None
            if not is_union and bits is None:
                end = self._end(cls, fields, anonymous, is_union)
                gap = m.offset // 8 - end
                if gap < 0 or m.offset % 8:
                    raise GenError(f"{cls}.{name}: BTF offset {m.offset} bits is before "
                                   f"the end of the previous member ({end} bytes)")
                align = self._align_of(ctype)
                if m.offset // 8 != -(-end // align) * align:
                    fields.append((f"_pad{npad}", f"(c_uint8 * {gap})", None))
                    npad += 1
            fields.append((name, ctype, bits))
            want.append((name, m.offset, m.bitfield_size))
        size = self._size(cls, fields, anonymous, is_union)
        if size < t.size:
            fields.append((f"_pad{npad}", f"(c_uint8 * {t.size - size})", None))
        src = self._source(cls, fields, anonymous, is_union, doc)
        exec(src, self.ns)
        self._check(cls, t, want)
        self.lines += src.splitlines() + ["", ""]
        return cls

    # --- layout probes (ctypes itself computes, the BTF judges) -------------------------

    def _build(self, fields: list[tuple[str, str, int | None]], anonymous: list[str],
               is_union: bool) -> Any:
        base = ctypes.Union if is_union else ctypes.Structure
        ns: dict[str, Any] = {"_fields_": [self._field(f) for f in fields]}
        anon = [a for a in anonymous if any(f[0] == a for f in fields)]
        if anon:
            ns["_anonymous_"] = anon
        return type("_Probe", (base,), ns)

    def _field(self, f: tuple[str, str, int | None]) -> tuple[Any, ...]:
        name, ctype, bits = f
        self.used.update(n for n in _INTS.values() if n in ctype)
        if "c_char" in ctype:
            self.used.add("c_char")
        ct = eval(ctype, self.ns)
        return (name, ct) if bits is None else (name, ct, bits)

    def _end(self, cls: str, fields: list[tuple[str, str, int | None]],
             anonymous: list[str], is_union: bool) -> int:
        """Where the last member ends (bytes), not counting trailing padding."""
        if not fields:
            return 0
        probe = self._build(fields, anonymous, is_union)
        name, ctype, bits = fields[-1]
        last = getattr(probe, name)
        return int(last.offset + (ctypes.sizeof(eval(ctype, self.ns)) if bits else last.size))

    def _size(self, cls: str, fields: list[tuple[str, str, int | None]],
              anonymous: list[str], is_union: bool) -> int:
        return ctypes.sizeof(self._build(fields, anonymous, is_union))

    def _align_of(self, ctype: str) -> int:
        return ctypes.alignment(eval(ctype, self.ns))

    def _check(self, cls: str, t: Any, want: list[tuple[str, int, int]]) -> None:
        made = self.ns[cls]
        if ctypes.sizeof(made) != t.size:
            raise GenError(f"{cls}: ctypes size {ctypes.sizeof(made)}, BTF {t.size}")
        for name, bit_off, _bits in want:
            got = field_bit_offset(made, name)
            if got != bit_off:
                raise GenError(f"{cls}.{name}: ctypes at bit {got}, BTF at bit {bit_off}")

    @staticmethod
    def _source(cls: str, fields: list[tuple[str, str, int | None]], anonymous: list[str],
                is_union: bool, doc: str) -> str:
        base = "_Union" if is_union else "_Struct"
        lines = [f"class {cls}({base}):"]
        if doc:
            lines += [f'    """{doc}"""', ""]
        if cls.startswith("Test"):
            lines.append("    __test__ = False  # not a pytest class")
        if anonymous:
            lines.append(f"    _anonymous_ = ({', '.join(repr(a) for a in anonymous)},)")
        lines.append("    _fields_ = [")
        for name, ctype, bits in fields:
            extra = f", {bits}" if bits is not None else ""
            lines.append(f"        ({name!r}, {ctype}{extra}),")
        lines.append("    ]")
        return "\n".join(lines) + "\n"


def field_bit_offset(cls: Any, name: str) -> int:
    """The bit offset of field `name` of ctypes class `cls` (bitfields included)."""
    d = getattr(cls, name)
    if isinstance(d, property):
        raise GenError(f"{cls.__name__}.{name} is not a field")
    size = d.size
    if size > 0xFFFF:  # a bitfield: (bits << 16) | bit position
        return d.offset * 8 + (size & 0xFFFF)
    return d.offset * 8


class GenError(Exception):
    """The BTF lacks something the generator needs (an enum, a struct, a member), or
    ctypes cannot lay a struct out as the BTF does."""


_PRELUDE = '''
class _Struct(ctypes.Structure):
    """Base of the generated structs: a field-by-field repr for debugging."""

    def __repr__(self) -> str:
        parts = []
        anonymous = getattr(self, "_anonymous_", ())
        for name, *_ in self._fields_:
            if name in anonymous:  # an anonymous union: its first (canonical) name
                name = getattr(self, name)._fields_[0][0]
            if name.startswith("_"):
                continue
            v = getattr(self, name)
            if isinstance(v, (ctypes.Array, ctypes.Structure, ctypes.Union)):
                continue
            parts.append(f"{name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class _Union(ctypes.Union):
    """Base of the generated unions."""
'''


def _select(btf: Btf, spec: StructSpec) -> Any:
    """The BTF struct/union a spec names."""
    from .btf import BTFError, BtfKind, Struct, Union_
    t: Any = None
    for kind in (BtfKind.STRUCT, BtfKind.UNION):
        try:
            t = btf[btf.find_one(spec.c_type, kind)]
            break
        except BTFError:
            continue
    if not isinstance(t, (Struct, Union_)):
        raise GenError(f"no struct or union {spec.c_type} in the BTF")
    if spec.member is None:
        return t
    for m in t.members:
        if m.name == spec.member:
            return btf[btf.resolve(m.type)]
    for m in t.members:
        if m.name:
            continue
        inner = btf[btf.resolve(m.type)]
        first: Any = inner
        while isinstance(first, (Struct, Union_)) and first.members and \
                not first.members[0].name:
            first = btf[btf.resolve(first.members[0].type)]
        if isinstance(first, (Struct, Union_)) and first.members and \
                first.members[0].name == spec.member:
            return inner
    raise GenError(f"{spec.c_type} has no member {spec.member}")


def generate_structs(btf: Btf, release: str) -> str:
    """The Python source of `pybpf.uapi_structs` for `btf` (of Linux `release`)."""
    w = _Writer(btf)
    for spec in STRUCTS:
        w.composite(_select(btf, spec), spec.cls, spec.doc, spec.renames)
    sizes = []
    for const, tag in SIZES:
        sizes.append(f"{const} = {_select(btf, StructSpec('', tag, None, '')).size}")
    head = [
        f'"""Generated by pybpf.gen_uapi from the BTF of Linux {release}. Do not edit.',
        "",
        "ctypes layouts of UAPI structs, member for member as the kernel's BTF lays them",
        'out (64-bit Linux); `_padN` fields are the gaps the C declarations leave."""',
        "",
        "from __future__ import annotations",
        "",
        "import ctypes",
        f"from ctypes import {', '.join(sorted(w.used))}",
        "",
        "",
        *_PRELUDE.strip("\n").splitlines(),
        "",
        "",
    ]
    public = [s.cls for s in STRUCTS]
    tail = [*sizes, "", "__all__ = [", *[f"    {c!r}," for c in public],
            *[f"    {c!r}," for c, _ in SIZES], "]", ""]
    return "\n".join(head + w.lines + tail)
