"""The failures the harness found in issue 11's items 6, 8 and 9 (fixed in the loader,
the capture reader and writer, and `run --mem` on the kernel), as the harness built
them. Item 4 (a compressed-section bomb) is tested in tests/elf/test_compressed.py."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.errors import PyBPFError
from pybpf.hostile.gen_elf import sections
from tests.conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _rodata_symbol_at(value: int) -> bytes:
    """examples/rodata_config.o with every .rodata symbol's value set to `value`."""
    data = bytearray((EXAMPLES / "rodata_config.o").read_bytes())
    shdrs = sections(bytes(data))
    shstr = shdrs[int.from_bytes(data[0x3E:0x40], "little")][1]
    names = [bytes(data[shstr[4] + h[0]:]).split(b"\0", 1)[0] for _, h in shdrs]
    rodata = names.index(b".rodata")
    symtab = next(h for _, h in shdrs if h[1] == 2)
    patched = 0
    for off in range(symtab[4], symtab[4] + symtab[5], 24):
        if int.from_bytes(data[off + 6:off + 8], "little") == rodata:
            data[off + 8:off + 16] = value.to_bytes(8, "little")
            patched += 1
    assert patched
    return bytes(data)


def test_item6_symbol_value_past_its_section_is_a_pybpf_error() -> None:
    import pybpf
    with pytest.raises(PyBPFError):
        pybpf.load(_rodata_symbol_at(1 << 50)).instantiate("vm")


def _pcapng(*blocks: tuple[int, bytes]) -> bytes:
    out = b""
    for btype, body in ((0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),) + blocks:
        out += struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    return out


@pytest.mark.parametrize("capture", [
    _pcapng((1, b"")),  # an empty interface description
    _pcapng((1, struct.pack("<HHI", 1, 0, 0)), (6, bytes(8))),  # an enhanced packet < 20 bytes
    _pcapng((3, b"")),  # a simple packet < 4 bytes
], ids=["empty-idb", "short-epb", "short-spb"])
def test_item8_malformed_pcapng_blocks_are_pcap_errors(capture: bytes, tmp_path: Path) -> None:
    from pybpf.pcap import PcapError, read_pcap
    path = tmp_path / "x.pcapng"
    path.write_bytes(capture)
    with pytest.raises(PcapError):
        read_pcap(path)


def test_item8_write_pcap_past_2106_is_a_pcap_error(tmp_path: Path) -> None:
    from pybpf.pcap import Packet, PcapError, write_pcap
    with pytest.raises(PcapError):
        write_pcap(tmp_path / "x.pcap", [Packet((1 << 32) * 10**9, bytes(60), 60)])


@pytest.mark.kernel
def test_item9_run_mem_past_3072_bytes_on_the_kernel(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    prog = tmp_path / "p.s"
    prog.write_text("r0 = 0\nexit\n")
    rc, out, err = run_cli(capsys, "run", str(prog), "--backend", "kernel", "--mem",
                           "00" * 4000)
    assert rc in (0, 1) and "internal error" not in err, err
