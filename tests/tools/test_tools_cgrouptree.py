"""`pybpf cgroup tree|show` and `pybpf link list`: programs on cgroups the test makes,
compared with bpftool's own JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import pybpf
from tests.conftest import run_cli
from tests.kernel.netenv import make_cgroup, remove_cgroup

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.kernel


def _bpftool(*args: str) -> object:
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    return json.loads(subprocess.run(["bpftool", "-j", *args], capture_output=True,
                                     text=True, check=True).stdout)


@pytest.fixture
def counted():  # type: ignore[no-untyped-def]
    """The cgroup_skb counter on a fresh cgroup, through links (ingress and egress), and
    a nested child cgroup."""
    cg = make_cgroup()
    child = os.path.join(cg, "child")
    os.mkdir(child)
    obj = pybpf.load(EXAMPLES / "cgroup_skb_count.o").instantiate("kernel")
    try:
        links = [p.attach(cg) for p in obj.programs.values()]
        yield cg, child, obj, links
        for link in links:
            link.close()
    finally:
        obj.close()
        os.rmdir(child)
        remove_cgroup(cg)


def test_cgroup_tree_matches_bpftool(counted, capsys) -> None:  # type: ignore[no-untyped-def]
    cg, child, obj, links = counted
    ids = {p.handle.id for p in obj.programs.values()}
    rc, out, err = run_cli(capsys, "cgroup", "tree", cg, "--json")
    assert rc == 0, err
    tree = json.loads(out)
    assert [c["cgroup"] for c in tree] == [cg]  # the child has none of its own
    progs = tree[0]["programs"]
    assert {p["id"] for p in progs} == ids
    assert {p["attach_type"] for p in progs} == {"cgroup_inet_ingress", "cgroup_inet_egress"}
    assert {p["attach_flags"] for p in progs} == {"multi"}  # links attach with ALLOW_MULTI
    names = {p.handle.info(insns=False).name for p in obj.programs.values()}
    assert {p["name"] for p in progs} == names
    theirs = _bpftool("cgroup", "tree", cg)
    assert isinstance(theirs, list)
    assert [c["cgroup"] for c in theirs] == [cg]
    key = lambda p: (p["attach_type"], p["id"])  # noqa: E731
    assert sorted(progs, key=key) == sorted(theirs[0]["programs"], key=key)
    # effective: the child runs its parent's programs, without flags
    rc, out, _ = run_cli(capsys, "cgroup", "show", child, "--effective", "-j")
    eff = json.loads(out)
    assert {p["id"] for p in eff} == ids and all("attach_flags" not in p for p in eff)
    assert sorted(eff, key=key) == sorted(_bpftool("cgroup", "show", child, "effective"),
                                          key=key)
    rc, out, _ = run_cli(capsys, "cgroup", "show", child, "-j")
    assert json.loads(out) == []
    rc, out, _ = run_cli(capsys, "cgroup", "tree", cg)
    assert out.startswith("CgroupPath\nID       AttachType      AttachFlags     Name\n")
    assert f"\n{cg}\n    " in out and "cgroup_inet_ingress multi" in out


def test_link_list_json_matches_bpftool(counted, capsys) -> None:  # type: ignore[no-untyped-def]
    cg, _, obj, links = counted
    rc, out, err = run_cli(capsys, "link", "list", "--json")
    assert rc == 0, err
    mine = {r["id"]: r for r in json.loads(out)}
    theirs = {r["id"]: r for r in _bpftool("link", "list")}  # type: ignore[union-attr]
    for link in links:
        m, t = mine[link.id], theirs[link.id]
        assert set(m) == set(t) - {"pids"}, (m, t)
        for k in ("id", "type", "prog_id", "cgroup_id", "attach_type"):
            assert m[k] == t[k], k
        assert m["cgroup_id"] == os.stat(cg).st_ino


def test_cgroup_errors(capsys) -> None:  # type: ignore[no-untyped-def]
    rc, _, err = run_cli(capsys, "cgroup", "show", "/sys/fs/cgroup/no/such/cgroup")
    assert rc == 1 and "no cgroup /sys/fs/cgroup/no/such/cgroup" in err
    rc, _, err = run_cli(capsys, "cgroup", "tree", "/no/such/root")
    assert rc == 1 and "no cgroup /no/such/root" in err
    rc, _, err = run_cli(capsys, "cgroup", "show", "/etc/hostname")
    assert rc == 1 and "not a cgroup directory" in err
    for argv in (["tree", "/"], ["tree", "/proc"], ["show", "/tmp"]):  # never walk them
        rc, _, err = run_cli(capsys, "cgroup", *argv)
        assert rc == 1 and "not a cgroup" in err and "file system" in err, (argv, err)
