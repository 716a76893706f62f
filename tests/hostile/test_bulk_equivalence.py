"""The helpers' byte work moved from byte-at-a-time loops to slices: the slice
versions give exactly what the loops gave (the loops are kept here as the reference;
the comparisons with the kernel are in tests/progtypes)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.asm import assemble
from pybpf.progtypes import task as tk
from pybpf.vm import VM, Memory

EFAULT = 14


def strncpy_from_user_by_words(space: tk.AddressSpace, addr: int, count: int
                               ) -> tuple[int, bytes]:
    """The word-then-byte loop strncpy_from_user_nofault used before."""
    if count <= 0:
        return 0, b""
    limit = min(count, tk.TASK_SIZE_MAX - addr)
    dst = bytearray()
    res = 0
    ret = None
    while limit >= 8:
        word = space.prefix(addr + res, 8)
        if len(word) < 8:
            break
        nul = word.find(b"\0")
        if nul >= 0:
            dst[res:res + 8] = word[:nul] + bytes(8 - nul)
            ret = res + nul
            break
        dst[res:res + 8] = word
        res += 8
        limit -= 8
    if ret is None:
        while limit:
            b = space.prefix(addr + res, 1)
            if not b:
                return -EFAULT, bytes(dst)
            dst[res:res + 1] = b
            if b == b"\0":
                ret = res
                break
            res += 1
            limit -= 1
        if ret is None:
            if res < count:
                return -EFAULT, bytes(dst)
            ret = res
    if ret >= count:
        dst[count - 1:count] = b"\0"
        return count, bytes(dst[:count])
    return ret + 1, bytes(dst)


TEXT = st.binary(max_size=40).map(lambda b: bytes(x % 4 and 0x41 + x % 3 for x in b))


@settings(max_examples=400, deadline=None)
@given(a=TEXT, gap=st.integers(0, 3), b=TEXT, start=st.integers(0, 90), count=st.integers(0, 90),
       top=st.booleans())
def test_strncpy_from_user_matches_the_word_loop(a: bytes, gap: int, b: bytes, start: int,
                                                  count: int, top: bool) -> None:
    base = tk.TASK_SIZE_MAX - 64 if top else 0x10000
    regions = [(base, a)] + ([(base + len(a) + gap, b)] if b else [])
    regions = [(x, d) for x, d in regions if x + len(d) <= tk.TASK_SIZE_MAX and d]
    task = tk.Task(user_memory=regions)
    addr = base + start
    got = tk.strncpy_from_user_nofault(Memory(), task, addr, count)
    assert got == strncpy_from_user_by_words(task.user_space, addr, count)


def strncmp_by_bytes(a: bytes, b: bytes, n: int) -> int:
    """bpf_strncmp as the byte loop computed it (a, b: the strings up to their NUL)."""
    a = a + b"\0" if len(a) < n else a
    b = b + b"\0" if len(b) < n else b
    for ca, cb in zip(a[:n], b[:n]):
        if ca != cb:
            return 1 if ca > cb else -1
        if ca == 0:
            break
    return 0


STR = st.binary(max_size=200).map(lambda b: bytes(0x61 + x % 3 for x in b))


@settings(max_examples=400, deadline=None)
@given(s1=STR, s2=STR, n=st.integers(1, 220), common=st.integers(0, 150))
def test_strncmp_matches_the_byte_loop(s1: bytes, s2: bytes, n: int, common: int) -> None:
    s2 = s1[:common] + s2  # long common prefixes reach the halving search
    mem = Memory()
    r1 = mem.map("s1", bytearray(s1 + b"\0"))
    r2 = mem.map("s2", bytearray(s2 + b"\0"))
    vm = VM(assemble(f"r2 = {n}\ncall 182\nexit"))
    got = vm.execute(mem, r1.base, 0, r2.base).r0
    want = strncmp_by_bytes(s1[:n], s2[:n], n)
    assert got == want & ((1 << 64) - 1)
