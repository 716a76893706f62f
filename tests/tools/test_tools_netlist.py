"""`pybpf net list` and `pybpf link list|show|detach`: what is attached, in bpftool's
JSON, compared with bpftool's own output where it is installed (inside namespaces the
test makes)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import pybpf
from pybpf.kernel import Link
from tests.conftest import run_cli
from tests.kernel.netenv import VethPair, need_netns

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.kernel


@pytest.fixture
def attached():  # type: ignore[no-untyped-def]
    """Namespace A with the firewall on `pa` (XDP link, generic), the classifier on
    `pa` ingress (tcx) and egress (clsact + cls_bpf)."""
    need_netns()
    v = VethPair("nl")
    fw = v.in_a(lambda: pybpf.load(EXAMPLES / "xdp_firewall.o").instantiate("kernel"))
    tc = v.in_a(lambda: pybpf.load(EXAMPLES / "tc_classifier.o").instantiate("kernel"))
    try:
        links = {
            "xdp": v.in_a(lambda: fw.programs["xdp_firewall"].attach("pa", mode="skb")),
            "tcx": v.in_a(lambda: tc.programs["classify"].attach("pa")),
            "clsact": v.in_a(lambda: tc.programs["classify"].attach_tc("pa", "egress",
                                                                        use_link=False)),
        }
        yield v, fw, tc, links
    finally:
        fw.close()
        tc.close()
        v.close()


def _bpftool(v: VethPair, *args: str) -> object:
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    out = subprocess.run(["ip", "netns", "exec", v.ns_a, "bpftool", "-j", *args],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_net_list_matches_bpftool(attached, capsys) -> None:  # type: ignore[no-untyped-def]
    v, fw, tc, links = attached
    rc, out, err = v.in_a(lambda: run_cli(capsys, "net", "list", "--json"))
    assert rc == 0, err
    ours = json.loads(out)
    fw_id, tc_id = fw.programs["xdp_firewall"].handle.id, tc.programs["classify"].handle.id
    assert ours == [{
        "xdp": [{"devname": "pa", "ifindex": links["xdp"].ifindex, "mode": "generic",
                 "id": fw_id}],
        "tc": [{"devname": "pa", "ifindex": links["tcx"].ifindex, "kind": "tcx/ingress",
                "name": "classify", "prog_id": tc_id, "link_id": links["tcx"].id},
               {"devname": "pa", "ifindex": links["tcx"].ifindex, "kind": "clsact/egress",
                "name": "classify", "id": tc_id}],
        "flow_dissector": []}]
    theirs = _bpftool(v, "net", "list")
    assert isinstance(theirs, list) and len(theirs) == 1
    bt = theirs[0]
    # bpftool before 7.3 does not list tcx: compare what it knows
    knows_tcx = any(str(e.get("kind", "")).startswith("tcx/") for e in bt["tc"])
    mine = ours[0]
    assert mine["xdp"] == bt["xdp"]
    assert [e for e in mine["tc"] if knows_tcx or not e["kind"].startswith("tcx/")] == bt["tc"]
    assert mine["flow_dissector"] == bt["flow_dissector"]
    # the plain layout, and one device
    rc, out, _ = v.in_a(lambda: run_cli(capsys, "net", "list", "pa"))
    assert rc == 0 and f"pa({links['xdp'].ifindex}) generic id {fw_id}" in out
    assert "clsact/egress classify id" in out and "tcx/ingress classify prog_id" in out
    rc, _, err = v.in_a(lambda: run_cli(capsys, "net", "list", "nosuch0"))
    assert rc == 1 and "nosuch0" in err


def test_link_list_show_detach(attached, capsys) -> None:  # type: ignore[no-untyped-def]
    v, fw, tc, links = attached
    xdp, tcx = links["xdp"], links["tcx"]
    rc, out, _ = run_cli(capsys, "link", "list", "--json")
    assert rc == 0
    by_id = {r["id"]: r for r in json.loads(out)}
    assert by_id[xdp.id]["type"] == "xdp" and by_id[xdp.id]["prog_id"] == xdp.prog_id
    assert by_id[tcx.id]["type"] == "tcx" and by_id[tcx.id]["attach_type"] == "tcx_ingress"
    assert by_id[tcx.id]["ifindex"] == tcx.ifindex
    for link in (xdp, tcx):
        rc, out, _ = run_cli(capsys, "link", "show", str(link.id), "--json")
        mine = json.loads(out)
        theirs = _bpftool(v, "link", "show", "id", str(link.id))
        assert isinstance(theirs, dict)
        for key, value in theirs.items():  # what bpftool prints, pybpf prints the same
            if isinstance(value, int) and key == "type":
                continue  # an old bpftool prints an unknown link type as a number
            assert mine[key] == value, key
    rc, out, _ = run_cli(capsys, "link", "show", str(xdp.id))
    assert out.startswith(f"{xdp.id}: xdp  prog {xdp.prog_id}")
    # detach by id: the XDP program is gone from the interface, the fd stays
    rc, out, _ = run_cli(capsys, "link", "detach", str(xdp.id))
    assert rc == 0 and f"detached link {xdp.id}" in out
    assert v.in_a(lambda: pybpf.kernel.xdp_state(xdp.ifindex)).mode == "none"
    assert not xdp.closed and xdp.info().target.endswith("(detached)")
    rc, _, err = run_cli(capsys, "link", "show", "4294967295")
    assert rc == 1 and "4294967295" in err
    rc, _, err = run_cli(capsys, "link", "show", "abc")
    assert rc == 2 and "not a link id" in err
    assert isinstance(xdp, Link)


def test_link_show_tracing_kinds(capsys) -> None:  # type: ignore[no-untyped-def]
    """A tracepoint's perf link shows bpftool's event_type/tp_name; a kind the kernel
    cannot force-detach is refused by name, and stays attached."""
    import os
    spec = pybpf.load(EXAMPLES / "tp_syscalls.o")
    spec.set_global("target_tgid", os.getpid())
    with spec.instantiate("kernel") as obj:
        link = obj.programs["count_sys_enter"].attach()
        rc, out, _ = run_cli(capsys, "link", "show", str(link.id), "-j")
        assert rc == 0 and json.loads(out) == {
            "id": link.id, "type": "perf_event", "prog_id": link.prog_id,
            "event_type": "tracepoint", "tp_name": "sys_enter"}
        rc, _, err = run_cli(capsys, "link", "detach", str(link.id))
        assert rc == 1 and "cannot be detached by id" in err
        assert link.info().id == link.id
        if shutil.which("bpftool"):
            theirs = json.loads(subprocess.run(["bpftool", "-j", "link", "show", "id",
                                                str(link.id)], capture_output=True,
                                               text=True, check=True).stdout)
            mine = json.loads(run_cli(capsys, "link", "show", str(link.id), "-j")[1])
            for key in ("id", "type", "prog_id"):
                assert mine[key] == theirs[key]
