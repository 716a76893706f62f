"""Log2 histograms as BCC prints them (`BPF.Table.print_log2_hist`).

The BPF side (examples/hist.h `log2_bucket`) counts value v in bucket
floor(log2(v)) (0 for v = 0), so bucket k holds 2^k .. 2^(k+1) - 1 and bucket 0 also
holds 0. BCC's own buckets are one higher (its `bpf_log2l` adds 1 and slot 0 is
never used); the rows printed are the same:

         value               : count     distribution
             0 -> 1          : 3        |****                                    |
             2 -> 3          : 30       |****************************************|

The header is the value type left-aligned in 19 columns after 5 spaces; each row is
`%10d -> %-10d : %-8d |stars|` with 40 star columns, a bar of floor(40 * count / max)
stars. When a bucket past 32 is used the columns widen to 20 digits and the bar to 20
stars. Buckets after the last non-empty one are not printed; leading empty buckets
are skipped unless `strip_leading_zero` is False.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

STARS_MAX = 40
BUCKETS = 64


def log2_bucket(value: int) -> int:
    """The bucket of `value`, as examples/hist.h computes it: floor(log2(v)), 0 for 0."""
    if value < 0:
        raise ValueError("log2 histograms count non-negative values")
    return max(value.bit_length() - 1, 0)


def bucket_range(bucket: int) -> tuple[int, int]:
    """The values bucket k counts, as printed: (2^k, 2^(k+1) - 1), and (0, 1) for k = 0."""
    low, high = 1 << bucket, (1 << (bucket + 1)) - 1
    return (0, 1) if bucket == 0 else (low, high)


def stars(count: int, count_max: int, width: int) -> str:
    """BCC's bar: floor(width * count / count_max) stars, at most `width`, the last
    replaced by '+' if count exceeds count_max."""
    if count_max <= 0:
        return ""
    n = min(width, (width * count) // count_max) if count > 0 else 0
    text = "*" * n
    if count > count_max:
        text = text[:-1] + "+"
    return text


def log2_hist_lines(buckets: Sequence[int], val_type: str = "value", *,
                    strip_leading_zero: bool = True) -> list[str]:
    """The lines BCC's print_log2_hist prints for these bucket counts (bucket k as in
    log2_bucket); no lines when every bucket is empty."""
    counts = list(buckets)
    used = [i for i, c in enumerate(counts) if c > 0]
    if not used:
        return []
    idx_max = used[-1] + 1  # in BCC's numbering
    count_max = max(counts)
    if idx_max <= 32:
        header = f"     {val_type:<19} : count     distribution"
        width, bar = 10, STARS_MAX
    else:
        header = f"               {val_type:<29} : count     distribution"
        width, bar = 20, STARS_MAX // 2
    lines = [header]
    skipping = strip_leading_zero
    for k in range(idx_max):
        count = counts[k]
        if skipping and not count:
            continue
        skipping = False
        low, high = bucket_range(k)
        lines.append(f"{low:>{width}} -> {high:<{width}} : {count:<8} "
                     f"|{stars(count, count_max, bar):<{bar}}|")
    return lines


def format_log2_hist(buckets: Sequence[int], val_type: str = "value", *,
                     strip_leading_zero: bool = True) -> str:
    """log2_hist_lines joined, with a final newline ('' for an empty histogram)."""
    lines = log2_hist_lines(buckets, val_type, strip_leading_zero=strip_leading_zero)
    return "".join(line + "\n" for line in lines)


def hist_json(buckets: Sequence[int]) -> list[dict[str, int]]:
    """The non-empty buckets as [{"low", "high", "count"}] for --json output."""
    out = []
    for k, count in enumerate(buckets):
        if count:
            low, high = bucket_range(k)
            out.append({"bucket": k, "low": low, "high": high, "count": int(count)})
    return out


class _ArrayMap(Protocol):
    """What buckets_from_map reads: values by their 4-byte key (a VM or kernel map)."""

    def __getitem__(self, key: bytes, /) -> Any: ...


def buckets_from_map(m: _ArrayMap, n: int = BUCKETS) -> list[int]:
    """The counts of an array map of `n` __u64 buckets (VM or kernel map; per-CPU
    values are summed)."""
    out = []
    for i in range(n):
        try:
            raw = m[i.to_bytes(4, "little")]
        except (KeyError, IndexError):
            out.append(0)
            continue
        vals = raw if isinstance(raw, list) else [raw]
        out.append(sum(int.from_bytes(v[:8], "little") for v in vals))
    return out
