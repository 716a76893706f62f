"""The pybpf command's surface: --version, help on every option, -j/--json on every
command that prints data, "not an ELF object", the fuzz extra, progress bars on a
terminal only, the VM's map types, EPERM naming the capabilities, and `top --live`
counting each loopback packet once."""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.cli import build_parser, main
from pybpf.pcap import read_pcap, write_pcap
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = ROOT / "examples"
FIREWALL = str(EXAMPLES / "xdp_firewall.o")
TRAFFIC = str(EXAMPLES / "traffic.pcap")



def _walk(parser: argparse.ArgumentParser, path: str = "pybpf"):  # type: ignore[no-untyped-def]
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")


def test_every_option_and_argument_has_help() -> None:
    missing = []
    commands = 0
    for path, parser in _walk(build_parser()):
        commands += 1
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert commands >= 20
    assert not missing, f"options without help: {missing}"


def test_every_data_command_takes_json_and_j() -> None:
    """Each leaf command that prints data has -j/--json (the conformance plugin, whose
    output is the bpf_conformance protocol, does not)."""
    without = []
    for path, parser in _walk(build_parser()):
        if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            continue
        if path == "pybpf conformance-plugin":
            continue
        opts = {o for a in parser._actions for o in a.option_strings}
        if not {"-j", "--json"} <= opts:
            without.append(path)
    assert not without, without


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version
    rc, out, _ = run_cli(capsys, "--version")
    assert rc == 0 and out.strip() == f"pybpf {version('pybpf')}"
    proc = subprocess.run([sys.executable, "-m", "pybpf", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("pybpf ")


@pytest.mark.parametrize("argv", [
    ["asm", str(EXAMPLES / "ipv4_checksum.s"), "-j"],
    ["disasm", FIREWALL, "-j"],
    ["disasm", FIREWALL, "--program", "xdp_firewall", "--json"],
    ["btf", "dump", FIREWALL, "-j"],
    ["obj", "show", FIREWALL, "-j"],
    ["run", FIREWALL, "--pcap", TRAFFIC, "-j"],
    ["run", str(EXAMPLES / "ipv4_checksum.s"), "--mem", "@" + str(EXAMPLES / "ipv4_header.hex"),
     "-j"],
    ["features", "--backend", "vm", "-j"],
    ["bench", "interp", "--repeat", "1", "--iterations", "100", "--processes", "1", "-j"],
    ["bench", "maps", "--no-kernel", "--ops", "50", "--repeat", "1", "-j"],
    ["fuzz", "elf", str(DATA / "multi.o"), "--count", "5", "--seed", "1", "-j"],
    ["top", "--pcap", TRAFFIC, "-j"],
])
def test_json_output_parses(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err
    assert isinstance(json.loads(out), dict)


def test_json_content(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "btf", "dump", FIREWALL, "-j")
    types = json.loads(out)["types"]
    func = next(t for t in types if t["kind"] == "FUNC" and t["name"] == "xdp_firewall")
    assert func["linkage"] == "GLOBAL" and isinstance(func["type"], int)
    assert types[0]["id"] == 1
    rc, out, _ = run_cli(capsys, "bench", "interp", "--repeat", "1", "--iterations", "100",
                         "--processes", "1", "--json")
    report = json.loads(out)
    assert report["overall"]["executed"] == sum(p["executed"] for p in report["programs"])
    rc, out, _ = run_cli(capsys, "fuzz", "elf", str(DATA / "multi.o"), "--count", "5",
                         "--seed", "1", "-j")
    report = json.loads(out)
    assert report["runs"] == 5 and report["loaded"] + report["rejected"] == 5
    rc, _, err = run_cli(capsys, "btf", "dump", FIREWALL, "--format", "c", "-j")
    assert rc == 1 and "--format c is C text" in err


@pytest.mark.kernel
@pytest.mark.parametrize("argv", [
    ["bench", "kernel", "--repeat", "1", "--iterations", "10", "-j"],
    ["fuzz", "diff", "--count", "3", "--seed", "1", "--out", "/nonexistent-pybpf", "-j"],
    ["features", "--no-helpers", "-j"],
])
def test_json_output_parses_kernel(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err
    assert isinstance(json.loads(out), dict)


@pytest.mark.parametrize("argv,message", [
    (["obj", "show", "TEXT"], "not an ELF object"),
    (["obj", "show", "EMPTY"], "not an ELF object (an empty file"),
    (["btf", "dump", "TEXT"], "not an ELF object nor raw BTF"),
    (["disasm", "TEXT", "--program", "x"], "not an ELF object"),
    (["run", "TEXT", "--pcap", TRAFFIC], "not an ELF object"),
    (["fuzz", "elf", "TEXT", "--count", "1"], "not an ELF object"),
])
def test_not_an_elf_object(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           argv: list[str], message: str) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    empty = tmp_path / "empty.o"
    empty.write_bytes(b"")
    files = {"TEXT": str(text), "EMPTY": str(empty)}
    rc, _, err = run_cli(capsys, *[files.get(a, a) for a in argv])
    assert rc == 1 and message in err and err.count("\n") == 1


# --- fuzz --------------------------------------------------------------------------------------

@pytest.mark.parametrize("what", [["elf", str(DATA / "multi.o")], ["diff"]])
def test_fuzz_without_hypothesis_names_the_extra(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 what: list[str]) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # as if not installed
    rc, _, err = run_cli(capsys, "fuzz", *what, "--count", "2")
    assert rc == 1 and "pip install 'pybpf[fuzz]'" in err and "hypothesis" in err


@pytest.mark.parametrize("count", ["0", "-3", "x"])
@pytest.mark.parametrize("what", [["elf", str(DATA / "multi.o")], ["diff"]])
def test_fuzz_count_must_be_positive(capsys: pytest.CaptureFixture[str], count: str,
                                     what: list[str]) -> None:
    rc, _, err = run_cli(capsys, "fuzz", *what, "--count", count)
    assert rc == 2 and "--count" in err and ("must be positive" in err or "not an integer" in err)


# --- progress bars -----------------------------------------------------------------------------

def _in_a_terminal(argv: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run `python -m pybpf argv` with stdout and stderr on a pseudo-terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.environ["COLUMNS"] = "100"
        os.execv(sys.executable, [sys.executable, "-m", "pybpf", *argv])
    chunks = []
    while True:
        poller = select.poll()  # not select.select: it fails on an fd above 1023
        poller.register(fd, select.POLLIN)
        ready = poller.poll(timeout * 1000)
        if not ready:
            os.kill(pid, 9)
            break
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory: pytest.TempPathFactory) -> str:
    pkts = read_pcap(TRAFFIC)
    path = tmp_path_factory.mktemp("cap") / "big.pcap"
    write_pcap(path, (pkts * 3)[:900])
    return str(path)


def test_progress_bar_on_a_terminal_only(big_capture: str) -> None:
    rc, text = _in_a_terminal(["run", FIREWALL, "--pcap", big_capture])
    assert rc == 0 and "900 packets" in text
    assert "0/900 [" in text and "pkt/s" in text  # the bar
    rc, text = _in_a_terminal(["run", FIREWALL, "--pcap", big_capture, "--json"])
    assert rc == 0 and "/900" not in text
    proc = subprocess.run([sys.executable, "-m", "pybpf", "run", FIREWALL, "--pcap",
                           big_capture], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "/900" not in proc.stderr + proc.stdout


def test_progress_bar_for_repeat_and_fuzz() -> None:
    frame = "ff" * 12 + "0800" + "45" + "00" * 19
    rc, text = _in_a_terminal(["run", str(DATA / "multi.o"), "--program", "xdp_count",
                               "--data-in", frame, "--repeat", "3000"])
    assert rc == 0 and "/3000 [" in text and "runs/s" in text and "retval 2" in text
    rc, text = _in_a_terminal(["fuzz", "elf", str(DATA / "multi.o"), "--count", "40",
                               "--seed", "3"])
    assert rc == 0 and "/40 [" in text and "obj/s" in text
    rc, text = _in_a_terminal(["bench", "interp", "--repeat", "1", "--iterations", "100",
                               "--processes", "1"])
    assert rc == 0 and "overall" in text and "prog/s" in text
    rc, text = _in_a_terminal(["bench", "maps", "--no-kernel", "--ops", "100", "--repeat", "1"])
    assert rc == 0 and "VM ops/s" in text and "0/2 [" in text


# --- features --backend vm ---------------------------------------------------------------------

def test_features_vm_lists_only_the_vms_map_types(capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.maps import MapNotSupportedError, MapSpec
    from pybpf.maps.vmmaps import VM_MAP_TYPES
    from pybpf.uapi import MapType
    rc, out, _ = run_cli(capsys, "features", "--backend", "vm", "-j")
    listed = json.loads(out)["map_types"]
    assert rc == 0 and sorted(listed) == sorted(MapType(t).name.lower() for t in VM_MAP_TYPES)
    for absent in ("arena", "cgroup_storage", "sockmap", "stack_trace", "sk_storage"):
        assert absent not in listed
        with pytest.raises(MapNotSupportedError) as info:
            MapSpec(absent, 4, 8, 1).create("vm")
        assert "not implemented on the VM" in str(info.value)
        assert "by the kernel" not in str(info.value)
    rc, out, _ = run_cli(capsys, "features", "--backend", "vm")
    assert f"Map types on the VM ({len(listed)})" in out


# --- EPERM -------------------------------------------------------------------------------------

def _without_caps(*argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m pybpf argv` as root without CAP_BPF, CAP_SYS_ADMIN, CAP_PERFMON and
    CAP_NET_ADMIN (dropped from the bounding set, so not regained at exec)."""
    return subprocess.run(["setpriv", "--bounding-set", "-bpf,-sys_admin,-perfmon,-net_admin",
                           "--inh-caps=-all", sys.executable, "-m", "pybpf", *argv],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def _unprivileged_bpf_off() -> bool:
    try:
        return Path("/proc/sys/kernel/unprivileged_bpf_disabled").read_text().strip() != "0"
    except OSError:
        return False


needs_root_setpriv = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not _unprivileged_bpf_off(),
    reason="needs root, setpriv and kernel.unprivileged_bpf_disabled != 0 (so that bpf(2) "
           "without the capabilities is refused)")


@pytest.mark.kernel
@needs_root_setpriv
@pytest.mark.parametrize("argv,caps", [
    (["run", str(EXAMPLES / "rodata_config.o"), "--backend", "kernel"], ["CAP_BPF"]),
    (["run", FIREWALL, "--backend", "kernel", "--pcap", TRAFFIC], ["CAP_BPF", "CAP_NET_ADMIN"]),
    (["run", str(EXAMPLES / "ipv4_checksum.s"), "--backend", "kernel"], ["CAP_BPF"]),
    (["prog", "load", FIREWALL], ["CAP_BPF", "CAP_NET_ADMIN"]),
    (["prog", "load", str(EXAMPLES / "ipv4_checksum.s"), "--type", "tc"],
     ["CAP_BPF", "CAP_NET_ADMIN"]),
    (["trace", "syscalls", "--duration", "1"], ["CAP_BPF", "CAP_PERFMON"]),
    (["top", "--live", "--count", "1"], ["CAP_BPF"]),
])
def test_eperm_names_the_capabilities_and_the_sysctl(argv: list[str], caps: list[str]) -> None:
    proc = _without_caps(*argv)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "kernel.unprivileged_bpf_disabled=" in err
    for cap in caps:
        assert cap in err
    assert "lacks" in err and ".rodata" not in err and "map type" not in err


# --- top --live on lo --------------------------------------------------------------------------

LIVE_SCRIPT = r"""
import socket, sys, threading
from pybpf.cli import main
from pybpf.tools import top
N = 25
attached = threading.Event()
real_intervals = top.run_intervals
def run_intervals(*args, **kwargs):  # called once the filter is attached
    attached.set()
    return real_intervals(*args, **kwargs)
top.run_intervals = run_intervals
def send():
    attached.wait(60)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        for _ in range(N):
            tx.sendto(b"d" * 30, rx.getsockname())
t = threading.Thread(target=send)
t.start()
rc = main(["top", "--live", "-i", "lo", "--duration", "2", "--interval", "2", "--json"])
t.join()
sys.exit(rc)
"""


@pytest.mark.kernel
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None
                    or shutil.which("ip") is None,
                    reason="needs root, unshare and ip for a network namespace of its own")
def test_top_live_counts_each_loopback_packet_once() -> None:
    """N UDP datagrams on lo, in a network namespace where nothing else talks: N
    counted, not 2N (a packet socket sees the leaving and the arriving copy)."""
    proc = subprocess.run(["unshare", "--net", "sh", "-c",
                           f"ip link set lo up && exec {sys.executable} -c '{LIVE_SCRIPT}'"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    final = json.loads(proc.stdout.splitlines()[-1])
    assert final["final"]
    udp = [r for r in final["protocols"] if r["name"] == "udp"]
    assert udp and udp[0]["packets"] == 25, final
    assert udp[0]["bytes"] == 25 * (14 + 20 + 8 + 30)
    assert socket.if_nametoindex("lo") == 1  # the filter's notion of loopback


# --- never a traceback -------------------------------------------------------------------------

def test_an_unexpected_exception_is_one_line(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import pybpf.tools.objdump as objdump

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(objdump, "dump_object", broken)
    rc, out, err = run_cli(capsys, "disasm", FIREWALL)
    assert rc == 70 and out == "" and err.count("\n") == 1
    assert "internal error: ZeroDivisionError: division by zero" in err
    monkeypatch.setenv("PYBPF_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["disasm", FIREWALL])


def test_only_privilege_eperms_name_capabilities() -> None:
    """A write to a frozen map is EPERM too, but no capability would help."""
    from pybpf.kernel import KernelError, KernelVerifierError
    from pybpf.maps import MapPermissionError
    from pybpf.tools.perms import caps_for, is_permission_error
    from pybpf.uapi import ProgType
    assert is_permission_error(KernelError(1, "BPF_MAP_CREATE"))
    assert is_permission_error(KernelError(1, "BPF_PROG_LOAD"))
    assert is_permission_error(KernelVerifierError(1, "BPF_PROG_LOAD", ""))
    assert not is_permission_error(KernelVerifierError(1, "BPF_PROG_LOAD", "0: R1 ...\n"))
    assert not is_permission_error(KernelError(1, "BPF_MAP_UPDATE_ELEM"))
    assert not is_permission_error(MapPermissionError("frozen", op="update"))
    assert not is_permission_error(KernelError(13, "BPF_PROG_LOAD"))
    assert caps_for([ProgType.SOCKET_FILTER]) == ["CAP_BPF"]
    assert caps_for([ProgType.XDP, ProgType.TRACEPOINT]) == ["CAP_BPF", "CAP_NET_ADMIN",
                                                             "CAP_PERFMON"]
    assert caps_for([ProgType.CGROUP_SKB, ProgType.SK_REUSEPORT]) == ["CAP_BPF"]
