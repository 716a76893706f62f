"""Pinning in bpffs, BTF loading, links, and the feature probes."""

from __future__ import annotations

import errno
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from pybpf.isa import Instruction
from pybpf.kernel import (
    BTF,
    AttachType,
    KernelBTFError,
    KernelPermissionError,
    LinkType,
    Map,
    MapType,
    Program,
    ProgType,
    abi,
    available,
    btf_blob,
    btf_ids,
    btf_int_blob,
    btf_load,
    ensure_bpffs,
    fd_kind,
    features_report,
    format_features,
    is_bpffs,
    link_create,
    link_ids,
    obj_get,
    probe_all,
    probe_helpers,
    probe_map_types,
    probe_prog_types,
    prog_load,
    unmount,
)
from pybpf.kernel.objects import fs_type
from pybpf.kernel.probe import classify_helper_log

pytestmark = pytest.mark.kernel

RET = [Instruction(0xB7, 0, 0, 0, 1), Instruction(0x95)]  # r0 = 1; exit


@pytest.fixture
def bpffs() -> Iterator[Path]:
    """A private bpffs instance mounted on a fresh temporary directory."""
    base = tempfile.mkdtemp(prefix="pybpf-bpffs-")
    try:
        mounted = ensure_bpffs(base)
    except KernelPermissionError as e:
        os.rmdir(base)
        pytest.skip(f"cannot mount bpffs: {e}")
    try:
        assert is_bpffs(mounted)
        yield Path(mounted)
    finally:
        unmount(mounted, lazy=True)
        os.rmdir(base)


def test_pin_and_get(bpffs: Path) -> None:
    sub = bpffs / "pybpf-test"
    sub.mkdir()
    assert ensure_bpffs(sub) == str(sub)  # already a bpffs: nothing mounted
    with Map.create(MapType.HASH, 4, 4, 8, name="pinned") as m, \
            prog_load(ProgType.XDP, RET, name="pinnedprog") as p:
        m[1] = 11
        m.pin(sub / "map")
        p.pin(sub / "prog")
        mid, pid = m.id, p.id
    # The originals are closed; the pins keep the objects alive.
    assert sorted(os.listdir(sub)) == ["map", "prog"]
    with Map.from_pin(sub / "map") as again:
        assert again.id == mid and again.name == "pinned" and again[1] == (11).to_bytes(4, "little")
    with obj_get(sub / "prog") as fd:
        assert fd_kind(fd) == "prog"
        with Program.from_fd(fd.dup()) as prog:
            assert prog.id == pid and prog.name == "pinnedprog"
    with obj_get(sub / "map", abi.BPF_F_RDONLY) as ro:
        with Map.from_fd(ro) as rom:
            with pytest.raises(KernelPermissionError):
                rom[1] = 2
    os.unlink(sub / "map")
    os.unlink(sub / "prog")  # (the kernel drops the objects after an RCU grace period)
    assert os.listdir(sub) == []


def test_pin_outside_bpffs_is_explained(tmp_path: Path) -> None:
    if fs_type(tmp_path) == "bpf":
        pytest.skip("tmp is a bpffs")
    with Map.create(MapType.ARRAY, 4, 4, 1) as m:
        with pytest.raises(KernelPermissionError, match="not on a bpffs"):
            m.pin(tmp_path / "m")


def test_btf_load_minimal_int() -> None:
    blob = btf_int_blob()
    # header (24 bytes) + one 16-byte INT type + "\0int\0"
    assert len(blob) == 24 + 16 + 5
    assert struct.unpack_from("<HBBI", blob) == (0xEB9F, 1, 0, 24)
    with btf_load(blob, log_level=1) as btf:
        assert isinstance(btf, BTF) and fd_kind(btf) == "btf"
        info = btf.info()
        assert info.id > 0 and info.btf_size == len(blob) and not info.kernel_btf
        assert info.id in set(btf_ids())
        assert "magic: 0xeb9f" in btf.log


def test_btf_load_rejection_has_log() -> None:
    bad = btf_blob(struct.pack("<IIII", 1, abi.BTF_KIND_INT << 24, 4, 99), b"\0int\0")
    with pytest.raises(KernelBTFError) as ei:
        btf_load(bad)
    e = ei.value
    assert e.errno == errno.EINVAL and e.cmd == "BPF_BTF_LOAD"
    assert "magic: 0xeb9f" in e.log and e.reason
    assert str(e).startswith("BPF_BTF_LOAD: Invalid argument (EINVAL); BTF log: ")


