"""`pybpf bench run`: what one run costs beyond the program's own instructions, measured
side by side in one process: Program.test_run of a 64-byte packet through an XDP
program that only returns XDP_PASS, on the VM (interpreter, JIT) and on the kernel;
the bare bpf(2) call the kernel's test run costs (BPF_PROG_TEST_RUN from a prepared
attr, no Python around it), so the Python a kernel test run adds is the difference;
and VM.execute's fixed cost (`r0 = 2; exit` on an empty Memory). The targets (issue
14): VM test_run and the kernel's Python per run at most 3 us."""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable

from ..errors import PyBPFError

PACKET = bytes.fromhex("ffffffffffff0000000000010800") + bytes(50)  # 64 bytes
TARGET_US = 3.0


def per_call_us(fn: Callable[[], object], runs: int, rounds: int) -> float:
    """CPU microseconds a call of `fn`: the best of `rounds` rounds of `runs` calls (the
    machine may be shared: the least disturbed round counts)."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(runs):
            fn()
        best = min(best, time.process_time() - t0)
    return best / runs * 1e6


def _pass_program() -> Any:
    from ..builder import ObjectBuilder
    ob = ObjectBuilder(name="bench_run")
    ob.program("xdp_pass", "xdp").ret(2)
    return ob.build()


def _bpf_call(prog: Any) -> Callable[[], object]:
    """The kernel's test run of PACKET as one bare bpf(2) call on a prepared attr."""
    import ctypes
    from ..kernel import abi
    from ..kernel.abi import BpfCmd
    from ..kernel.syscall import PreparedCall
    data = ctypes.create_string_buffer(PACKET, len(PACKET))
    out = ctypes.create_string_buffer(len(PACKET) + 4096)
    attr = abi.TestRunAttr(prog_fd=prog.fd, data_in=ctypes.addressof(data),
                           data_size_in=len(PACKET), data_out=ctypes.addressof(out), repeat=1)
    call, args = PreparedCall(BpfCmd.PROG_TEST_RUN, attr).raw
    size_out = len(PACKET) + 4096

    def bare() -> object:
        attr.data_size_out = size_out  # (the kernel writes the output's size back)
        return call(*args)
    bare.keep = (data, out, attr)  # type: ignore[attr-defined]  # alive while bare is
    return bare


def available_runs(kernel: bool = True, jit: bool = True) -> tuple[list[str], dict[str, str]]:
    """The columns this machine can run (the interpreter always), and why the others
    are skipped."""
    runs = ["interp"]
    skipped: dict[str, str] = {}
    if jit:
        try:
            from ..jit.engine import vm_class
            vm_class("jit")
            runs.append("jit")
        except (PyBPFError, ImportError) as e:
            skipped["jit"] = str(e)
    if kernel:
        from ..kernel import available
        ok, reason = available()
        if ok:
            runs.append("kernel")
        else:
            skipped["kernel"] = reason
    return runs, skipped


def run_report(runs: int = 2000, rounds: int = 30, kernel: bool = True, jit: bool = True,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Microseconds a call of each measured path (see the module doc); those this
    machine cannot run are skipped with the reason."""
    from ..asm import assemble
    from ..vm import VM, Memory
    names, skipped = available_runs(kernel, jit)
    spec = _pass_program()
    rows: dict[str, float] = {}
    for name in names:
        backend, engine = ("kernel", None) if name == "kernel" else ("vm", name)
        with spec.instantiate(backend, engine=engine) as obj:
            prog = obj.programs["xdp_pass"]
            if prog.test_run(PACKET).retval != 2:
                raise PyBPFError(f"bench run: the XDP_PASS program does not pass on {name}")
            rows[f"{name} test_run"] = per_call_us(partial(prog.test_run, PACKET), runs,
                                                   rounds)
            if name == "kernel":
                rows["kernel bpf(2)"] = per_call_us(_bpf_call(prog.handle), runs, rounds)
        if progress is not None:
            progress(name)
    vm = VM(assemble("r0 = 2\nexit"))
    memory = Memory()
    rows["VM.execute"] = per_call_us(lambda: vm.execute(memory), runs, rounds)
    if progress is not None:
        progress("execute")
    out: dict[str, Any] = {"benchmark": "run", "packet_bytes": len(PACKET), "runs": runs,
                           "rounds": rounds, "us": rows, "skipped": skipped}
    if "kernel test_run" in rows:
        out["kernel_python_us"] = rows["kernel test_run"] - rows["kernel bpf(2)"]
    return out


def format_run(report: dict[str, Any]) -> str:
    lines = [f"one run, CPU time (best of {report['rounds']} rounds of {report['runs']}): "
             f"an XDP_PASS program on a {report['packet_bytes']}-byte packet"]
    for name, reason in report.get("skipped", {}).items():
        lines.append(f"({name} skipped: {reason})")
    notes = {"interp test_run": "VM interpreter, Program.test_run",
             "jit test_run": "VM JIT, Program.test_run",
             "kernel test_run": "kernel, Program.test_run",
             "kernel bpf(2)": "kernel, the bare BPF_PROG_TEST_RUN call",
             "VM.execute": "VM.execute of r0 = 2; exit (fixed cost)"}
    for name, us in report["us"].items():
        lines.append(f"{us:>8.2f} us  {notes.get(name, name)}")
    py = report.get("kernel_python_us")
    if py is not None:
        lines.append(f"{py:>8.2f} us  kernel, Python around the call (target <= {TARGET_US:g})")
    return "\n".join(lines) + "\n"
