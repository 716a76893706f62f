"""Tracing hooks beside tracepoints and uprobes: perf_event programs sampling
cpu-clock on every CPU, kprobe / kretprobe / kprobe.multi, the BTF-typed kinds
(tp_btf, fentry, fexit, lsm) and USDT probes of a program compiled here. Each is
attached with Program.attach() from its section; where this kernel lacks the
feature, the test skips with the kernel's own reason (the missing PMU, the errno)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import pybpf
from pybpf.cpus import online_cpus
from pybpf.kernel import KernelError, Link, NotSupportedError, attach_kprobe
from pybpf.kernel.abi import LinkType

from .netenv import nothing_left_check

DATA = Path(__file__).resolve().parent / "data"
TRACING = DATA / "tracing.bpf.o"
# the programs of tests/kernel/data, whose live links the leftovers check looks for
PROGS = {"on_sample", "on_kprobe", "on_kretprobe", "on_multi", "on_tick", "tp_sys_enter",
         "fentry_unlinkat", "fexit_unlinkat", "lsm_file_open"}

pytestmark = pytest.mark.kernel


@pytest.fixture
def nothing_left(bpf_ok: str) -> Iterator[None]:
    with nothing_left_check(PROGS):
        yield


# --- perf_event: sampling cpu-clock -----------------------------------------------------------

def _samples(obj: Any) -> dict[int, int]:
    m = obj.maps["samples"]
    return {cpu: int.from_bytes(m[cpu.to_bytes(4, "little")], "little")
            for cpu in online_cpus()}


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _spin_on(cpus: list[int], seconds: float) -> None:
    """Busy on each of `cpus` in turn for `seconds` in all: a cpu-clock sample comes
    from a CPU's timer while the CPU runs something, and an idle CPU of this VM gave
    none (the test process pinned to CPU 0 by an earlier module left CPU 1 with 0)."""
    old = os.sched_getaffinity(0)
    try:
        for cpu in cpus:
            os.sched_setaffinity(0, {cpu})
            _spin(seconds / len(cpus))
    finally:
        os.sched_setaffinity(0, old)


def _window(obj: Any, seconds: float, cpus: list[int]) -> tuple[dict[int, int], float]:
    """Spins on `cpus` for `seconds` and returns each CPU's new samples and the time
    that passed."""
    before, t0 = _samples(obj), time.monotonic()
    _spin_on(cpus, seconds)
    after, elapsed = _samples(obj), time.monotonic() - t0
    return {cpu: after[cpu] - before[cpu] for cpu in after}, elapsed


# A loaded machine can keep one CPU from running the sampling program for a moment (its
# overflow handler skips while another BPF program or map syscall holds that CPU's
# bpf_prog_active): a window may then see few samples there. The lower bound must hold
# in one of a few windows; the upper bound (no sample beyond the period) in every one.
WINDOWS = 4


def test_perf_event_samples_cpu_clock_on_every_cpu(nothing_left: None) -> None:
    """cpu-clock every 10 ms on each online CPU (pid -1), the test busy on each CPU in
    turn: the samples of a CPU's time come at its period (at most one per 10 ms), and
    the program counts each on the CPU it ran on; closed, the counts stop."""
    period_ns = 10_000_000
    with pybpf.load(DATA / "perf_sample.bpf.o").instantiate("kernel") as obj:
        prog = obj.programs["on_sample"]
        with prog.attach(sample_period=period_ns) as link:
            assert isinstance(link, Link) and link.kind == "perf_event"
            assert len(link.events) == len(online_cpus())
            info = link.info()
            assert info.type == LinkType.PERF_EVENT and info.prog_id == prog.handle.id
            assert info.target.startswith("cpu-clock period 10000000 on cpus ")
            seen = []
            cpus = online_cpus()
            for _ in range(WINDOWS):
                counts, elapsed = _window(obj, 0.4 * len(cpus), cpus)
                most = elapsed * 1e9 / period_ns + 2
                busy = most / len(cpus)  # the share of the window each CPU is busy
                assert all(n <= most for n in counts.values()), (counts, elapsed)
                seen.append((counts, round(elapsed, 3)))
                if all(n >= 0.25 * busy for n in counts.values()):
                    break
            else:
                pytest.fail(f"some CPU took under a quarter of its samples in every window: {seen}")
        counts = _samples(obj)
        _spin(0.05)
        assert _samples(obj) == counts


def test_perf_event_frequency_and_one_cpu(nothing_left: None) -> None:
    cpu = online_cpus()[-1]
    with pybpf.load(DATA / "perf_sample.bpf.o").instantiate("kernel") as obj:
        with obj.programs["on_sample"].attach("cpu-clock", sample_freq=200, cpus=[cpu]):
            seen = []
            for _ in range(WINDOWS):
                counts, elapsed = _window(obj, 0.3, [cpu])
                assert all(n == 0 for c, n in counts.items() if c != cpu), counts
                seen.append(counts[cpu])
                if counts[cpu] >= 10:
                    break
            else:
                pytest.fail(f"cpu {cpu} took under 10 samples at 200 Hz in every window: {seen}")


def test_perf_event_errors_name_the_event(nothing_left: None) -> None:
    with pybpf.load(DATA / "perf_sample.bpf.o").instantiate("kernel") as obj:
        prog = obj.programs["on_sample"]
        with pytest.raises(ValueError, match="perf event 'clock-cpu'"):
            prog.attach("clock-cpu")
        with pytest.raises(ValueError, match="not both"):
            prog.attach(sample_period=1, sample_freq=1)
        try:  # hardware events: present on bare metal, missing in most VMs
            prog.attach("cycles").close()
        except NotSupportedError as e:
            assert "perf event cycles on cpu" in str(e) and "no such event" in str(e)


NO_CAPS_CHILD = r"""
import sys
from pybpf.kernel import KernelError
from pybpf.kernel.link import attach_perf_sampling
try:
    attach_perf_sampling(int(sys.argv[1]), "cpu-clock", cpus=[0]).close()
    print("attached")
