"""The ABI layer without the kernel: struct layouts against the UAPI (sizes and
offsets measured with the C compiler on union bpf_attr of Linux 6.18), enum values,
and the error classes. (The generator and the layouts against BTF: tests/test_uapi.py.)"""

from __future__ import annotations

import ctypes
import errno
import pickle

import pytest

from pybpf.errors import PyBPFError
from pybpf.kernel import abi, errors

# (Structure, size) as gcc reports sizeof() of the matching union bpf_attr member.
SIZES = [
    (abi.MapCreateAttr, 96),
    (abi.MapElemAttr, 32),
    (abi.MapBatchAttr, 56),
    (abi.ProgLoadAttr, 168),
    (abi.ObjAttr, 24),
    (abi.TestRunAttr, 80),
    (abi.GetIdAttr, 16),
    (abi.InfoAttr, 16),
    (abi.BtfLoadAttr, 40),
    (abi.LinkCreateAttr, 64),
    (abi.BpfProgInfo, 232),
    (abi.BpfMapInfo, 104),
    (abi.BpfBtfInfo, 32),
    (abi.BpfLinkInfo, 64),
]

# (Structure, field, offset) from offsetof(union bpf_attr, ...) / offsetof(struct ...).
OFFSETS = [
    (abi.MapCreateAttr, "map_name", 28),
    (abi.MapCreateAttr, "map_ifindex", 44),
    (abi.MapCreateAttr, "btf_vmlinux_value_type_id", 60),
    (abi.MapCreateAttr, "map_extra", 64),
    (abi.MapCreateAttr, "map_token_fd", 76),
    (abi.MapCreateAttr, "excl_prog_hash_size", 88),
    (abi.MapElemAttr, "key", 8),
    (abi.MapElemAttr, "value", 16),
    (abi.MapElemAttr, "flags", 24),
    (abi.MapBatchAttr, "count", 32),
    (abi.MapBatchAttr, "map_fd", 36),
    (abi.MapBatchAttr, "elem_flags", 40),
    (abi.MapBatchAttr, "flags", 48),
    (abi.ProgLoadAttr, "insns", 8),
    (abi.ProgLoadAttr, "license", 16),
    (abi.ProgLoadAttr, "log_level", 24),
    (abi.ProgLoadAttr, "log_buf", 32),
    (abi.ProgLoadAttr, "kern_version", 40),
    (abi.ProgLoadAttr, "prog_flags", 44),
    (abi.ProgLoadAttr, "prog_name", 48),
    (abi.ProgLoadAttr, "expected_attach_type", 68),
    (abi.ProgLoadAttr, "func_info", 80),
    (abi.ProgLoadAttr, "line_info", 96),
    (abi.ProgLoadAttr, "attach_btf_id", 108),
    (abi.ProgLoadAttr, "attach_prog_fd", 112),
    (abi.ProgLoadAttr, "fd_array", 120),
    (abi.ProgLoadAttr, "log_true_size", 140),
    (abi.ProgLoadAttr, "fd_array_cnt", 148),
    (abi.ProgLoadAttr, "keyring_id", 164),
    (abi.ObjAttr, "bpf_fd", 8),
    (abi.ObjAttr, "file_flags", 12),
    (abi.ObjAttr, "path_fd", 16),
    (abi.TestRunAttr, "data_in", 16),
    (abi.TestRunAttr, "data_out", 24),
    (abi.TestRunAttr, "repeat", 32),
    (abi.TestRunAttr, "duration", 36),
    (abi.TestRunAttr, "ctx_in", 48),
    (abi.TestRunAttr, "ctx_out", 56),
    (abi.TestRunAttr, "flags", 64),
    (abi.TestRunAttr, "cpu", 68),
    (abi.TestRunAttr, "batch_size", 72),
    (abi.GetIdAttr, "next_id", 4),
    (abi.GetIdAttr, "open_flags", 8),
    (abi.InfoAttr, "info", 8),
    (abi.BtfLoadAttr, "btf_size", 16),
    (abi.BtfLoadAttr, "btf_log_level", 24),
    (abi.BtfLoadAttr, "btf_log_true_size", 28),
    (abi.BtfLoadAttr, "btf_token_fd", 36),
    (abi.LinkCreateAttr, "attach_type", 8),
    (abi.LinkCreateAttr, "extra", 16),
    (abi.BpfProgInfo, "tag", 8),
    (abi.BpfProgInfo, "jited_prog_insns", 24),
    (abi.BpfProgInfo, "name", 64),
    (abi.BpfProgInfo, "ifindex", 80),
    (abi.BpfProgInfo, "netns_dev", 88),
    (abi.BpfProgInfo, "btf_id", 128),
    (abi.BpfProgInfo, "run_time_ns", 192),
    (abi.BpfProgInfo, "run_cnt", 200),
    (abi.BpfProgInfo, "verified_insns", 216),
    (abi.BpfProgInfo, "attach_btf_id", 224),
    (abi.BpfMapInfo, "name", 24),
    (abi.BpfMapInfo, "netns_dev", 48),
    (abi.BpfMapInfo, "map_extra", 80),
    (abi.BpfMapInfo, "hash", 88),
    (abi.BpfMapInfo, "hash_size", 96),
    (abi.BpfBtfInfo, "name", 16),
    (abi.BpfBtfInfo, "kernel_btf", 28),
    (abi.BpfLinkInfo, "prog_id", 8),
    (abi.BpfLinkInfo, "extra", 16),
]


