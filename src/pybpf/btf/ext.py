"""The .BTF.ext section: per ELF code section, the func_info (which BTF FUNC starts at
which instruction), line_info (source line of instructions) and CO-RE relocation records.
Its strings live in the .BTF string table, so parsing and encoding take the `Btf`.

Instruction offsets are kept as they are in the ELF file: bytes from the start of the
ELF section (a loader divides by 8 for the kernel's instruction indexes)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from .blob import Btf
from .errors import BTFError

__all__ = ["BTF_EXT_MAGIC", "CoreReloKind", "FuncInfo", "LineInfo", "CoreRelo", "BtfExt",
           "parse_ext", "encode_ext"]

BTF_EXT_MAGIC = 0xEB9F
_HDR = struct.Struct("<HBBIIIII")
_HDR_CORE = struct.Struct("<II")
_U32 = struct.Struct("<I")
_2U32 = struct.Struct("<II")
_4U32 = struct.Struct("<IIII")
MIN_HDR_LEN = 24
CORE_HDR_LEN = 32


class CoreReloKind(IntEnum):
    """enum bpf_core_relo_kind (libbpf and the kernel UAPI agree on the numbers)."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12

    @property
    def is_field(self) -> bool:
        return self <= CoreReloKind.FIELD_RSHIFT_U64

    @property
    def is_type(self) -> bool:
        return self in _TYPE_KINDS

    @property
    def is_enumval(self) -> bool:
        return self in (CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE)


_TYPE_KINDS = frozenset({CoreReloKind.TYPE_ID_LOCAL, CoreReloKind.TYPE_ID_TARGET,
                         CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_SIZE,
                         CoreReloKind.TYPE_MATCHES})


@dataclass(frozen=True)
class FuncInfo:
    """struct bpf_func_info: the FUNC type id of the function starting at `insn_off`."""

    insn_off: int
    type_id: int


@dataclass(frozen=True)
class LineInfo:
    """struct bpf_line_info with its strings resolved: file and source line text,
    line number and column (packed as line << 10 | col on the wire)."""

    insn_off: int
    file_name: str
    line: str
    line_num: int
    line_col: int


@dataclass(frozen=True)
class CoreRelo:
    """struct bpf_core_relo: relocate the instruction at `insn_off` by `kind` for local
    type `type_id` and accessor string `access` (such as "0:1:2")."""

    insn_off: int
    type_id: int
    access: str
    kind: CoreReloKind

    def __post_init__(self) -> None:
        if not isinstance(self.kind, CoreReloKind):
            object.__setattr__(self, "kind", CoreReloKind(self.kind))


@dataclass
class BtfExt:
    """A parsed .BTF.ext: records per ELF section name, in file order. The record sizes
    and header length are kept so that an unchanged object encodes back exactly."""

    func_info: dict[str, list[FuncInfo]] = field(default_factory=dict)
    line_info: dict[str, list[LineInfo]] = field(default_factory=dict)
    core_relos: dict[str, list[CoreRelo]] = field(default_factory=dict)
    func_info_rec_size: int = 8
    line_info_rec_size: int = 16
    core_relo_rec_size: int = 16
    hdr_len: int = CORE_HDR_LEN


def _sections(data: bytes, base: int, off: int, length: int, min_rec: int,
              what: str, btf: Btf) -> tuple[int, list[tuple[str, int, int]]]:
    """Split one info area into (section name, record count, offset of first record)."""
    if length == 0:
        return min_rec, []
    start = base + off
    end = start + length
    if off + length > len(data) - base or start < base:
        raise BTFError(f".BTF.ext {what}: [{off:#x}, {off + length:#x}) runs past the end "
                       f"({len(data) - base:#x} bytes after the header)")
    if length < 4:
        raise BTFError(f".BTF.ext {what}: {length} bytes, too short for the record size")
    rec_size = _U32.unpack_from(data, start)[0]
    if rec_size < min_rec or rec_size % 4:
        raise BTFError(f".BTF.ext {what}: record size {rec_size} (at least {min_rec}, "
                       f"a multiple of 4)")
    pos = start + 4
    out = []
    while pos < end:
        if pos + 8 > end:
            raise BTFError(f".BTF.ext {what}: truncated section header at {pos - base:#x}")
        name_off, count = _2U32.unpack_from(data, pos)
        try:
            name = btf.strings.get(name_off)
        except BTFError as e:
            raise BTFError(f".BTF.ext {what} at {pos - base:#x}: section name: {e}") from None
        if count == 0:
            raise BTFError(f".BTF.ext {what}: section {name!r} has no records")
        pos += 8
        if pos + count * rec_size > end:
            raise BTFError(f".BTF.ext {what}: section {name!r} needs {count} records of "
                           f"{rec_size} bytes, only {end - pos} left")
        out.append((name, count, pos))
        pos += count * rec_size
    return rec_size, out


