"""The one program-file reader (tools.progfile) behind `pybpf run/prog/asm` (CLIError,
exit 1) and `pybpf verify` (VerifyInputError, exit 2)."""

from __future__ import annotations

import pytest

from pybpf.asm import assemble
from pybpf.cli.common import CLIError, read_program
from pybpf.isa import decode
from pybpf.tools.progfile import ProgramFileError, read_program_bytes
from pybpf.tools.verify import VerifyInputError, read_code

CODE = assemble("r0 = 1\nexit", syntax="kernel")


@pytest.mark.parametrize("content", [
    CODE, CODE.hex().encode(), b"# hex words\n" + CODE[:8].hex().encode() + b"\n" +
    CODE[8:].hex().encode(), b"r0 = 1 ; one\nexit\n", b"mov %r0, 1\nexit\n"])
def test_every_form_reads_to_the_same_bytes(tmp_path, content: bytes) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "p"
    f.write_bytes(content)
    assert read_program_bytes(str(f)) == CODE
    assert read_program(str(f)) == CODE
    assert read_code(str(f)) == decode(CODE)


@pytest.mark.parametrize("content, msg", [(b"", "is empty"), (b"\x00" * 9, "multiple of 8"),
                                          (b"abcdef0", "multiple of 8")])
def test_bad_files_are_each_commands_error(tmp_path, content: bytes, msg: str) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "p"
    f.write_bytes(content)
    with pytest.raises(ProgramFileError, match=msg):
        read_program_bytes(str(f))
    with pytest.raises(CLIError, match=msg):
        read_program(str(f))
    with pytest.raises(VerifyInputError, match=msg):
        read_code(str(f))
    with pytest.raises(CLIError, match="cannot read"):
        read_program(str(tmp_path / "missing"))