except KernelError as e:
    print(e.errno, e)
"""


def test_perf_event_without_privilege_names_capability_and_sysctl(nothing_left: None) -> None:
    """A process without capabilities given the loaded program's fd cannot open a
    CPU-wide event (perf_event_paranoid > 0): the error names CAP_PERFMON and the
    sysctl."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    paranoid = Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip()
    if int(paranoid) <= 0:
        pytest.skip(f"kernel.perf_event_paranoid={paranoid} lets anyone open CPU-wide events")
    with pybpf.load(DATA / "perf_sample.bpf.o").instantiate("kernel") as obj:
        fd = obj.programs["on_sample"].handle.fd
        out = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all",
                              sys.executable, "-c", NO_CAPS_CHILD, str(fd)],
                             pass_fds=(fd,), capture_output=True, text=True, timeout=60)
    line = out.stdout.strip()
    assert line.startswith(("13 ", "1 ")), (line, out.stderr[-500:])
    assert "needs CAP_PERFMON" in line and f"kernel.perf_event_paranoid={paranoid}" in line


# --- kprobes --------------------------------------------------------------------------------

def _kprobe_obj(name: str) -> Any:
    return pybpf.load(DATA / "kprobe.bpf.o").instantiate("kernel", programs=[name])


@pytest.mark.parametrize("name,counter", [("on_kprobe", "kprobe_hits"),
                                          ("on_kretprobe", "kretprobe_hits"),
                                          ("on_multi", "multi_hits")])
def test_kprobes_count_getppid(nothing_left: None, name: str, counter: str) -> None:
    """kprobe/kretprobe on __x64_sys_getppid (kprobe PMU) and kprobe.multi on the glob
    __x64_sys_getppi* count this process's getppid calls; without kprobes (or fprobe)
    the kernel's refusal is the skip reason."""
    if os.uname().machine != "x86_64":
        pytest.skip("the sections name x86-64 syscall functions")
    with _kprobe_obj(name) as obj:
        prog = obj.programs[name]
        try:
            link = prog.attach()
        except NotSupportedError as e:
            pytest.skip(f"the kernel refuses {prog.spec.section}: {e}")
        with link:
            assert link.info().prog_id == prog.handle.id
            for _ in range(20):
                os.getppid()
        assert getattr(obj.globals, counter) >= 20