@pytest.mark.parametrize("struct,size", SIZES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_struct_sizes(struct: type, size: int) -> None:
    assert ctypes.sizeof(struct) == size


@pytest.mark.parametrize("struct,name,offset", OFFSETS,
                         ids=[f"{s.__name__}.{n}" for s, n, _ in OFFSETS])
def test_field_offsets(struct: type, name: str, offset: int) -> None:
    assert getattr(struct, name).offset == offset


def test_no_attr_is_larger_than_the_union() -> None:
    for struct, _ in SIZES[:10]:
        assert ctypes.sizeof(struct) <= abi.BPF_ATTR_SIZE


def test_link_create_union_members() -> None:
    a = abi.LinkCreateAttr()
    a.extra.perf_event.bpf_cookie = 0x1122334455667788
    assert bytes(a)[16:24] == (0x1122334455667788).to_bytes(8, "little")
    a = abi.LinkCreateAttr()
    a.extra.tcx.expected_revision = 7
    assert bytes(a)[24:32] == (7).to_bytes(8, "little")
    a = abi.LinkCreateAttr()
    abi.raw_bytes(a.extra)[0:4] = b"\x05\0\0\0"
    assert a.extra.target_btf_id == 5 and a.target_btf_id == 5


def test_prog_info_bitfield() -> None:
    info = abi.BpfProgInfo()
    info.gpl_compatible = 1
    assert bytes(info)[84:88] == b"\x01\0\0\0"


def test_enum_values() -> None:
    assert abi.BPF_MAP_CREATE == 0
    assert abi.BPF_PROG_LOAD == 5
    assert abi.BPF_PROG_TEST_RUN == abi.BPF_PROG_RUN == 10
    assert abi.BPF_OBJ_GET_INFO_BY_FD == 15
    assert abi.BPF_BTF_LOAD == 18
    assert abi.BPF_MAP_LOOKUP_AND_DELETE_ELEM == 21
    assert abi.BPF_MAP_FREEZE == 22
    assert abi.BPF_MAP_LOOKUP_BATCH == 24
    assert abi.BPF_MAP_DELETE_BATCH == 27
    assert abi.BPF_LINK_CREATE == 28
    assert abi.BPF_PROG_STREAM_READ_BY_FD == 37
    assert abi.BPF_MAP_TYPE_ARRAY == 2
    assert abi.BPF_MAP_TYPE_ARENA == 33
    assert abi.BPF_PROG_TYPE_XDP == 6
    assert abi.BPF_PROG_TYPE_NETFILTER == 32
    assert abi.BPF_XDP == 37
    assert abi.BPF_TRACE_UPROBE_SESSION == 57
    assert (abi.BPF_ANY, abi.BPF_NOEXIST, abi.BPF_EXIST, abi.BPF_F_LOCK) == (0, 1, 2, 4)
    assert abi.BPF_F_NO_PREALLOC == 1 and abi.BPF_F_MMAPABLE == 1024
    assert abi.BPF_F_TEST_RUN_ON_CPU == 1 and abi.BPF_F_TEST_XDP_LIVE_FRAMES == 2
    assert abi.BTF_KIND_INT == 1 and abi.BTF_KIND_ENUM64 == 19


def test_canonical_names_prefer_current_over_deprecated() -> None:
    assert abi.MapType(19).name == "CGROUP_STORAGE"
    assert abi.MapType(21).name == "PERCPU_CGROUP_STORAGE"
    assert abi.BpfCmd(10).name == "PROG_TEST_RUN"


# --- errors -------------------------------------------------------------------------------

def test_kernel_error_classes() -> None:
    e = errors.kernel_error(errno.EPERM, "BPF_MAP_CREATE")
    assert isinstance(e, errors.KernelPermissionError) and isinstance(e, PermissionError)
    assert isinstance(e, PyBPFError)
    assert e.errno == errno.EPERM and e.cmd == "BPF_MAP_CREATE"
    assert str(e) == "BPF_MAP_CREATE: Operation not permitted (EPERM)"
    k = errors.kernel_error(errno.ENOENT, "BPF_MAP_LOOKUP_ELEM", "key 01000000")
    assert isinstance(k, KeyError) and isinstance(k, errors.KernelKeyError)
    assert str(k) == "BPF_MAP_LOOKUP_ELEM: No such file or directory (ENOENT): key 01000000"
    assert isinstance(errors.kernel_error(errors.ENOTSUPP, "X"), errors.NotSupportedError)
    assert isinstance(errors.kernel_error(errno.EOPNOTSUPP, "X"), errors.NotSupportedError)
    assert "ENOTSUPP" in str(errors.kernel_error(524, "X"))
    assert isinstance(errors.kernel_error(errno.E2BIG, "X"), errors.KernelTooBigError)
    assert isinstance(errors.kernel_error(errno.EEXIST, "X"), errors.KernelExistsError)
    assert isinstance(errors.kernel_error(errno.EINVAL, "X"), ValueError)
    assert type(errors.kernel_error(errno.EIO, "X")) is errors.KernelError


def test_verifier_error_message_and_classes() -> None:
    log = ("func#0 @0\n0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok\n"
           "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0\n")
    e = errors.verifier_error(errno.EACCES, log)
    assert isinstance(e, errors.KernelVerifierError)
    assert isinstance(e, errors.KernelPermissionError) and isinstance(e, PermissionError)
    assert e.log == log and e.errno == errno.EACCES
    assert e.reason == "R0 !read_ok"
    assert str(e).startswith("BPF_PROG_LOAD: Permission denied (EACCES); verifier log: ")
    assert "R0 !read_ok" in str(e)
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is type(e) and again.log == log and str(again) == str(e)
    b = errors.btf_error(errno.EINVAL, "magic: 0xeb9f\nInvalid type_off\n")
    assert isinstance(b, errors.KernelBTFError) and isinstance(b, errors.KernelVerifierError)
    assert "BTF log" in str(b) and b.reason == "Invalid type_off"
