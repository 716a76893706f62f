"""`pybpf attach` end to end, as a user runs it: the XDP firewall (examples/xdp_firewall.o)
attached to a veth in a network namespace the test makes, traffic sent from the peer
namespace, the counters it prints compared with what was sent; Ctrl-C and SIGTERM
detach; --pin leaves the link attached (and the test removes it); bad targets are one
line and a non-zero exit. Nothing is left behind (tests.kernel.test_kernel_netattach's
`nothing_left`, plus the pins these tests make)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from pybpf.kernel import netlink
from tests.kernel.netenv import VethPair, make_cgroup, remove_cgroup
from tests.kernel.test_kernel_netattach import nothing_left  # noqa: F401 - the fixture

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
FIREWALL = str(ROOT / "examples" / "xdp_firewall.o")
TP_SYSCALLS = str(ROOT / "examples" / "tp_syscalls.o")
EXAMPLES = ROOT / "examples"
PYBPF = [sys.executable, "-m", "pybpf"]


@pytest.fixture
def veth(nothing_left: None) -> Iterator[VethPair]:  # noqa: F811 - the imported fixture
    pair = VethPair("cli")
    try:
        yield pair
    finally:
        pair.close()


def _start(veth: VethPair, *args: str) -> subprocess.Popen[str]:
    """`pybpf attach ...` run in namespace A; returns once it says it attached."""
    # SIGINT back to its default: a suite started in the background (`cmd &`) inherits it
    # ignored, and Python then never installs its KeyboardInterrupt handler
    p = subprocess.Popen(["ip", "netns", "exec", veth.ns_a, *PYBPF, "attach", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = p.stdout.readline() if p.stdout else ""
    if "attached" not in first:
        out, err = p.communicate(timeout=60)
        pytest.fail(f"pybpf attach did not attach: {first}{out}{err}")
    return p


def _xdp_mode(veth: VethPair) -> str:
    return veth.in_a(lambda: netlink.interface(socket.if_nametoindex("pa")).xdp.mode)


def _last_table(out: str, name: str) -> dict[str, str]:
    """KEY -> VALUE of the last table printed for map `name`."""
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"{name} (")]
    assert starts, f"no {name} table in:\n{out}"
    rows = {}
    for line in lines[starts[-1] + 2:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells[1]
    return rows


def test_firewall_counters_printed_live(veth: VethPair) -> None:
    """Default limit 100 packets per second per source: of 150 datagrams sent at once,
    100 pass and 50 are dropped by the rate limit; the frames say so, then it detaches."""
    p = _start(veth, FIREWALL, "xdp", "pa", "--mode", "skb", "--duration", "3",
               "--interval", "1")
    try:
        assert _xdp_mode(veth) == "skb"
        veth.udp_b_to_a(150, receive=False)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    # a frame a second (fewer if the machine is too slow to keep up)
    assert 1 <= out.count("xdp_firewall.o: xdp_firewall on xdp pa (skb mode)") <= 3
    stats = _last_table(out, "fw_stats")
    assert stats == {"0": "100", "1": "0", "2": "50", "3": "0", "4": "0", "5": "0"}
    assert "rate_limit_pps  100" in out
    assert out.rstrip().endswith("detached xdp_firewall from xdp pa")
    assert _xdp_mode(veth) == "none"


def test_firewall_json_lines(veth: VethPair) -> None:
    p = _start(veth, FIREWALL, "--json", "xdp", "pa", "--duration", "2")
    veth.udp_b_to_a(30, receive=False)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1] == {"final": True, "detached": True, "pinned": None}
    stats = {e["key"]: e["value"] for e in lines[-2]["maps"]["fw_stats"]}
    assert stats == {0: 30, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    assert lines[-2]["maps"][".rodata"]["rate_limit_pps"] == 100
    assert _xdp_mode(veth) == "none"


def _json_run(p: subprocess.Popen[str]) -> list[dict[str, Any]]:
    """The JSON lines after the first ("attached", read by _start): one per frame, then
    the final one."""
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["final"] is True and lines[-1]["detached"] is True
    return lines


def test_blocklist_filled_with_map(veth: VethPair) -> None:
    """--map fills the blocklist before attaching: the peer's datagrams are dropped."""
    entry = '[{"key": {"prefixlen": 32, "addr": "10.211.0.2"}, "value": 7}]'
    p = _start(veth, FIREWALL, "--json", "xdp", "pa", "--duration", "2",
               "--map", f"blocklist={entry}")
    assert veth.udp_b_to_a(25) == 0
    lines = _json_run(p)
    stats = {e["key"]: e["value"] for e in lines[-2]["maps"]["fw_stats"]}
    assert stats == {0: 0, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0}
    assert len(lines[-2]["maps"]["blocklist"]) == 1


