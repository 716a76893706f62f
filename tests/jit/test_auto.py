"""The "auto" engine (pybpf.jit.auto), the default: interpreter first, native code
once hot, the interpreter for good where the JIT is unavailable; same results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pybpf
from pybpf.asm import assemble
from pybpf.jit import JitCache, JitUnavailable, JitVM
from pybpf.jit.auto import TRIAL_RUNS, AutoVM, hot_units
from pybpf.jit.engine import DEFAULT_ENGINE, EngineError, make_vm, resolve
from pybpf.vm import VM, Memory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# r0 = sum of 0..r2-1 over a loop: many instructions a run
LOOP = assemble("r0 = 0\nr3 = 0\nl: r0 += r3\nr3 += 1\nif r3 < r2 goto l\nexit")


def _run(vm: VM, n: int) -> tuple[int, int]:
    res = vm.execute(Memory(), 0, n)
    return res.r0, res.executed


def test_the_default_is_auto() -> None:
    assert DEFAULT_ENGINE == "auto" and resolve(None) == "auto"
    assert type(make_vm(LOOP)) is AutoVM
    assert type(make_vm(LOOP, engine="interp")) is VM
    assert type(make_vm(LOOP, engine="jit")) is JitVM
    with pytest.raises(EngineError, match="auto, interp, jit"):
        resolve("fast")


def test_auto_compiles_once_hot_and_gives_the_same_results() -> None:
    vm = AutoVM(LOOP, cache=JitCache(), hot=5_000)
    ref = VM(LOOP)
    seen = []
    for i in range(40 + 2 * TRIAL_RUNS):
        assert _run(vm, 50 + i) == _run(ref, 50 + i)
        seen.append(vm.engine)
    assert seen[0] == "interp" and vm.native is not None
    assert "trial" in seen
    assert vm.engine in ("jit", "interp") and vm.engine == seen[-1]
    assert vm.heat >= vm.hot or vm.hot == -1


def test_a_hot_loop_stays_native() -> None:
    vm = AutoVM(LOOP, cache=JitCache(), hot=0)
    for _ in range(3 * TRIAL_RUNS):
        _run(vm, 5_000)
    assert vm.engine == "jit"  # 5,000 iterations a run: native is far quicker


def test_the_threshold_grows_with_the_program() -> None:
    assert hot_units(10) < hot_units(1000)
    assert AutoVM(LOOP, cache=JitCache()).hot == hot_units(len(LOOP) // 8)


def test_code_already_compiled_is_used_at_once() -> None:
    cache = JitCache()
    JitVM(LOOP, cache=cache)
    vm = AutoVM(LOOP, cache=cache)
    assert vm.engine == "trial" and vm.native is not None and cache.hits == 1


def test_without_the_jit_auto_stays_on_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = JitCache()

    def unavailable(*_: Any) -> None:
        raise JitUnavailable("llvmlite cannot load: test")
    monkeypatch.setattr(cache, "get", unavailable)
    vm = AutoVM(LOOP, cache=cache, hot=100)
    ref = VM(LOOP)
    for i in range(20):
        assert _run(vm, 30 + i) == _run(ref, 30 + i)
    assert vm.engine == "interp" and vm.hot == -1 and vm.native is None


def test_run_native_now() -> None:
    vm = AutoVM(LOOP, cache=JitCache())
    vm.run_native_now()
    assert vm.engine == "jit" and vm._fn == vm._run_native
    assert _run(vm, 100) == _run(VM(LOOP), 100)


def test_objects_and_the_cli_take_auto() -> None:
    spec = pybpf.load(str(EXAMPLES / "xdp_firewall.o"))
    for engine, cls in ((None, AutoVM), ("auto", AutoVM), ("interp", VM), ("jit", JitVM)):
        with spec.instantiate("vm", engine=engine) as obj:
            assert type(obj.programs["xdp_firewall"].handle) is cls
    from pybpf.cli.main import main
    assert main(["run", str(EXAMPLES / "xdp_firewall.o"), "--pcap",
                 str(EXAMPLES / "traffic.pcap"), "--engine", "auto", "--json"]) == 0
    assert pybpf.run(LOOP, engine="auto") == pybpf.run(LOOP, engine="jit") == 0
