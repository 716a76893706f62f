"""`pybpf run --pcap --workers N`: a capture split over processes by source address,
the VM's maps merged at the end, against the single-process run of the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.cli import main
from pybpf.objects.parallel import _ABSENT, lane, merge_percpu, merge_shared
from tests.conftest import kernel_available

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FIREWALL = str(EXAMPLES / "xdp_firewall.o")
TRAFFIC = str(EXAMPLES / "traffic.pcap")


def _run(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert main(["run", FIREWALL, "--pcap", TRAFFIC, "-j", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _entries(maps: dict, name: str) -> list[str]:
    return sorted(json.dumps(e, sort_keys=True) for e in maps.get(name, []))


@pytest.mark.parametrize("workers", [2, 3])
def test_split_run_matches_one_process(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       workers: int) -> None:
    one = _run(capsys, "--pcap-out", str(tmp_path / "one.pcap"))
    split = _run(capsys, "--workers", str(workers), "--pcap-out", str(tmp_path / "n.pcap"))
    assert split["packets"] == one["packets"] == 302
    assert split["verdicts"] == one["verdicts"]
    assert split["pcap_out"]["packets"] == one["pcap_out"]["packets"]
    # the passed packets, in capture order, byte for byte
    assert (tmp_path / "n.pcap").read_bytes() == (tmp_path / "one.pcap").read_bytes()
    # per-source state (the rate table): each source ran on one worker
    assert _entries(split["maps"], "rate_table") == _entries(one["maps"], "rate_table")
    # per-CPU counters: a slot per worker, the same sums
    sums = {e["key"]: e["sum"] for e in one["maps"]["fw_stats"]}
    assert {e["key"]: e["sum"] for e in split["maps"]["fw_stats"]} == sums
    used = {i for e in split["maps"]["fw_stats"] for i, v in enumerate(e["value"]) if v}
    assert len(used) > 1  # the work was shared


def test_lane_follows_the_source_address() -> None:
    eth = bytes(12) + b"\x08\x00"
    ip = bytearray(20)
    ip[12:16] = bytes([10, 0, 0, 1])
    a = eth + bytes(ip)
    ip[16:20] = bytes([10, 0, 0, 9])  # another destination: same source, same lane
    b = eth + bytes(ip)
    assert all(lane(a, n) == lane(b, n) for n in range(1, 9))
    vlan = bytes(12) + b"\x81\x00\x00\x05" + b"\x08\x00" + bytes(ip)
    assert lane(vlan, 7) == lane(a, 7)
    assert lane(b"\x01" * 6 + b"\x02" * 6 + b"\x88\xcc", 4) in range(4)


def test_merge_rules() -> None:
    zero, one, two = (n.to_bytes(8, "little") for n in (0, 1, 2))
    five = (5).to_bytes(8, "little")
    # one worker changed it: its value; several: the changes add up, word by word
    assert merge_shared(zero, [zero, five]) == five
    assert merge_shared(one, [two, five]) == (1 + 1 + 4).to_bytes(8, "little")
    assert merge_shared(_ABSENT, [two, five]) == (7).to_bytes(8, "little")
    assert merge_shared(_ABSENT, [_ABSENT, _ABSENT]) is _ABSENT
    assert merge_shared(one, [_ABSENT, one]) is _ABSENT  # deleted where it changed
    assert merge_shared(one, [_ABSENT, two]) == two
    wrap = (2**64 - 1).to_bytes(8, "little")
    assert merge_shared(zero, [wrap, one]) == zero  # words wrap at their size
    # per-CPU: worker w's CPU-0 value goes to slot w (mod the CPU count)
    assert merge_percpu(None, [[two, zero], [five, zero]], 2, 8) == [two, five]
    assert merge_percpu(None, [[two], [five], [one]], 1, 8) == [(8).to_bytes(8, "little")]
    assert merge_percpu([zero, zero], [_ABSENT, _ABSENT], 2, 8) is None


def test_workers_need_a_capture_and_a_sane_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", FIREWALL, "--data-in", "00" * 64, "--workers", "2"]) != 0
    assert "--workers" in capsys.readouterr().err
    assert main(["run", FIREWALL, "--pcap", TRAFFIC, "--workers", "100000"]) != 0
    assert "between 1 and 256" in capsys.readouterr().err


@pytest.mark.kernel
def test_split_run_in_the_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    if not kernel_available():
        pytest.skip("needs the kernel")
    split = _run(capsys, "--backend", "kernel", "--workers", "2")
    assert split["packets"] == 302
    assert sum(split["verdicts"].values()) == 302
    # the workers shared the kernel's maps: every packet was counted there
    stats = {e["key"]: e["sum"] for e in split["maps"]["fw_stats"]}
    assert sum(stats.values()) == 302  # one statistic a packet