def test_kprobe_without_the_pmu_says_what_is_missing(nothing_left: None) -> None:
    pmu = "/sys/bus/event_source/devices/kprobe"
    with _kprobe_obj("on_kprobe") as obj:
        handle = obj.programs["on_kprobe"].handle
        if os.path.exists(pmu):
            with pytest.raises(KernelError, match="no such probe-able kernel function"):
                attach_kprobe(handle, "pybpf_no_such_function_x")
            return
        with pytest.raises(NotSupportedError, match=f"no kprobe PMU \\({pmu}/type") as e:
            attach_kprobe(handle, "__x64_sys_getppid")
        assert "CONFIG_KPROBES" in str(e.value)
        with pytest.raises(ValueError, match="kretprobes take no offset"):
            attach_kprobe(handle, "f", 4, retprobe=True)


def test_kprobe_multi_pattern_matches_nothing(nothing_left: None) -> None:
    with _kprobe_obj("on_multi") as obj:
        with pytest.raises(KernelError, match="matches no traceable kernel function"):
            obj.programs["on_multi"].attach_kprobe_multi("pybpf_no_such_fn_*")


# --- BTF-typed: tp_btf, fentry, fexit, lsm ------------------------------------------------

def test_tp_btf_runs_through_attach(nothing_left: None) -> None:
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    spec = pybpf.load(TRACING)
    with spec.instantiate("kernel", programs=["tp_sys_enter"]) as obj:
        prog = obj.programs["tp_sys_enter"]
        with prog.attach() as link:
            assert link.info().kind == "raw_tracepoint" and link.target == "sys_enter"
            for _ in range(10):
                os.getppid()
        n = obj.globals.sys_enters
        assert n >= 10
        os.getppid()
        assert obj.globals.sys_enters == n


@pytest.mark.parametrize("name,counter", [("fentry_unlinkat", "unlinkat_entries"),
                                          ("fexit_unlinkat", "unlinkat_exits"),
                                          ("lsm_file_open", "file_opens")])
def test_fentry_fexit_lsm(nothing_left: None, name: str, counter: str) -> None:
    """fentry/fexit on do_unlinkat and lsm/file_open: where the kernel loads them
    (lockdown refuses them with EPERM), attached through tracing links, they run on
    unlink() / open()."""
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    spec = pybpf.load(TRACING)
    try:
        obj = spec.instantiate("kernel", programs=[name])
    except KernelError as e:
        if e.errno == 1:
            pytest.skip(f"the kernel refuses to load {spec.programs[name].section}: {e}")
        raise
    with obj:
        prog = obj.programs[name]
        with prog.attach() as link:
            assert link.info().type == LinkType.TRACING
            for _ in range(3):
                with tempfile.NamedTemporaryFile(delete=False) as f:  # an open()
                    pass
                os.unlink(f.name)                                    # an unlinkat()
        assert link.closed
        assert getattr(obj.globals, counter) >= 3


# --- USDT ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def usdt_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.uname().machine != "x86_64":
        pytest.skip("the USDT target writes x86-64 argument specs")
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to build the USDT target")
    out = str(tmp_path_factory.mktemp("usdt") / "usdt_target")
    subprocess.run([cc, "-O1", "-o", out, str(DATA / "usdt_target.c")], check=True,
                   capture_output=True)
    return out


class Target:
    """The USDT target program running, driven over its stdin."""

    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self.readline() == "ready"

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def go(self, n: int) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"go {n}\n")
        self.proc.stdin.flush()
        return self.readline()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _usdt_obj(binary: str) -> Any:
    spec = pybpf.load(DATA / "usdt.bpf.o")
    spec.programs["on_tick"].section = f"usdt/{binary}:pybpf_test:tick"
    return spec.instantiate("kernel")


def test_usdt_probe_counts_and_reads_arguments(nothing_left: None, usdt_binary: str) -> None:
    """The probe fires only while its semaphore is up: attached to the target process
    the semaphore is 1 and 5 ticks give seq 3..7 and values 1003..1007 read by
    bpf_usdt_arg from the spec pybpf stored; detached it is 0 again and the probe is
    skipped. Attached for every process (pid -1) it is counted up too."""
    target = Target(usdt_binary)
    try:
        assert target.go(2) == "sema=0 fired=0"
        with _usdt_obj(usdt_binary) as obj:
            g = obj.globals
            with obj.programs["on_tick"].attach(pid=target.proc.pid) as link:
                assert link.kind == "usdt" and len(link.sites) == 1
                assert link.target == f"usdt {usdt_binary}:pybpf_test:tick pid " \
                                      f"{target.proc.pid}"
                assert link.info().type == LinkType.PERF_EVENT
                assert target.go(5) == "sema=1 fired=5"
                assert (g.ticks, g.arg_count, g.last_arg0, g.last_arg1, g.arg_sum) == \
                    (5, 2, 7, 1007, sum(range(1003, 1008)))
            assert target.go(3) == "sema=0 fired=0"
            assert g.ticks == 5
            with obj.programs["on_tick"].attach(cookie=42):
                assert target.go(1) == "sema=1 fired=1"
            assert (g.ticks, g.last_arg0) == (6, 11)
            assert target.go(1) == "sema=0 fired=0"
    finally:
        target.close()


