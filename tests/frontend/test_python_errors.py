"""Everything outside the restricted-Python subset is a CompileError that names
file:line:col and says what to write instead; hostile source never escapes as a
traceback."""

from __future__ import annotations

import textwrap

import pytest

from pybpf.errors import PyBPFError
from pybpf.frontend.python import CompileError, compile_source

HEAD = "from pybpf.frontend.python import *\nm = HashMap(u32, u64, 8)\n"


def _err(body: str, *, head: str = HEAD) -> CompileError:
    src = head + textwrap.dedent(body)
    with pytest.raises(CompileError) as ei:
        compile_source(src, "prog.py")
    return ei.value


def _prog(body: str) -> str:
    return "@xdp\ndef p(ctx):\n" + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.mark.parametrize("body, line, col, words", [
    ("x = 1.5\nreturn 0\n", 5, 9, "floating point"),
    ("x = [1, 2]\nreturn 0\n", 5, 9, "use a map"),
    ("x = {}\nreturn 0\n", 5, 9, "HashMap"),
    ("try:\n    pass\nexcept Exception:\n    pass\nreturn 0\n", 5, 5, "no exceptions"),
    ("x = 7 / 2\nreturn x\n", 5, 9, "write //"),
    ("return undefined_name\n", 5, 12, "not defined"),
    ("for i in [1, 2]:\n    pass\nreturn 0\n", 5, 14, "range(N)"),
    ("n = 3\nfor i in range(n):\n    pass\nreturn 0\n", 6, 20, "constant"),
    ("return bpf_no_such_helper()\n", 5, 12, "no BPF helper"),
    ("return bpf_ktime_get_ns(1)\n", 5, 12, "takes 0 arguments"),
    ("v = m.lookup(1)\nreturn v + 1\n", 6, 12, "not an integer"),
    ("v = m.lookup(1)\nif v < 3:\n    return 1\nreturn 0\n", 6, 8, "is None"),
    ("m.frobnicate(1)\nreturn 0\n", 5, 5, "no method"),
    ("x = 1\nx.y = 2\nreturn 0\n", 6, 5, "no field"),
    ("a, b = 1, 2\nreturn 0\n", 5, 5, "unpacking"),
    ("del x\nreturn 0\n", 5, 5, "m.delete"),
    ("print(1, 2, 3, 4)\nreturn 0\n", 5, 5, "three"),
    ("x = 1\n", 5, 5, "without returning"),
    ("return ctx.header(u32 * 2, 0).nope\n", 5, 12, "not an integer"),
    ("return 1 << 300\n", 5, 12, "64 bits"),
    ("while True:\n    pass\nelse:\n    pass\nreturn 0\n", 5, 5, "while ... else"),
    ("p(ctx)\nreturn 0\n", 5, 5, "tail call"),
    ("async_ = lambda: 0\nreturn 0\n", 5, 14, "define a function"),
])
def test_outside_the_subset(body: str, line: int, col: int, words: str) -> None:
    e = _err(_prog(body))
    assert (e.file, e.line) == ("prog.py", line), str(e)
    assert e.col >= 1
    assert str(e).startswith(f"prog.py:{line}:"), str(e)
    assert words in str(e)
    assert isinstance(e, PyBPFError)


def test_column_is_the_node() -> None:
    e = _err(_prog("x = 1.5\nreturn 0\n"))
    assert (e.line, e.col) == (5, 9)


def test_module_level_errors() -> None:
    assert "no BPF program" in str(_err("x = 1\n"))
    assert "syntax error" in str(_err("def (:\n"))
    e = _err("raise ValueError('boom')\n", head="")
    assert "ValueError" in str(e) and e.line == 1
    e = _err("from pybpf.frontend.python import *\nm = HashMap(float, u64, 8)\n"
             "@xdp\ndef p(ctx):\n    return 0\n", head="")
    assert e.line == 2 and "no BPF type for float" in str(e)
    e = _err("from pybpf.frontend.python import *\nc = Config(u32, 'x')\n"
             "@xdp\ndef p(ctx):\n    return 0\n", head="")
    assert "default must be an int" in str(e)
    e = _err(_prog("return 0\n") + "\n@tracepoint('a/b')\ndef q(ctx):\n    return 0\n")
    assert "needs a type" in str(e)
    e = _err("import ctypes\n" + HEAD + "@xdp\ndef p(ctx, extra):\n    return 0\n", head="")
    assert "one parameter" in str(e)


def test_no_direct_packet_access_in_socket_filters() -> None:
    e = _err("@socket_filter\ndef p(skb):\n    if skb.header(EthHdr) is None:\n"
             "        return 0\n    return 1\n")
    assert "no direct packet access" in str(e) and "load_byte" in str(e) and e.line == 5


def test_sub_function_errors() -> None:
    e = _err("def f(x):\n    return x\n" + _prog("return f(1)\n"))
    assert "has no type" in str(e) and e.line == 3
    e = _err("def f(x: u32):\n    return x\n" + _prog("return f(1)\n"))
    assert "return annotation" in str(e)
    e = _err("def f(x: u32) -> u32:\n    return x\n" + _prog("return f(1, 2)\n"))
    assert "takes 1 arguments" in str(e)
    e = _err("def f(*a: u32) -> u32:\n    return 0\n" + _prog("return f(1)\n"))
    assert "*args" in str(e)


@pytest.mark.parametrize("src", [
    "\0", "x" * 100, "(" * 5000, "def f(:",
    "@xdp\ndef p(ctx):\n    return " + "1 + " * 3000 + "1\n",
    "from pybpf.frontend.python import *\n@xdp\ndef p(ctx):\n    return " + "(" * 90 + "1" +
    ")" * 90 + "\n",
    "import sys\nsys.exit(3)\n",
])
def test_hostile_source_is_a_compile_error_or_compiles(src: str) -> None:
    try:
        compile_source(src, "hostile.py")
    except PyBPFError:
        pass


BIG = """
import ctypes
from pybpf.frontend.python import *
LICENSE = "GPL"
class Big(ctypes.Structure):
    _fields_ = [("a", u8 * SIZE)]
m = HashMap(u32, Big, 4)
def g() -> None:
    c = Big()
    m.update(2, c)
@xdp
def p(ctx):
    b = Big()
    b.a[3] = 1
    m.update(1, b)
    CALL
    return 2
"""


def test_stack_limit_is_a_compile_error() -> None:
    with pytest.raises(CompileError, match=r"big.py:13:5: the structs on p's stack take 600 "
                                           r"bytes; a BPF stack holds 512"):
        compile_source(BIG.replace("SIZE", "600").replace("CALL", "pass"), "big.py")


def test_stack_over_the_limit_after_inlining_reaches_the_verifier() -> None:
    """LLVM's BPF back end would end the process on a stack over 512 bytes; the
    compiler lets it emit, and the kernel's verifier judges."""
    obj = compile_source(BIG.replace("SIZE", "300").replace("CALL", "g()"), "big.py")
    assert obj.spec().programs["p"]


def test_recursion_is_a_compile_error() -> None:
    e = _err("def f(x: u32) -> u32:\n    if x == 0:\n        return 0\n"
             "    return f(x - 1) + 1\n" + _prog("return f(3)\n"))
    assert "recursion (f -> f)" in str(e) and e.line == 6
    e = _err("def f(x: u32) -> u32:\n    return h(x)\ndef h(x: u32) -> u32:\n    return f(x)\n"
             + _prog("return f(3)\n"))
    assert "recursion (f -> h -> f)" in str(e)
