"""bpf_trace_printk messages from a tracefs instance of our own: the trace text parsed
by meaning (messages may hold newlines), the instance made, filtered to our threads and
removed."""

from __future__ import annotations

import os

import pytest

from pybpf.kernel.tracepipe import PrintkMessage, TracePrintk, parse_trace

TEXT = (b"          python-1234    [001] d..1.  100.000001: bpf_trace_printk: hello\n"
        b"  <...>-77 [000] ..... 101.5: bpf_trace_printk: two\nlines\n"
        b"     a-b-c-9 (   9) [003] .N... 102.25: bpf_trace_printk: \n")


def test_parse_trace() -> None:
    assert parse_trace(TEXT) == [
        PrintkMessage("python", 1234, 1, 100.000001, "hello"),
        PrintkMessage("<...>", 77, 0, 101.5, "two\nlines"),
        PrintkMessage("a-b-c", 9, 3, 102.25, "")]
    assert parse_trace(b"") == [] and parse_trace(b"# tracer: nop\n#\n") == []


@pytest.mark.kernel
def test_instance_lifecycle() -> None:
    from pybpf import assemble
    from pybpf.kernel import ProgType, prog_load
    code = assemble("""
        r1 = 0x0a6968  ll
        *(u64 *)(r10 -8) = r1
        r1 = r10
        r1 += -8
        r2 = 4
        call bpf_trace_printk
        r0 = 2
        exit""")
    with TracePrintk() as trace:
        path = trace.path
        assert path.is_dir() and str(os.getpid()) in (path / "set_event_pid").read_text()
        with prog_load(ProgType.XDP, code, "GPL") as prog:
            prog.test_run(bytes(64))
            prog.test_run(bytes(64))
        msgs = trace.read()
        assert [m.text for m in msgs] == ["hi\n", "hi\n"] and {m.pid for m in msgs} <= \
            {os.getpid(), __import__("threading").get_native_id()}
        assert trace.read() == []  # drained
    assert not path.exists()
    trace.close()  # twice is fine
