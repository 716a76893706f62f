"""Plain-words hints for the common refusals: what to add to the source."""

from __future__ import annotations

import re

_HINTS: tuple[tuple[str, str], ...] = (
    (r"^invalid access to packet",
     "check the packet length first: `if (data + OFFSET + SIZE > data_end) return ...;` "
     "before reading"),
    (r"invalid mem access '\w+_or_null'",
     "the helper may return NULL: add `if (!ptr) return ...;` before using the pointer"),
    (r"^R\d+ !read_ok",
     "a register is read before anything was written to it (an uninitialised variable "
     "or a missing helper argument)"),
    (r"^invalid (read from|indirect read from) stack|^invalid read from stack",
     "initialise the stack variable (or the whole struct, e.g. with `= {}`/memset) "
     "before reading it or passing it to a helper"),
    (r"min value is negative|unbounded memory access|max value is outside|"
     r"min value is outside",
     "bound the index first: `if (idx >= SIZE) return ...;` (unsigned) or `idx &= MASK`"),
    (r"^invalid access to map value",
     "the access goes past the map's value_size: check the offset against the size"),
    (r"^Unreleased reference",
     "release what you acquired on every path (bpf_sk_release, bpf_ringbuf_submit or "
     "bpf_ringbuf_discard) before returning"),
    (r"^At program exit the register R0",
     "return one of the values this program type allows"),
    (r"type=\S+ expected=",
     "a helper argument has the wrong kind: pass a pointer of the expected type "
     "(stack, map value, ctx, ...) not a plain number"),
    (r"^infinite loop detected|^BPF program is too large",
     "make the loop bounded in a way the verifier can see (a constant trip count, "
     "bpf_loop(), or may_goto)"),
    (r"leaks addr",
     "a pointer value is stored or returned as a number; this needs CAP_PERFMON"),
    (r"pointer arithmetic on .* prohibited, null-check it first",
     "check the pointer against NULL before adding offsets to it"),
    (r"^cannot call GPL-restricted function",
     "declare a GPL-compatible license: `char LICENSE[] SEC(\"license\") = \"GPL\";`"),
)


def hint_for(error: str | None) -> str | None:
    if not error:
        return None
    for pattern, hint in _HINTS:
        if re.search(pattern, error):
            return hint
    return None