def parse_ext(data: bytes | bytearray | memoryview, btf: Btf) -> BtfExt:
    """Parse a .BTF.ext blob whose strings and type ids refer to `btf`."""
    data = bytes(data)
    if len(data) < MIN_HDR_LEN:
        raise BTFError(f".BTF.ext truncated: {len(data)} bytes, the header is {MIN_HDR_LEN}")
    if data[:2] == b"\xeb\x9f":
        raise BTFError("big-endian .BTF.ext is not supported")
    magic, version, flags, hdr_len, fi_off, fi_len, li_off, li_len = _HDR.unpack_from(data)
    if magic != BTF_EXT_MAGIC:
        raise BTFError(f"bad .BTF.ext magic {magic:#06x}")
    if version != 1:
        raise BTFError(f"unsupported .BTF.ext version {version}")
    if flags:
        raise BTFError(f"unsupported .BTF.ext flags {flags:#x}")
    if hdr_len < MIN_HDR_LEN or hdr_len > len(data) or hdr_len % 4:
        raise BTFError(f"bad .BTF.ext header length {hdr_len} (blob is {len(data)} bytes)")
    cr_off = cr_len = 0
    if hdr_len >= CORE_HDR_LEN:
        cr_off, cr_len = _HDR_CORE.unpack_from(data, MIN_HDR_LEN)
    ext = BtfExt(hdr_len=hdr_len)
    ntypes = len(btf)

    rec, secs = _sections(data, hdr_len, fi_off, fi_len, 8, "func_info", btf)
    ext.func_info_rec_size = rec
    for name, count, pos in secs:
        recs = []
        for i in range(count):
            insn_off, type_id = _2U32.unpack_from(data, pos + i * rec)
            if type_id >= ntypes:
                raise BTFError(f".BTF.ext func_info {name!r} #{i}: type id {type_id} out of "
                               f"range")
            recs.append(FuncInfo(insn_off, type_id))
        ext.func_info.setdefault(name, []).extend(recs)

    rec, secs = _sections(data, hdr_len, li_off, li_len, 16, "line_info", btf)
    ext.line_info_rec_size = rec
    for name, count, pos in secs:
        lines = []
        for i in range(count):
            insn_off, file_off, line_off, col = _4U32.unpack_from(data, pos + i * rec)
            try:
                file_name = btf.strings.get(file_off)
                line = btf.strings.get(line_off)
            except BTFError as e:
                raise BTFError(f".BTF.ext line_info {name!r} #{i}: {e}") from None
            lines.append(LineInfo(insn_off, file_name, line, col >> 10, col & 0x3FF))
        ext.line_info.setdefault(name, []).extend(lines)

    rec, secs = _sections(data, hdr_len, cr_off, cr_len, 16, "core_relo", btf)
    ext.core_relo_rec_size = rec
    for name, count, pos in secs:
        relos = []
        for i in range(count):
            insn_off, type_id, access_off, kind = _4U32.unpack_from(data, pos + i * rec)
            where = f".BTF.ext core_relo {name!r} #{i}"
            if type_id >= ntypes:
                raise BTFError(f"{where}: type id {type_id} out of range")
            try:
                access = btf.strings.get(access_off)
            except BTFError as e:
                raise BTFError(f"{where}: access string: {e}") from None
            try:
                k = CoreReloKind(kind)
            except ValueError:
                raise BTFError(f"{where}: unknown relocation kind {kind}") from None
            relos.append(CoreRelo(insn_off, type_id, access, k))
        ext.core_relos.setdefault(name, []).extend(relos)
    return ext


def _pack_area(rec_size: int, blocks: dict[str, list[bytes]], btf: Btf) -> bytes:
    if not blocks:
        return b""
    out = [_U32.pack(rec_size)]
    for name, recs in blocks.items():
        if not recs:
            continue
        out.append(_2U32.pack(btf.strings.add(name), len(recs)))
        out.extend(r.ljust(rec_size, b"\0") for r in recs)
    return b"".join(out)


def encode_ext(ext: BtfExt, btf: Btf) -> bytes:
    """The .BTF.ext blob for `ext`; its strings are found in (or added to) `btf`'s table,
    so encode the .BTF after this when names may be new."""
    s = btf.strings
    fi = _pack_area(ext.func_info_rec_size, {
        n: [_2U32.pack(r.insn_off, r.type_id) for r in recs]
        for n, recs in ext.func_info.items()}, btf)
    li = _pack_area(ext.line_info_rec_size, {
        n: [_4U32.pack(r.insn_off, s.add(r.file_name), s.add(r.line),
                       r.line_num << 10 | (r.line_col & 0x3FF)) for r in recs]
        for n, recs in ext.line_info.items()}, btf)
    cr = _pack_area(ext.core_relo_rec_size, {
        n: [_4U32.pack(r.insn_off, r.type_id, s.add(r.access), int(r.kind)) for r in recs]
        for n, recs in ext.core_relos.items()}, btf)
    hdr_len = max(ext.hdr_len, CORE_HDR_LEN if cr else MIN_HDR_LEN)
    hdr = _HDR.pack(BTF_EXT_MAGIC, 1, 0, hdr_len, 0, len(fi), len(fi), len(li))
    if hdr_len >= CORE_HDR_LEN:
        hdr += _HDR_CORE.pack(len(fi) + len(li), len(cr))
    hdr = hdr.ljust(hdr_len, b"\0")
    return hdr + fi + li + cr