def test_printk_messages_with_set(veth: VethPair) -> None:
    """rodata_config prints a line per match when its .rodata `debug` is set: the
    messages come from a trace instance of pybpf's own, whoever ran the program."""
    p = _start(veth, str(EXAMPLES / "rodata_config.o"), "--set", "debug=true", "--json",
               "xdp", "pa", "--duration", "2", "--set", "max_matches=3")
    assert veth.udp_b_to_a(5, port=53) == 2  # the first 3 matches dropped
    lines = _json_run(p)
    last = lines[-2]
    assert last["maps"][".rodata"]["debug"] is True and last["maps"][".data"]["max_matches"] == 3
    printk = [m for line in lines[:-1] for m in line["outputs"]["bpf_printk"]["new"]]
    texts = [m.split("] ", 1)[1] for m in printk]
    assert texts == [f"rodata_config: match {i} from ad30002 (v1)" for i in range(5)]


def test_tc_classifier_counts(veth: VethPair) -> None:
    p = _start(veth, str(EXAMPLES / "tc_classifier.o"), "--json", "tc", "pa", "--direction",
               "ingress", "--duration", "2")
    assert veth.udp_b_to_a(20) == 20
    lines = _json_run(p)
    slots = {e["key"]: e["value"]["packets"] for e in lines[-2]["maps"]["class_stats"]}
    assert slots == {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 20, 6: 0}