def test_usdt_notes_of_the_target(usdt_binary: str) -> None:
    """The note as readelf shows it: provider, name, the argument text, the address of
    a nop in .text, and a semaphore in .probes."""
    from pybpf.kernel.usdt import ArgKind, parse_usdt_args, read_usdt_notes
    notes = read_usdt_notes(usdt_binary)
    assert [(n.provider, n.name) for n in notes] == [("pybpf_test", "tick")]
    note = notes[0]
    with open(usdt_binary, "rb") as f:
        f.seek(note.offset)
        assert f.read(1) == b"\x90"  # the probe's nop
    assert note.semaphore and note.semaphore_offset
    args = parse_usdt_args(note.args)
    assert [a.size for a in args] == [8, 8] and args[0].signed and not args[1].signed
    assert args[0].kind == ArgKind.REG and args[1].kind == ArgKind.REG_DEREF


def test_usdt_errors_name_the_probe(nothing_left: None, usdt_binary: str) -> None:
    from pybpf.kernel.usdt import UsdtError
    with _usdt_obj(usdt_binary) as obj:
        prog = obj.programs["on_tick"]
        with pytest.raises(UsdtError, match="has no USDT probe pybpf_test:nope"):
            prog.attach_usdt(usdt_binary, "pybpf_test", "nope")
        with pytest.raises(UsdtError, match="/nonexistent/bin"):
            prog.attach_usdt("/nonexistent/bin", "p", "n")
        with pytest.raises(pybpf.objects.instance.AttachNotSupportedError,
                           match="takes only cookie, pid"):
            prog.attach(mode="skb")


# --- pinning ---------------------------------------------------------------------------------

def test_programs_maps_and_links_pin_and_unpin(nothing_left: None, bpffs: str) -> None:
    """A program, a map and a perf link pinned by path outlive the object that made
    them, are opened again by path (the same kernel ids), and are gone once unpinned
    and closed."""
    from pybpf.kernel import Program as KProgram
    from pybpf.kernel import fd_kind, obj_get
    from pybpf.maps import Map
    from pybpf.maps.pin import unpin
    prog_pin, map_pin, link_pin = (os.path.join(bpffs, n) for n in ("prog", "map", "link"))
    before = set(os.listdir(bpffs))  # a bpffs may hold the kernel's own (maps.debug, ...)
    with pybpf.load(DATA / "perf_sample.bpf.o").instantiate("kernel") as obj:
        prog = obj.programs["on_sample"]
        prog.pin(prog_pin)
        obj.maps["samples"].pin(map_pin)
        link = prog.attach(sample_freq=50, cpus=[online_cpus()[0]])
        link.pin(link_pin)
        ids = (prog.handle.id, obj.maps["samples"].kmap.id, link.info().id)
    # the object is closed: the pins hold the program, the map and the attachment
    with obj_get(prog_pin) as fd:
        assert fd_kind(fd) == "prog"
    with KProgram.from_pin(prog_pin) as again:
        assert again.id == ids[0]
    with Map.from_pinned(map_pin) as m:
        assert m.kmap.id == ids[1]
        _spin(0.2)
        assert int.from_bytes(m[online_cpus()[0].to_bytes(4, "little")], "little") > 0
    with Link.from_pin(link_pin) as again_link:
        assert again_link.info().id == ids[2] and again_link.kind == "perf_event"
        again_link.unpin()
    unpin(map_pin)
    os.unlink(prog_pin)
    assert set(os.listdir(bpffs)) == before
    with pytest.raises(KernelError, match="prog"):
        obj_get(prog_pin)
