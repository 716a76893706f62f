"""Plain-words hints for the common refusals: one line saying what to add to the source,
with the figures of the error (offsets, sizes, ranges) filled in where the error line
carries them. `hint_for(error, more)` reads the first error line and the lines the
kernel prints after it (e.g. "R1 max value is outside of the allowed memory range")."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_NULLABLE = {
    "map_value_or_null": "the map lookup",
    "ringbuf_mem_or_null": "bpf_ringbuf_reserve()",
    "sock_or_null": "the socket lookup",
    "sock_common_or_null": "the socket lookup",
    "tcp_sock_or_null": "bpf_tcp_sock()",
    "mem_or_null": "the helper",
}


def _packet(m: re.Match[str], more: str) -> str:
    need = int(m["off"]) + int(m["size"])
    have = int(m["r"])
    proven = (f"only {have} byte{'s' if have != 1 else ''} are checked" if have
              else "no length check covers it")
    # id=0: the pointer is the packet's start plus a constant, so the check is on `data`
    if m["id"] == "0":
        return (f"check the packet length before this read: it reads the packet's first "
                f"{need} bytes and {proven}; add `if (data + {need} > data_end) return ...;` "
                "first")
    return (f"check the packet length before this read: it reads {need} bytes from the "
            f"pointer in R{m['reg']} and {proven}; add "
            f"`if ((void *)ptr + {need} > data_end) return ...;` first")


def _null(m: re.Match[str], more: str) -> str:
    what = _NULLABLE.get(m["type"], "the helper")
    return (f"{what} may return NULL: add `if (!ptr) return ...;` before using the "
            "pointer")


def _map_value(m: re.Match[str], more: str) -> str:
    vs, off, size = int(m["vs"]), int(m["off"]), int(m["size"])
    if "max value is outside" in more or "min value is" in more or "unbounded" in more:
        n = vs // size if size and vs % size == 0 else None
        var = "idx" if size > 1 else "off"
        bound = f"`if ({var} >= {n}) return ...;`" if n else f"`if ({var} > MAX) return ...;`"
        if n and n & (n - 1) == 0:
            bound += f" or `{var} &= {n - 1}`"
        return (f"bound the index before it is used as an offset: it can reach offset "
                f"{off} of the {vs}-byte map value; add {bound} (an unsigned compare)")
    return (f"the access reads {size} bytes at offset {off} of a {vs}-byte map value: keep "
            "offsets within the value's size")


def _var_off(m: re.Match[str], more: str) -> str:
    return ("bound the variable offset first: compare it with the object's size "
            "(`if (idx >= N) return ...;`, with an unsigned idx) or mask it (`idx &= N - 1`)")


def _uninit_stack(m: re.Match[str], more: str) -> str:
    size = m.groupdict().get("size")
    what = f"{size} bytes of stack are" if size else "stack is"
    return (f"{what} read but not all were written: initialise the variable first "
            "(`struct ... v = {};` or __builtin_memset(&v, 0, sizeof(v)))")


def _ref_leak(m: re.Match[str], more: str) -> str:
    return (f"the object acquired at insn {m['insn']} is not released on this path: call "
            "bpf_ringbuf_submit()/bpf_ringbuf_discard() (or bpf_sk_release()) before "
            "every return")


def _r0_range(m: re.Match[str], more: str) -> str:
    lo, hi = m["lo"], m["hi"]
    got = m["got"].strip()
    rng = re.fullmatch(r"smin=(-?\d+) smax=(-?\d+)", got)
    if rng:
        got = f"values {rng[1]}..{rng[2]}"
    return (f"this program type must return a value in [{lo}, {hi}], but R0 here has "
            f"{got}: return only those values (e.g. `return x ? {hi} : {lo};`)")


def _helper_arg(m: re.Match[str], more: str) -> str:
    n = int(m["reg"])
    got = m["got"]
    if got == "scalar":
        return (f"argument {n} (R{n}) of the helper must be a pointer (to the stack, a map "
                "value, the packet, ...), not a number: pass the address of a variable "
                "(`&key`)")
    return (f"argument {n} (R{n}) of the helper has the wrong kind ({got}); it must be one "
            f"of {m['expected'].strip(', ')}")


_Hint = Callable[[re.Match[str], str], str]
_HINTS: tuple[tuple[str, "str | _Hint"], ...] = (
    (r"^invalid access to packet, off=(?P<off>-?\d+) size=(?P<size>\d+), "
     r"R(?P<reg>\d+)\(id=(?P<id>\d+),off=-?\d+,r=(?P<r>\d+)\)", _packet),
    (r"^invalid access to packet",
     "check the packet length first: `if (data + OFFSET + SIZE > data_end) return ...;` "
     "before reading"),
    (r"invalid mem access '(?P<type>\w+_or_null)'", _null),
    (r"^R\d+ !read_ok",
     "a register is read before anything was written to it (an uninitialised variable "
     "or a missing helper argument)"),
    (r"^invalid (indirect )?read from stack .*size (?P<size>\d+)", _uninit_stack),
    (r"^invalid (indirect )?read from stack", _uninit_stack),
    (r"^invalid access to map value, value_size=(?P<vs>\d+) off=(?P<off>-?\d+) "
     r"size=(?P<size>\d+)", _map_value),
    (r"min value is negative|unbounded memory access|max value is outside|"
     r"min value is outside|variable .* access .* not allowed", _var_off),
    (r"^Unreleased reference id=\d+ alloc_insn=(?P<insn>\d+)", _ref_leak),
    (r"^At program exit the register R0 has (?P<got>.*) should have been in "
     r"\[(?P<lo>-?\d+), (?P<hi>-?\d+)\]", _r0_range),
    (r"^At program exit the register R0",
     "return one of the values this program type allows"),
    (r"^R(?P<reg>\d+) type=(?P<got>\S+) expected=(?P<expected>.*)$", _helper_arg),
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


def hint_for(error: str | None, more: Sequence[str] = ()) -> str | None:
    """The hint for a refusal's first error line (`more`: the error lines after it),
    or None when the refusal is not one of the common ones."""
    if not error:
        return None
    rest = "\n".join(more)
    for pattern, hint in _HINTS:
        m = re.search(pattern, error)
        if m:
            if isinstance(hint, str):
                return hint
            try:
                return hint(m, rest)
            except (IndexError, KeyError, ValueError):  # a hint never stops a verdict
                return None
    return None
