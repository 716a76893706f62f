"""The bpf(2) ABI: UAPI constants and ctypes layouts of the `union bpf_attr` variants.

Enum values come from the generated `pybpf.uapi` (the kernel's BTF); the few
`#define` constants BTF cannot carry are written here from include/uapi/linux/bpf.h.
Each attr Structure is one member of `union bpf_attr`, laid out exactly as the UAPI
on 64-bit Linux (x86_64, aarch64), so it can be passed to bpf(2) with its own size:
the kernel zero-extends a short attr and requires any tail it does not know to be 0.
"""

from __future__ import annotations

import ctypes
from ctypes import c_char, c_int32, c_uint8, c_uint32, c_uint64

from ..uapi import *  # noqa: F401,F403  (the UAPI enums and their constants)
from ..uapi import AttachType, BpfCmd, BtfKind, LinkType, MapFlag, MapType, \
    ProgType, StatsType, UpdateFlag


# --- #define constants (not in BTF) ------------------------------------------------
BPF_OBJ_NAME_LEN = 16
BPF_TAG_SIZE = 8
BPF_ATTR_SIZE = 168  # sizeof(union bpf_attr) in Linux 6.18

# prog_flags of BPF_PROG_LOAD
BPF_F_STRICT_ALIGNMENT = 1 << 0
BPF_F_ANY_ALIGNMENT = 1 << 1
BPF_F_TEST_RND_HI32 = 1 << 2
BPF_F_TEST_STATE_FREQ = 1 << 3
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5
BPF_F_XDP_DEV_BOUND_ONLY = 1 << 6
BPF_F_TEST_REG_INVARIANTS = 1 << 7

# flags of BPF_PROG_TEST_RUN
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2

# attach_flags of BPF_PROG_ATTACH / link flags
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4
BPF_F_ID = 1 << 5
BPF_F_QUERY_EFFECTIVE = 1 << 0

# log_level bits of BPF_PROG_LOAD / BPF_BTF_LOAD
BPF_LOG_LEVEL1 = 1
BPF_LOG_LEVEL2 = 2
BPF_LOG_STATS = 4
BPF_LOG_FIXED = 8

# BTF blob header
BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
BTF_INT_SIGNED = 1 << 0
BTF_INT_CHAR = 1 << 1
BTF_INT_BOOL = 1 << 2

# XDP verdicts (enum xdp_action)
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)

BPF_FS_MAGIC = 0xCAFE4A11


