"""`pybpf bench maps` prints VM and kernel map operations per second with the ratio."""

from __future__ import annotations

import pytest

from pybpf.cli import main


def test_bench_maps_vm_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "maps", "--no-kernel", "--ops", "200", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    table, helpers = out.split("\n\n")
    assert "VM ops/s" in table and table.count("lookup") == 2 and table.count("update") == 2
    # program helper calls, native against the callback: both timed, the ratio given
    rows = [ln.split() for ln in helpers.splitlines() if ln.endswith("x")]
    assert [r[:2] for r in rows] == [["array", "lookup"], ["array", "update"],
                                     ["hash", "lookup"], ["hash", "update"],
                                     ["hash", "insert+delete"],
                                     ["lru_hash", "lookup"], ["lru_hash", "update"],
                                     ["lru_hash", "insert+delete"], ["lpm_trie", "lookup"],
                                     ["lpm_trie", "update"], ["lpm_trie", "insert+delete"]]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)


@pytest.mark.kernel
def test_bench_maps_against_the_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "maps", "--ops", "200", "--repeat", "1"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0]
    lines = [ln for ln in table.splitlines() if ln.endswith("x")]
    assert len(lines) == 4  # hash/array x lookup/update, each with a ratio