def test_cgroup_counts_one_process(nothing_left: None) -> None:  # noqa: F811
    cg = make_cgroup()
    try:
        p = subprocess.Popen([*PYBPF, "attach", str(EXAMPLES / "cgroup_skb_count.o"),
                              "--program", "count_egress", "--json", "cgroup", cg,
                              "--duration", "2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT)
        first = json.loads(p.stdout.readline() if p.stdout else "{}")
        assert first["attached"]["kind"] == "cgroup"
        sender = ("import socket\n"
                  "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  "for i in range(10): s.sendto(bytes(50), ('127.0.0.1', 9))\n")

        def into_cgroup() -> None:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

        subprocess.run([sys.executable, "-c", sender], check=True, preexec_fn=into_cgroup)
        lines = _json_run(p)
    finally:
        remove_cgroup(cg)
    stats = {e["key"]: e["value"] for e in lines[-2]["maps"]["cg_stats"]}
    assert stats[1] == {"packets": 10, "bytes": 10 * (50 + 28)}
    assert stats[0]["packets"] == 0


def _attach_json(*args: str, then: Any) -> list[dict[str, Any]]:
    """`pybpf attach --json ARGS` in this namespace; `then()` runs once it attached."""
    p = subprocess.Popen([*PYBPF, "attach", *args, "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = json.loads(p.stdout.readline() if p.stdout else "{}")
        assert "attached" in first, p.stderr.read() if p.stderr else ""
        then()
        return [first] + _json_run(p)
    finally:
        if p.poll() is None:
            p.kill()


def test_uprobe_on_a_library_function() -> None:
    """uprobe libc.so.6:getpid (a bare library name, found as libbpf finds it): a child
    calling getpid() 20 times is counted in the program's map."""
    script = "import os\nfor _ in range(20): os.getpid()\n"
    lines = _attach_json(str(ROOT / "tests/progtypes/data/uprobe/uprobe.o"), "-p",
                         "probe_entry", "uprobe", "libc.so.6:getpid", "--duration", "1.5",
                         then=lambda: subprocess.run([sys.executable, "-c", script],
                                                     check=True))
    assert lines[0]["attached"]["target"] == "uprobe /lib/x86_64-linux-gnu/libc.so.6:getpid" \
        or lines[0]["attached"]["target"].endswith("libc.so.6:getpid")
    hits = {e["key"]: e["value"]["hits"] for e in lines[-2]["maps"]["records"]}
    assert hits[0] >= 20 and hits[1] == 0  # the uretprobe was not attached


def test_raw_tracepoint_sees_an_exec() -> None:
    lines = _attach_json(str(ROOT / "tests/progtypes/data/tracing/helpers.o"), "-p",
                         "task_info", "raw_tracepoint", "sched_process_exec",
                         "--duration", "1.5",
                         then=lambda: subprocess.run(["/bin/true"], check=True))
    io = lines[-2]["maps"][".bss"]["io"]
    assert io["vals"][0] >> 32 > 0  # a process's pid_tgid
    assert io["ret"] == 0 and io["vals"][2] == 0  # bpf_get_current_comm succeeded


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_detaches(veth: VethPair, sig: int) -> None:
    p = _start(veth, FIREWALL, "xdp", "pa")
    try:
        assert _xdp_mode(veth) == "skb"
        veth.udp_b_to_a(5, receive=False)
        time.sleep(0.3)
        # ip netns exec runs pybpf as its own child: signal pybpf itself
        kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                              text=True).stdout.split()
        os.kill(int(kids[0]) if kids else p.pid, sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "Traceback" not in err
    assert _last_table(out, "fw_stats")["0"] == "5"
    assert out.rstrip().endswith("detached xdp_firewall from xdp pa")
    assert _xdp_mode(veth) == "none"


def test_pin_leaves_the_link_attached() -> None:
    from pybpf.kernel import Link, is_bpffs
    if not is_bpffs("/sys/fs/bpf"):
        pytest.skip("no bpffs at /sys/fs/bpf")
    pin = f"/sys/fs/bpf/pybpf-attach-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    r = subprocess.run([*PYBPF, "attach", TP_SYSCALLS, "--program", "count_sys_enter",
                        "tracepoint", "raw_syscalls:sys_enter", "--pin", pin,
                        "--duration", "0.5"], capture_output=True, text=True, timeout=120)
    try:
        assert r.returncode == 0, r.stderr
        assert f"pinned at {pin}" in r.stdout and "left attached" in r.stdout
        link = Link.from_pin(pin)
        with link:
            info = link.info()
            assert info.kind == "perf_event" and "sys_enter" in info.target
    finally:
        if os.path.exists(pin):
            os.unlink(pin)
    assert not os.path.exists(pin)


@pytest.mark.parametrize("args,message", [
    ([FIREWALL, "xdp", "nosuchdev0"], "no such network interface: nosuchdev0"),
    ([FIREWALL, "tc", "nosuchdev0"], "no such network interface: nosuchdev0"),
    ([FIREWALL, "cgroup", "/sys/fs/cgroup/pybpf-no-such"], "no such cgroup"),
    ([TP_SYSCALLS, "tracepoint", "nosuch:event"], "no tracepoint nosuch:event"),
    ([TP_SYSCALLS, "tracepoint", "sys_enter"], "expected CATEGORY:NAME"),
    ([TP_SYSCALLS, "uprobe", "/no/such/bin:main"], "no such file /no/such/bin"),
    (["/no/such.o", "xdp", "lo"], "no such file"),
    ([__file__, "xdp", "lo"], "not an ELF object"),
    ([FIREWALL, "--program", "nope", "xdp", "lo"], "no program 'nope'"),
    ([TP_SYSCALLS, "xdp", "lo"], "has no program for xdp"),
    ([TP_SYSCALLS, "tracepoint", "raw_syscalls:sys_enter"], "choose one with --program"),
    ([FIREWALL, "--program", "xdp_firewall", "tracepoint", "a:b"], "no tracepoint a:b"),
    ([TP_SYSCALLS, "--program", "count_sys_enter", "xdp", "lo"], "does not attach to xdp"),
    ([TP_SYSCALLS, "-p", "count_sys_enter", "tracepoint", "raw_syscalls:sys_enter", "--pin",
      "/tmp/pybpf-not-bpffs"], "/tmp is not on a BPF filesystem"),
    ([TP_SYSCALLS, "-p", "count_sys_enter", "tracepoint", "raw_syscalls:sys_enter", "--pin",
      "/sys/fs/bpf/pybpf-no-dir/x"], "no such directory /sys/fs/bpf/pybpf-no-dir"),
    ([FIREWALL, "--set", "nosuchvar=1", "xdp", "lo"], "nosuchvar"),
    ([FIREWALL, "xdp", "lo", "--map", "blocklist=[1"], "--map blocklist"),
])
def test_bad_targets_are_one_line(args: list[str], message: str) -> None:
    r = subprocess.run([*PYBPF, "attach", *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_view_formats_maps_and_outputs() -> None:
    from pybpf.tools.attachview import MapView, OutputStats, format_view
    views = [MapView("counts", "percpu_array", [(0, 5), (1, 7)], percpu=True),
             MapView(".bss", "array", [("hits", 3)]),
             MapView("flows", "hash", [({"a": 1}, {"n": 2})], more=4)]
    ring = OutputStats("events", "ringbuf", 2, None)
    ring.last.extend([{"pid": 1}, b"\x01\x02"])
    prev: dict[tuple[str, str], Any] = {("counts", "0"): 2}
    text = format_view(views, [ring], prev)
    assert "counts (percpu_array, summed over CPUs)" in text
    lines = text.splitlines()
    assert lines[1].split() == ["KEY", "VALUE", "SINCE", "LAST"]
    assert lines[2].split() == ["0", "5", "+3"] and lines[3].split() == ["1", "7"]
    assert prev[("counts", "1")] == 7
    assert "hits      3" in text and "... and 4 more" in text
    assert "{a: 1}  {n: 2}" in text
    assert "events (ring buffer): 2 records, the last 2:\n  {pid: 1}\n  0102" in text