class _Attr(ctypes.Structure):
    """Base of the attr layouts: field-by-field repr for debugging."""

    def __repr__(self) -> str:
        parts = []
        for name, *_ in self._fields_:
            v = getattr(self, name)
            if isinstance(v, ctypes.Array) or isinstance(v, ctypes.Structure) \
                    or isinstance(v, ctypes.Union):
                continue
            parts.append(f"{name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class MapCreateAttr(_Attr):
    """BPF_MAP_CREATE."""

    _fields_ = [
        ("map_type", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("inner_map_fd", c_uint32),
        ("numa_node", c_uint32),
        ("map_name", c_char * BPF_OBJ_NAME_LEN),
        ("map_ifindex", c_uint32),
        ("btf_fd", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("map_extra", c_uint64),
        ("value_type_btf_obj_fd", c_int32),
        ("map_token_fd", c_int32),
        ("excl_prog_hash", c_uint64),
        ("excl_prog_hash_size", c_uint32),
    ]


class MapElemAttr(_Attr):
    """BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, FREEZE.
    `value` doubles as `next_key` (a union in the UAPI)."""

    _fields_ = [
        ("map_fd", c_uint32),
        ("key", c_uint64),
        ("value", c_uint64),  # union { value; next_key; }
        ("flags", c_uint64),
    ]

    @property
    def next_key(self) -> int:
        return self.value

    @next_key.setter
    def next_key(self, v: int) -> None:
        self.value = v


class MapBatchAttr(_Attr):
    """BPF_MAP_*_BATCH (the `batch` member)."""

    _fields_ = [
        ("in_batch", c_uint64),
        ("out_batch", c_uint64),
        ("keys", c_uint64),
        ("values", c_uint64),
        ("count", c_uint32),
        ("map_fd", c_uint32),
        ("elem_flags", c_uint64),
        ("flags", c_uint64),
    ]


class ProgLoadAttr(_Attr):
    """BPF_PROG_LOAD. `attach_prog_fd` shares its slot with `attach_btf_obj_fd`."""

    _fields_ = [
        ("prog_type", c_uint32),
        ("insn_cnt", c_uint32),
        ("insns", c_uint64),
        ("license", c_uint64),
        ("log_level", c_uint32),
        ("log_size", c_uint32),
        ("log_buf", c_uint64),
        ("kern_version", c_uint32),
        ("prog_flags", c_uint32),
        ("prog_name", c_char * BPF_OBJ_NAME_LEN),
        ("prog_ifindex", c_uint32),
        ("expected_attach_type", c_uint32),
        ("prog_btf_fd", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("func_info_cnt", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("line_info", c_uint64),
        ("line_info_cnt", c_uint32),
        ("attach_btf_id", c_uint32),
        ("attach_prog_fd", c_uint32),  # union { attach_prog_fd; attach_btf_obj_fd; }
        ("core_relo_cnt", c_uint32),
        ("fd_array", c_uint64),
        ("core_relos", c_uint64),
        ("core_relo_rec_size", c_uint32),
        ("log_true_size", c_uint32),
        ("prog_token_fd", c_int32),
        ("fd_array_cnt", c_uint32),
        ("signature", c_uint64),
        ("signature_size", c_uint32),
        ("keyring_id", c_int32),
    ]


class ObjAttr(_Attr):
    """BPF_OBJ_PIN / BPF_OBJ_GET."""

    _fields_ = [
        ("pathname", c_uint64),
        ("bpf_fd", c_uint32),
        ("file_flags", c_uint32),
        ("path_fd", c_int32),
    ]


class ProgAttachAttr(_Attr):
    """BPF_PROG_ATTACH / BPF_PROG_DETACH."""

    _fields_ = [
        ("target_fd", c_uint32),  # union { target_fd; target_ifindex; }
        ("attach_bpf_fd", c_uint32),
        ("attach_type", c_uint32),
        ("attach_flags", c_uint32),
        ("replace_bpf_fd", c_uint32),
        ("relative_fd", c_uint32),  # union { relative_fd; relative_id; }
        ("expected_revision", c_uint64),
    ]


class TestRunAttr(_Attr):
    """BPF_PROG_TEST_RUN (the `test` member)."""

    __test__ = False  # not a pytest class

    _fields_ = [
        ("prog_fd", c_uint32),
        ("retval", c_uint32),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("data_in", c_uint64),
        ("data_out", c_uint64),
        ("repeat", c_uint32),
        ("duration", c_uint32),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("ctx_in", c_uint64),
        ("ctx_out", c_uint64),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
    ]


class GetIdAttr(_Attr):
    """BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID. `start_id` is also prog_id/map_id/
    btf_id/link_id (a union in the UAPI)."""

    _fields_ = [
        ("start_id", c_uint32),
        ("next_id", c_uint32),
        ("open_flags", c_uint32),
        ("fd_by_id_token_fd", c_int32),
    ]


class InfoAttr(_Attr):
    """BPF_OBJ_GET_INFO_BY_FD (the `info` member)."""

    _fields_ = [
        ("bpf_fd", c_uint32),
        ("info_len", c_uint32),
        ("info", c_uint64),
    ]


class BtfLoadAttr(_Attr):
    """BPF_BTF_LOAD."""

    _fields_ = [
        ("btf", c_uint64),
        ("btf_log_buf", c_uint64),
        ("btf_size", c_uint32),
        ("btf_log_size", c_uint32),
        ("btf_log_level", c_uint32),
        ("btf_log_true_size", c_uint32),
        ("btf_flags", c_uint32),
        ("btf_token_fd", c_int32),
    ]


class _LinkCgroup(ctypes.Structure):
    _fields_ = [("relative_fd", c_uint32), ("expected_revision", c_uint64)]


class _LinkIter(ctypes.Structure):
    _fields_ = [("iter_info", c_uint64), ("iter_info_len", c_uint32)]


class _LinkPerfEvent(ctypes.Structure):
    _fields_ = [("bpf_cookie", c_uint64)]


class _LinkTracing(ctypes.Structure):
    _fields_ = [("target_btf_id", c_uint32), ("cookie", c_uint64)]


class _LinkNetfilter(ctypes.Structure):
    _fields_ = [("pf", c_uint32), ("hooknum", c_uint32), ("priority", c_int32),
                ("flags", c_uint32)]


class _LinkExtra(ctypes.Union):
    """The type-specific tail of link_create (48 bytes); `raw` reaches every byte."""

    _fields_ = [
        ("target_btf_id", c_uint32),
        ("iter", _LinkIter),
        ("perf_event", _LinkPerfEvent),
        ("tracing", _LinkTracing),
        ("netfilter", _LinkNetfilter),
        ("tcx", _LinkCgroup),
        ("netkit", _LinkCgroup),
        ("cgroup", _LinkCgroup),
        ("raw", c_uint8 * 48),
        ("_align", c_uint64),
    ]


class LinkCreateAttr(_Attr):
    """BPF_LINK_CREATE (the `link_create` member). `prog_fd` is also map_fd and
    `target_fd` is also target_ifindex; `extra` is the per-attach-type union."""

    _fields_ = [
        ("prog_fd", c_uint32),
        ("target_fd", c_uint32),
        ("attach_type", c_uint32),
        ("flags", c_uint32),
        ("extra", _LinkExtra),
    ]


class ProgQueryAttr(_Attr):
    """BPF_PROG_QUERY (the `query` member): target_fd is also target_ifindex, prog_cnt
    also count."""

    _fields_ = [
        ("target_fd", c_uint32),
        ("attach_type", c_uint32),
        ("query_flags", c_uint32),
        ("attach_flags", c_uint32),
        ("prog_ids", c_uint64),
        ("prog_cnt", c_uint32),
        ("_pad", c_uint32),
        ("prog_attach_flags", c_uint64),
        ("link_ids", c_uint64),
        ("link_attach_flags", c_uint64),
        ("revision", c_uint64),
    ]


class LinkUpdateAttr(_Attr):
    """BPF_LINK_UPDATE (the `link_update` member): new_prog_fd is also new_map_fd,
    old_prog_fd (with BPF_F_REPLACE) also old_map_fd."""

    _fields_ = [
        ("link_fd", c_uint32),
        ("new_prog_fd", c_uint32),
        ("flags", c_uint32),
        ("old_prog_fd", c_uint32),
    ]


class EnableStatsAttr(_Attr):
    """BPF_ENABLE_STATS."""

    _fields_ = [("type", c_uint32)]


# --- the info structs filled by BPF_OBJ_GET_INFO_BY_FD ----------------------------------

class BpfProgInfo(_Attr):
    """struct bpf_prog_info."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("tag", c_uint8 * BPF_TAG_SIZE),
        ("jited_prog_len", c_uint32),
        ("xlated_prog_len", c_uint32),
        ("jited_prog_insns", c_uint64),
        ("xlated_prog_insns", c_uint64),
        ("load_time", c_uint64),
        ("created_by_uid", c_uint32),
        ("nr_map_ids", c_uint32),
        ("map_ids", c_uint64),
        ("name", c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", c_uint32),
        ("gpl_compatible", c_uint32, 1),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("nr_jited_ksyms", c_uint32),
        ("nr_jited_func_lens", c_uint32),
        ("jited_ksyms", c_uint64),
        ("jited_func_lens", c_uint64),
        ("btf_id", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("nr_func_info", c_uint32),
        ("nr_line_info", c_uint32),
        ("line_info", c_uint64),
        ("jited_line_info", c_uint64),
        ("nr_jited_line_info", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("jited_line_info_rec_size", c_uint32),
        ("nr_prog_tags", c_uint32),
        ("prog_tags", c_uint64),
        ("run_time_ns", c_uint64),
        ("run_cnt", c_uint64),
        ("recursion_misses", c_uint64),
        ("verified_insns", c_uint32),
        ("attach_btf_obj_id", c_uint32),
        ("attach_btf_id", c_uint32),
    ]


class BpfMapInfo(_Attr):
    """struct bpf_map_info."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("name", c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("btf_id", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("btf_vmlinux_id", c_uint32),
        ("map_extra", c_uint64),
        ("hash", c_uint64),
        ("hash_size", c_uint32),
    ]


class BpfBtfInfo(_Attr):
    """struct bpf_btf_info."""

    _fields_ = [
        ("btf", c_uint64),
        ("btf_size", c_uint32),
        ("id", c_uint32),
        ("name", c_uint64),
        ("name_len", c_uint32),
        ("kernel_btf", c_uint32),
    ]


class _LinkInfoCgroup(ctypes.Structure):
    _fields_ = [("cgroup_id", c_uint64), ("attach_type", c_uint32)]


class _LinkInfoExtra(ctypes.Union):
    _fields_ = [("cgroup", _LinkInfoCgroup), ("raw", c_uint8 * 48), ("_align", c_uint64)]


class BpfLinkInfo(_Attr):
    """struct bpf_link_info: the common head plus the per-type union (`extra`)."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("prog_id", c_uint32),
        ("extra", _LinkInfoExtra),
    ]
