"""`pybpf prog list|show|dump` and `pybpf map|btf list`: what is loaded, compared with
bpftool's own output (JSON keys and the values that are stable) for the objects the
test loads itself; skipped where bpftool is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pybpf
from tests.conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BPFTOOL = shutil.which("bpftool") or ("/usr/sbin/bpftool"
                                      if os.path.exists("/usr/sbin/bpftool") else None)

pytestmark = pytest.mark.kernel


def bpftool(*args: str) -> Any:
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed")
    out = subprocess.run([BPFTOOL, "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def bpftool_plain(*args: str) -> str:
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed")
    return subprocess.run([BPFTOOL, *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def firewall():  # type: ignore[no-untyped-def]
    """The XDP firewall loaded by pybpf (not attached): a program with maps, BTF,
    func info and a bpf-to-bpf call."""
    obj = pybpf.load(EXAMPLES / "xdp_firewall.o").instantiate("kernel")
    yield obj
    obj.close()


def _ids(obj: Any) -> tuple[int, list[int]]:
    info = obj.programs["xdp_firewall"].handle.info(insns=False)
    return info.id, info.map_ids


# the keys whose values do not change between two reads (loaded_at is compared apart)
PROG_STABLE = ("id", "type", "name", "tag", "gpl_compatible", "uid", "bytes_xlated", "jited",
               "bytes_jited", "bytes_memlock", "map_ids", "btf_id")
MAP_STABLE = ("id", "type", "name", "flags", "bytes_key", "bytes_value", "max_entries",
              "bytes_memlock", "frozen", "btf_id", "owner_prog_type", "owner_jited")


def test_prog_list_json_matches_bpftool(firewall, capsys) -> None:  # type: ignore[no-untyped-def]
    prog_id, _ = _ids(firewall)
    rc, out, err = run_cli(capsys, "prog", "list", "--json")
    assert rc == 0, err
    mine = {r["id"]: r for r in json.loads(out)}
    theirs = {r["id"]: r for r in bpftool("prog", "list")}
    assert prog_id in mine and prog_id in theirs
    m, t = mine[prog_id], theirs[prog_id]
    assert set(m) == set(t) - {"pids"}, (sorted(m), sorted(t))
    for key in PROG_STABLE:
        assert m.get(key) == t.get(key), key
    assert abs(m["loaded_at"] - t["loaded_at"]) <= 2
    assert m["type"] == "xdp" and m["name"] == "xdp_firewall" and m["map_ids"]


def test_prog_show_plain_matches_bpftool(firewall, capsys) -> None:  # type: ignore[no-untyped-def]
    prog_id, _ = _ids(firewall)
    rc, out, _ = run_cli(capsys, "prog", "show", str(prog_id))
    assert rc == 0
    theirs = bpftool_plain("prog", "show", "id", str(prog_id))
    # the loaded_at line may differ by the second it was rounded in
    drop = lambda text: [ln for ln in text.splitlines() if "loaded_at" not in ln]  # noqa: E731
    assert drop(out) == drop(theirs)
    for selector in (["id", str(prog_id)], ["name", "xdp_firewall"],
                     ["tag", firewall.programs["xdp_firewall"].handle.tag]):
        rc, out, _ = run_cli(capsys, "prog", "show", *selector, "-j")
        got = json.loads(out)
        got = got if isinstance(got, list) else [got]
        assert prog_id in [r["id"] for r in got], selector


def test_map_list_json_matches_bpftool(firewall, capsys) -> None:  # type: ignore[no-untyped-def]
    """bpftool 7.1's `map list` carries one map's btf_id over to the next maps it lists
    (it reuses its info buffer), so btf_id is compared with `bpftool map show id`."""
    _, map_ids = _ids(firewall)
    rc, out, err = run_cli(capsys, "map", "list", "--json")
    assert rc == 0, err
    mine = {r["id"]: r for r in json.loads(out)}
    theirs = {r["id"]: r for r in bpftool("map", "list")}
    for mid in map_ids:
        m, t = mine[mid], theirs[mid]
        assert set(m) - {"btf_id"} == set(t) - {"pids", "btf_id"}, (sorted(m), sorted(t))
        for key in MAP_STABLE:
            if key != "btf_id":
                assert m.get(key) == t.get(key), (mid, key)
        rc, out, _ = run_cli(capsys, "map", "show", str(mid), "-j")
        one = bpftool("map", "show", "id", str(mid))
        assert set(json.loads(out)) == set(one) - {"pids"}
        assert json.loads(out).get("btf_id") == one.get("btf_id")
        assert {k: v for k, v in json.loads(out).items() if k in MAP_STABLE} == \
            {k: v for k, v in one.items() if k in MAP_STABLE}
    names = {mine[mid]["name"] for mid in map_ids}
    assert {"fw_stats", "blocklist", "rate_table"} <= names
    rc, out, _ = run_cli(capsys, "map", "show", str(map_ids[0]))
    assert out == bpftool_plain("map", "show", "id", str(map_ids[0]))


def test_btf_list_matches_bpftool(firewall, capsys) -> None:  # type: ignore[no-untyped-def]
    prog_id, map_ids = _ids(firewall)
    rc, out, err = run_cli(capsys, "btf", "list", "--json")
    assert rc == 0, err
    mine = {r["id"]: r for r in json.loads(out)}
    theirs = {r["id"]: r for r in bpftool("btf", "list")}
    btf_id = firewall.programs["xdp_firewall"].handle.info(insns=False).btf_id
    assert btf_id and prog_id in mine[btf_id]["prog_ids"]
    with_btf = [m for m in map_ids if json.loads(run_cli(capsys, "map", "show", str(m),
                                                         "-j")[1]).get("btf_id") == btf_id]
    assert sorted(with_btf) == sorted(mine[btf_id]["map_ids"])
    for bid in (1, btf_id):  # vmlinux and ours (whose users no other test changes)
        m, t = mine[bid], theirs[bid]
        assert set(m) == set(t) - {"pids"}
        assert (m["size"], m["kernel"], m.get("name")) == (t["size"], t["kernel"], t.get("name"))
    assert sorted(mine[btf_id]["prog_ids"]) == sorted(theirs[btf_id]["prog_ids"])
    assert sorted(mine[btf_id]["map_ids"]) == sorted(theirs[btf_id]["map_ids"])
    rc, out, _ = run_cli(capsys, "btf", "list")
    assert f"{btf_id}: name <anon>  size " in out and "1: name [vmlinux]" in out


def test_dump_xlated_matches_bpftool(firewall, capsys) -> None:  # type: ignore[no-untyped-def]
    """Every instruction as bpftool prints it, but for the kernel-internal per-CPU move
    (old bpftools print it as a plain move) and the names of bpf-to-bpf calls (bpftool
    uses the JIT's symbol, pybpf the function's BTF name)."""
    prog_id, map_ids = _ids(firewall)
    rc, out, err = run_cli(capsys, "prog", "dump", "xlated", str(prog_id), "-j")
    assert rc == 0, err
    mine = json.loads(out)
    theirs = bpftool("prog", "dump", "xlated", "id", str(prog_id))
    assert len(mine) == len(theirs) > 100
    differ = 0
    for m, t in zip(mine, theirs):
        if m["disasm"] != t["disasm"]:
            differ += 1
            assert "__percpu" in m["disasm"] or m["disasm"].split("#")[0] == \
                t["disasm"].split("#")[0], (m, t)
        assert ("proto" in m) == ("proto" in t)
    assert differ < len(mine) // 10
    text = "\n".join(m["disasm"] for m in mine)
    assert f"map[id:{map_ids[0]}]" in text or any(f"map[id:{i}]" in text for i in map_ids)
    assert "call bpf_ktime_get_ns#" in text and "exit" in text
    assert "#over_rate_limit" in text  # the bpf-to-bpf call, named
    rc, plain, _ = run_cli(capsys, "prog", "dump", "xlated", "id", str(prog_id), "--opcodes")
    assert plain.startswith("int xdp_firewall(struct xdp_md *ctx):")
    assert "\n   0: (" in plain and "\n       " in plain


def test_dump_jited(firewall, capsys) -> None:  # type: ignore[no-untyped-def]
    prog_id, _ = _ids(firewall)
    info = firewall.programs["xdp_firewall"].handle.info()
    rc, out, err = run_cli(capsys, "prog", "dump", "jited", str(prog_id), "-j")
    assert rc == 0, err
    funcs = json.loads(out)
    assert [f["name"] for f in funcs] == ["xdp_firewall", "over_rate_limit"]
    assert bytes.fromhex("".join(f["bytes"] for f in funcs)) == info.jited_insns
    rc, out, _ = run_cli(capsys, "prog", "dump", "jited", str(prog_id), "--opcodes")
    assert out.startswith("; hex bytes, as asked") and "xdp_firewall:" in out
    if shutil.which("objdump") or shutil.which("llvm-objdump"):
        rc, out, _ = run_cli(capsys, "prog", "dump", "jited", str(prog_id))
        assert rc == 0 and "hex bytes" not in out
        if os.uname().machine == "x86_64":
            assert "ret" in out or "jmp" in out


def test_no_such_objects(capsys) -> None:  # type: ignore[no-untyped-def]
    for argv, what in ((["prog", "show", "4294967295"], "no program with id 4294967295"),
                       (["prog", "dump", "xlated", "4294967295"], "no program with id"),
                       (["prog", "show", "name", "no_such_prog_x"], "no program with name"),
                       (["prog", "show", "pinned", "/sys/fs/bpf/no/such"], "nothing is pinned"),
                       (["prog", "show", "abc"], "not a program id"),
                       (["prog", "show", "pinned", "/etc/passwd"], "not on a BPF file system"),
                       (["map", "show", "pinned", "/sys/fs/bpf"], "is a directory"),
                       (["prog", "show", "wrong", "x"], "choose the program"),
                       (["map", "show", "4294967295"], "no map with id 4294967295"),
                       (["map", "dump", "name", "no_such_map_x"], "no map with name")):
        rc, out, err = run_cli(capsys, *argv)
        assert rc == 1 and what in err, (argv, err)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_missing_privilege_names_the_capability() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to an unprivileged user")
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "--inh-caps=-all", sys.executable, "-m", "pybpf", "prog", "list"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HOME": "/tmp"})
    assert res.returncode == 1, res.stderr
    assert "CAP_SYS_ADMIN" in res.stderr and "Traceback" not in res.stderr
    assert "refused pybpf prog list" in res.stderr


def test_run_stats_shown_when_on(firewall, capsys) -> None:  # type: ignore[no-untyped-def]
    """With BPF_ENABLE_STATS on, run_time_ns and run_cnt appear (bpftool's keys), and
    the count is the runs made."""
    from pybpf.kernel import enable_stats
    prog = firewall.programs["xdp_firewall"].handle
    with enable_stats():
        before = prog.info(insns=False).run_cnt
        prog.test_run(bytes(64), repeat=7)
        rc, out, _ = run_cli(capsys, "prog", "show", str(prog.id), "-j")
        mine = json.loads(out)
        assert mine["run_cnt"] - before == 7 and mine["run_time_ns"] > 0
        theirs = bpftool("prog", "show", "id", str(prog.id))
        assert set(mine) == set(theirs) - {"pids"}
        assert mine["run_cnt"] == theirs["run_cnt"]
        rc, out, _ = run_cli(capsys, "prog", "show", str(prog.id))
        assert f" run_time_ns {mine['run_time_ns']} run_cnt {mine['run_cnt']}" in out
