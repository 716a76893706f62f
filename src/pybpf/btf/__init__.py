"""pybpf.btf: the BPF Type Format.

* `parse(blob, base=None, lazy=False) -> Btf`, `load_file`, `load_vmlinux`: raw .BTF
  blobs (split BTF over a base too) into typed objects (`pybpf.btf.types`), `Btf` the
  id -> type container; `encode(btf)` / `btf.to_bytes()` back to bytes.
* `parse_ext(blob, btf) -> BtfExt`, `encode_ext`: the .BTF.ext section (func_info,
  line_info, CO-RE relocation records per ELF section).
* `Builder`: types made programmatically, laid out as C would.
* `sanitize_for_kernel`: what a loader fixes in clang's BTF before BPF_BTF_LOAD.
* `parse_maps_section`, `parse_map_def`: BTF-defined map definitions (`.maps`).
* `dump_raw`, `format_raw`, `format_c`, `dump_c`, `type_name`, `type_decl`: printing, in
  bpftool's formats; `btf_type_json`: one type as data (`btf dump --json`).
* `encode_value`, `decode_value`: map keys and values to and from Python data;
  `TypeCodec`, `DatasecCodec`: the same as fixed-size codecs (typed maps, globals).
* `CoreRelocator`, `relocate`, `patch_insn`: CO-RE relocations against the kernel's BTF.

Everything raises `BTFError` (a PyBPFError) on bad input.
"""

from __future__ import annotations

from .blob import (
    BTF_MAGIC, MAX_RESOLVE_DEPTH, VMLINUX_PATH, VOID, Btf, Header, StringTable, encode,
    load_file, load_vmlinux, parse, parse_header,
)
from .builder import Builder
from .core import (
    POISON_HELPER_ID, Accessor, CoreRelocator, CoreResult, CoreSpec, essential_name,
    fields_are_compat, parse_spec, patch_insn, relocate, types_are_compat, types_match,
)
from .dump import btf_type_json, dump_c, dump_raw, format_c, format_raw, type_decl, type_name
from .errors import BTFError, CoreError, PatchError
from .ext import BtfExt, CoreRelo, CoreReloKind, FuncInfo, LineInfo, encode_ext, parse_ext
from .maps import BtfMapDef, parse_map_def, parse_maps_section
from .sanitize import SanitizedBtf, sanitize_for_kernel
from .types import (
    KIND_NAMES, MODIFIERS, Array, BtfKind, BtfType, Const, Datasec, DeclTag, Enum, Enum64,
    Enumerator, Float, Func, FuncLinkage, FuncProto, Fwd, Int, IntEncoding, Member, Param,
    Ptr, Restrict, Struct, Typedef, TypeTag, Union_, Var, VarLinkage, VarSecinfo, Void,
    Volatile,
)
from .values import decode_value, encode_value, value_size
from .codec import DatasecCodec, SectionVar, TypeCodec, datasec_vars

__all__ = [
    # container and wire format
    "Btf", "Header", "StringTable", "parse", "parse_header", "encode", "load_file",
    "load_vmlinux", "BTF_MAGIC", "VMLINUX_PATH", "VOID", "MAX_RESOLVE_DEPTH",
    # types
    "BtfKind", "BtfType", "IntEncoding", "FuncLinkage", "VarLinkage", "Void", "Int", "Ptr",
    "Array", "Member", "Struct", "Union_", "Enumerator", "Enum", "Enum64", "Fwd",
    "Typedef", "Volatile", "Const", "Restrict", "Func", "Param", "FuncProto", "Var",
    "VarSecinfo", "Datasec", "Float", "DeclTag", "TypeTag", "MODIFIERS", "KIND_NAMES",
    # .BTF.ext
    "BtfExt", "FuncInfo", "LineInfo", "CoreRelo", "CoreReloKind", "parse_ext",
    "encode_ext",
    # building, sanitizing, printing, values
    "Builder", "SanitizedBtf", "sanitize_for_kernel", "BtfMapDef", "parse_map_def",
    "parse_maps_section", "btf_type_json", "dump_raw", "format_raw",
    "format_c", "dump_c", "type_name", "type_decl", "encode_value", "decode_value",
    "value_size", "TypeCodec", "DatasecCodec", "SectionVar", "datasec_vars",
    # CO-RE
    "CoreRelocator", "CoreResult", "CoreSpec", "Accessor", "relocate", "patch_insn",
    "parse_spec", "essential_name", "types_are_compat", "types_match", "fields_are_compat",
    "POISON_HELPER_ID",
    # errors
    "BTFError", "CoreError", "PatchError",
]
