"""Log2 histograms: the rows and bars of BCC's print_log2_hist, and buckets that agree
with the BPF side's log2_bucket (examples/hist.h) on the VM and in the kernel."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

import pybpf
from pybpf.tools.hist import (
    bucket_range,
    buckets_from_map,
    format_log2_hist,
    hist_json,
    log2_bucket,
    log2_hist_lines,
    stars,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_known_histogram_exact_text() -> None:
    """A BCC histogram, written out by hand from its format: header of 5 spaces, the
    type in 19 columns, ' : count     distribution'; rows '%10d -> %-10d : %-8d |%-40s|'."""
    text = format_log2_hist([3, 30, 0, 15], "value")
    assert text == (
        "     value               : count     distribution\n"
        "         0 -> 1          : 3        |****                                    |\n"
        "         2 -> 3          : 30       |****************************************|\n"
        "         4 -> 7          : 0        |                                        |\n"
        "         8 -> 15         : 15       |********************                    |\n")


def test_leading_empty_buckets_skipped_trailing_ones_dropped() -> None:
    vals = [0, 0, 0, 7, 1] + [0] * 59
    lines = log2_hist_lines(vals, "usecs")
    assert lines == [
        "     usecs               : count     distribution",
        "         8 -> 15         : 7        |****************************************|",
        "        16 -> 31         : 1        |*****                                   |"]
    full = log2_hist_lines(vals, "usecs", strip_leading_zero=False)
    assert [ln.split(":")[0].strip() for ln in full[1:]] == \
        ["0 -> 1", "2 -> 3", "4 -> 7", "8 -> 15", "16 -> 31"]
    assert log2_hist_lines([0] * 64) == [] and format_log2_hist([]) == ""


def test_wide_format_past_bucket_32() -> None:
    """Once a value of 2^32 or more is counted BCC widens the columns to 20 digits and
    halves the bar to 20 stars."""
    vals = [0] * 64
    vals[1], vals[32] = 2, 4
    lines = log2_hist_lines(vals, "nsecs")
    assert lines[0] == "               nsecs                         : count     distribution"
    assert lines[1] == ("                   2 -> 3                    : 2        "
                        "|**********          |")
    assert lines[-1] == ("          4294967296 -> 8589934591           : 4        "
                         "|********************|")
    vals[32], vals[31] = 0, 4  # bucket 31 is BCC's slot 32: still narrow
    assert log2_hist_lines(vals)[-1].startswith("2147483648 -> 4294967295 : 4 ")


def _reference_stars(val: int, val_max: int, width: int) -> str:
    """The bar as BCC computes it: add stars while the count so far stays at most
    width * val / val_max - 1 (float), up to width."""
    text, i = "", 0
    while not (i > (width * val / val_max) - 1 or i > width - 1):
        text += "*"
        i += 1
    return text


@pytest.mark.parametrize("seed", range(5))
def test_bars_match_bcc_arithmetic(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        val_max = rng.randint(1, 10**9)
        val = rng.randint(0, val_max)
        for width in (40, 20):
            assert stars(val, val_max, width) == _reference_stars(val, val_max, width)
    assert stars(5, 4, 40) == "*" * 39 + "+"


def test_buckets() -> None:
    assert [log2_bucket(v) for v in (0, 1, 2, 3, 4, 7, 8, 1023, 1024)] == \
        [0, 0, 1, 1, 2, 2, 3, 9, 10]
    assert log2_bucket(2**64 - 1) == 63
    for k in range(64):
        low, high = bucket_range(k)
        assert log2_bucket(high) == k and (k == 0 or log2_bucket(low) == k)
        if k:
            assert low == 2**k and high == 2 ** (k + 1) - 1 and math.log2(low) == k
    assert hist_json([0, 2, 0, 1]) == [{"bucket": 1, "low": 2, "high": 3, "count": 2},
                                       {"bucket": 3, "low": 8, "high": 15, "count": 1}]
    with pytest.raises(ValueError):
        log2_bucket(-1)


def _size_hist(backend: str, lengths: list[int]) -> list[int]:
    """size_hist after the socket filter example ran on IPv4/UDP frames of `lengths`."""
    spec = pybpf.load(EXAMPLES / "sockfilter_proto.o")
    with spec.instantiate(backend) as obj:
        prog = obj.programs["count_by_proto"]
        for n in lengths:
            frame = bytearray(n)
            frame[12:14] = b"\x08\x00"
            frame[14] = 0x45
            frame[14 + 9] = 17
            prog.test_run(bytes(frame))
        return buckets_from_map(obj.maps["size_hist"])


# every bucket edge the kernel's test_run can reach (it takes up to a page less its
# head and tail room)
LENGTHS = [34, 35, 45, 46, 47, 77, 78, 79, 141, 142, 143, 269, 270, 525, 526, 1037, 1038,
           1500, 2061, 2062, 3000]


def test_bpf_log2_bucket_on_the_vm() -> None:
    """The C log2_bucket (run on the VM through the socket filter, skb->len = frame - 14)
    puts every length where the Python log2_bucket does."""
    expected = [0] * 64
    for n in LENGTHS:
        expected[log2_bucket(n - 14)] += 1
    assert _size_hist("vm", LENGTHS) == expected


@pytest.mark.kernel
def test_bpf_log2_bucket_in_the_kernel() -> None:
    """... and the kernel agrees with the VM on the same frames."""
    assert _size_hist("kernel", LENGTHS) == _size_hist("vm", LENGTHS)