def _cgroup2_root() -> str | None:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    return None


def test_link_create_on_a_fresh_cgroup() -> None:
    root = _cgroup2_root()
    if root is None:
        pytest.skip("no cgroup2 mount")
    cg = tempfile.mkdtemp(prefix="pybpf-test-", dir=root)
    try:
        cg_fd = os.open(cg, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with prog_load(ProgType.CGROUP_SKB, RET, name="cglink") as p:
                with link_create(p, cg_fd, AttachType.CGROUP_INET_INGRESS) as link:
                    info = link.info()
                    assert info.type is LinkType.CGROUP and info.prog_id == p.id
                    assert info.attach_type is AttachType.CGROUP_INET_INGRESS
                    assert info.cgroup_id == os.stat(cg).st_ino
                    assert info.id in set(link_ids()) and fd_kind(link) == "link"
                assert link.closed
                with link_create(p, cg_fd, AttachType.CGROUP_INET_EGRESS) as link2:
                    assert link2.info().cgroup_id == os.stat(cg).st_ino
                    link2.detach()  # detached at once; the fd stays valid
                    assert link2.info().cgroup_id == 0
        finally:
            os.close(cg_fd)
    finally:
        os.rmdir(cg)


# --- probes -----------------------------------------------------------------------------------

def test_available() -> None:
    ok, reason = available()
    assert ok and reason.startswith("bpf(2) usable")
    assert available(("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"))[0]
    ok, reason = available(("CAP_NOSUCH",))  # never raises
    assert not ok and "CAP_NOSUCH" in reason


def test_available_names_the_missing_capabilities() -> None:
    """Without CAP_PERFMON and CAP_NET_ADMIN (and CAP_SYS_ADMIN, which stands in for
    CAP_PERFMON), bpf(2) still works but available() for those says which are missing."""
    import shutil
    import subprocess
    import sys
    if not shutil.which("setpriv"):
        pytest.skip("no setpriv to drop capabilities")
    code = ("from pybpf.kernel import available\n"
            "print(available()[0]); print(available(('CAP_BPF', 'CAP_PERFMON', "
            "'CAP_NET_ADMIN'))[1])")
    out = subprocess.run(["setpriv", "--bounding-set", "-net_admin,-sys_admin,-perfmon",
                          sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "True"
    assert out[1].startswith("needs CAP_PERFMON, CAP_NET_ADMIN;") and "holds CAP_BPF" in out[1]


def test_probe_types() -> None:
    progs = probe_prog_types()
    assert progs["xdp"] and progs["socket_filter"] and progs["sched_cls"]
    assert set(progs) == {t.name.lower() for t in ProgType if t}
    maps = probe_map_types()
    assert maps["hash"] and maps["array"] and maps["ringbuf"] and maps["array_of_maps"]
    assert set(maps) == {t.name.lower() for t in MapType if t}


def test_probe_helpers() -> None:
    xdp = probe_helpers(ProgType.XDP)
    assert xdp["bpf_map_lookup_elem"] and xdp["bpf_xdp_adjust_head"]
    assert not xdp["bpf_skb_store_bytes"] and not xdp["bpf_bind"]
    sk = probe_helpers(ProgType.SCHED_CLS, [9, 44])  # skb_store_bytes, xdp_adjust_head
    assert sk == {"bpf_skb_store_bytes": True, "bpf_xdp_adjust_head": False}
    unknown = probe_helpers(ProgType.XDP, [100000])
    assert unknown == {"bpf_helper100000": False}


def test_classify_helper_log() -> None:
    assert not classify_helper_log("0: (85) call unknown#999\ninvalid func unknown#999\n")
    assert not classify_helper_log("program of this type cannot use helper bpf_bind#64\n")
    assert not classify_helper_log("unknown func bpf_sys_bpf#166\n")
    assert classify_helper_log("R1 type=ctx expected=fp\n")


def test_probe_all_is_json_and_formats() -> None:
    report = probe_all(helpers=True)
    assert report["available"]["ok"]
    assert "bpf_map_lookup_elem" in report["helpers"]["xdp"]
    assert "bpf_bind" not in report["helpers"]["xdp"]
    assert json.loads(json.dumps(report)) == report
    text = format_features(report)
    assert "Program types" in text and "Map types" in text and "xdp" in text
    quick = features_report(helpers=False)
    assert quick["helpers"] == {} and quick["prog_types"] == report["prog_types"]
