"""SHF_COMPRESSED sections: inflated as the loader needs them, within named limits
(pybpf.elf.compressed), never trusting the size their compression header claims."""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.elf import ELFError, load
from pybpf.elf.compressed import MAX_INFLATED_TOTAL, MAX_SECTION_SIZE, SECTION_NEEDS
from tests.elf.elfbytes import LINKING, section_body, section_headers, with_compressed


def _zeros_compressed(n: int) -> bytes:
    c = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [c.compress(chunk) for _ in range(n >> 20)]
    return b"".join(parts) + c.compress(bytes(n & ((1 << 20) - 1))) + c.flush()


@pytest.mark.parametrize("name", ["license", ".rodata", ".BTF", "xdp", ".text", "maps",
                                  ".debug_info", ".BTF.ext"])
def test_compressed_sections_load_as_the_plain_object(name: str) -> None:
    body = section_body(LINKING, name)
    obj = with_compressed(LINKING, name, zlib.compress(body), len(body))
    plain, packed = load(LINKING), load(obj)
    assert packed.license == plain.license
    assert set(packed.programs) == set(plain.programs)
    for p in plain.programs:
        assert packed.programs[p].instructions == plain.programs[p].instructions
    assert packed.maps[".rodata"].contents == plain.maps[".rodata"].contents


def test_compression_bomb_is_refused_at_once() -> None:
    """Issue 11, item 4: a 3 GiB `license` claimed by a few MB of zlib took 35 s and
    6.1 GiB. The claim is refused before anything is inflated; a 96 MiB claim (under
    zlib's ratio for the data given) is refused too, and the loader never holds more
    than the file."""
    payload = _zeros_compressed(96 << 20)  # ~95 KB
    for name, claim in (("license", 3 << 30), ("license", 96 << 20), (".rodata", 96 << 20),
                        (".BTF", 96 << 20)):
        obj = with_compressed(LINKING, name, payload, claim)
        tracemalloc.start()
        try:
            with pytest.raises(ELFError, match=f"compressed section {name} claims {claim} "
                                               "bytes inflated, more than"):
                load(obj)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 * len(obj) + (1 << 20), peak


def test_a_claim_under_the_limit_that_inflates_past_it_stops_at_the_claim() -> None:
    """ch_size is not trusted: data inflating past its claim stops one byte after it."""
    payload = _zeros_compressed(96 << 20)
    obj = with_compressed(LINKING, ".rodata", payload, 1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ELFError, match="inflates to more than the 1048576 bytes"):
            load(obj)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak


def test_limits_at_their_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    import pybpf.elf.compressed as comp
    monkeypatch.setattr(comp, "MAX_SECTION_SIZE", 4096)
    body = section_body(LINKING, ".rodata")
    ok = bytes(4096 - len(body)) + body  # exactly the limit
    load(with_compressed(LINKING, ".rodata", zlib.compress(ok), len(ok)))
    with pytest.raises(ELFError, match="more than 4096, the largest section"):
        load(with_compressed(LINKING, ".rodata", zlib.compress(ok + b"\0"), len(ok) + 1))
    need = SECTION_NEEDS["license"]
    load(with_compressed(LINKING, "license", zlib.compress(b"GPL" + bytes(need - 3)), need))
    with pytest.raises(ELFError, match=f"more than {need}, what a license section can need"):
        load(with_compressed(LINKING, "license", zlib.compress(b"GPL" + bytes(need - 2)),
                             need + 1))
    assert MAX_SECTION_SIZE <= MAX_INFLATED_TOTAL


def test_the_object_total_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import pybpf.elf.compressed as comp
    import pybpf.elf as elf
    monkeypatch.setattr(elf, "MAX_INFLATED_TOTAL", 300)
    body = b"GPL" + bytes(125)
    obj = with_compressed(LINKING, "license", zlib.compress(body), len(body))
    rodata = section_body(LINKING, ".rodata")
    big = rodata + bytes(200)
    obj = with_compressed(obj, ".rodata", zlib.compress(big), len(big))
    with pytest.raises(ELFError, match="MAX_INFLATED_TOTAL"):
        load(obj)
    assert comp.MAX_INFLATED_TOTAL == MAX_INFLATED_TOTAL


@pytest.mark.parametrize("ch_type,payload,ch_size,message", [
    (2, b"\x28\xb5\x2f\xfd" + bytes(8), 4, "zstd-compressed"),
    (7, zlib.compress(b"GPL\0"), 4, "unknown compression type 7"),
    (1, b"not zlib at all", 4, "not zlib"),
    (1, zlib.compress(b"GPL\0")[:-6], 4, "cut short"),
    (1, zlib.compress(b"GPL\0"), 8, "inflates to 4 bytes, not the 8"),
])
def test_bad_compressed_sections_name_the_section(ch_type: int, payload: bytes, ch_size: int,
                                                  message: str) -> None:
    with pytest.raises(ELFError, match=f"compressed section license.*{message}"):
        load(with_compressed(LINKING, "license", payload, ch_size, ch_type))


def test_a_header_past_the_section_is_an_error() -> None:
    obj = bytearray(with_compressed(LINKING, "license", b"", 4))
    hdr = section_headers(bytes(obj))["license"]
    struct.pack_into("<Q", obj, hdr + 0x20, 10)  # sh_size: less than the header
    with pytest.raises(ELFError):
        load(bytes(obj))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(["license", ".rodata", ".BTF", "xdp", "maps", ".debug_info"]),
       ch_type=st.sampled_from([1, 1, 1, 2, 0, 0xFFFFFFFF]),
       ch_size=st.one_of(st.integers(0, 1 << 16), st.integers(0, (1 << 64) - 1)),
       content=st.binary(max_size=4096), mode=st.sampled_from(["zlib", "raw", "cut"]))
def test_any_compressed_section_is_read_or_refused(name: str, ch_type: int, ch_size: int,
                                                   content: bytes, mode: str) -> None:
    """Whatever the header claims and the data holds: an ELFError or an object, and
    never more memory than a small multiple of what the section truly holds."""
    payload = zlib.compress(content) if mode != "raw" else content
    if mode == "cut":
        payload = payload[:len(payload) // 2]
    obj = with_compressed(LINKING, name, payload, ch_size, ch_type)
    tracemalloc.start()
    try:
        try:
            load(obj)
        except ELFError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * (len(obj) + len(content)) + (4 << 20), peak
