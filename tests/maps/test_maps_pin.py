"""Pinning: a VM map with shared memory opened by a second process while the first
runs programs on it; kernel maps in bpffs; Map.from_pinned tells them apart."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pybpf.asm import assemble
from pybpf.maps import (
    Map,
    MapExistsError,
    MapInvalidError,
    MapKeyError,
    MapNotSupportedError,
    MapPinError,
    MapSpec,
    RingBufReader,
    unpin,
)
from pybpf.uapi import MapFlag
from pybpf.vm import VM

SRC = str(Path(__file__).resolve().parents[2] / "src")


def child(script: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


def test_mmapable_array_shared_with_a_second_process(tmp_path: Path) -> None:
    spec = MapSpec("array", 4, 8, 4, flags=MapFlag.MMAPABLE, name="shared")
    pin = tmp_path / "shared.map"
    with spec.create("vm") as m:
        m[0] = 1
        m.pin(pin)
        vm = VM(assemble(f"""
            *(u32 *)(r10 -4) = 0
            r1 = map_fd({m.fd})
            r2 = r10
            r2 += -4
            call bpf_map_lookup_elem
            if r0 == 0 goto out
            r1 = 1
            lock *(u64 *)(r0 +0) += r1
            r0 = *(u64 *)(r0 +0)
        out:
            exit"""), maps=[m])
        proc = child(f"""
            import sys
            from pybpf.maps import Map
            m = Map.from_pinned({str(pin)!r})
            print(m.spec.type_name, m.max_entries, int.from_bytes(m[0], "little"), flush=True)
            sys.stdin.readline()                      # the parent ran its program
            print(int.from_bytes(m[0], "little"), flush=True)
            m[3] = 777                                # written from this process
            print("done", flush=True)
        """)
        try:
            assert proc.stdout.readline().split() == ["array", "4", "1"]
            for _ in range(5):
                vm.execute()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "6"
            assert proc.stdout.readline().strip() == "done"
            assert m[3] == u64(777)
        finally:
            proc.communicate(timeout=30)
        assert proc.returncode == 0
    # the pin outlives the creator; unpin removes descriptor and memory
    with Map.from_pinned(pin) as again:
        assert again[3] == u64(777) and again[0] == u64(6)
        backing = again.backing_path
    unpin(pin)
    assert not pin.exists() and not os.path.exists(backing)


def test_ringbuf_producer_in_another_process(tmp_path: Path) -> None:
    pin = tmp_path / "events.rb"
    with MapSpec("ringbuf", 0, 0, 8192).create() as rb, RingBufReader(rb) as reader:
        rb.pin(pin)
        proc = child(f"""
            from pybpf.asm import assemble
            from pybpf.maps import Map
            from pybpf.vm import VM
            rb = Map.from_pinned({str(pin)!r})
            vm = VM(assemble(f'''
                *(u64 *)(r10 -8) = r1
                r1 = map_fd({{rb.fd}})
                r2 = r10
                r2 += -8
                r3 = 8
                r4 = 0
                call bpf_ringbuf_output
                exit'''), maps=[rb])
            for i in range(20):
                assert vm.execute(r1=i).r0 == 0
            print("sent", flush=True)
        """)
        got: list[bytes] = []
        while len(got) < 20:
            recs = reader.poll(10.0)
            assert recs, "no records from the producer process"
            got += recs
        assert proc.stdout.readline().strip() == "sent"
        proc.communicate(timeout=30)
        assert got == [u64(i) for i in range(20)]
    unpin(pin)


def test_pin_rules(tmp_path: Path) -> None:
    with MapSpec("hash", 4, 4, 4).create() as h:
        with pytest.raises(MapNotSupportedError, match="shared memory"):
            h.pin(tmp_path / "h")
    with MapSpec("array", 4, 4, 4, flags=MapFlag.MMAPABLE).create() as a:
        a.pin(tmp_path / "a")
        with pytest.raises(MapExistsError):
            a.pin(tmp_path / "a")
        a.freeze()
        assert Map.from_pinned(tmp_path / "a").frozen  # the descriptor follows the freeze
        unpin(tmp_path / "a")
    with pytest.raises(MapKeyError):
        Map.from_pinned(tmp_path / "missing")
    (tmp_path / "junk").write_text("not a map")
    with pytest.raises(MapInvalidError):
        Map.from_pinned(tmp_path / "junk")


@pytest.mark.kernel
def test_kernel_map_pins_in_bpffs() -> None:
    path = f"/sys/fs/bpf/pybpf-maps-test-{os.getpid()}"
    with MapSpec("hash", 4, 8, 4, name="pinned").create("kernel") as m:
        m[1] = 5
        m.pin(path)
    try:
        with Map.from_pinned(path) as again:
            assert again.backend == "kernel" and again.spec.type_name == "hash"
            assert again[1] == u64(5) and again.name == "pinned"
    finally:
        unpin(path)
    assert not os.path.exists(path)


# --- LIBBPF_PIN_BY_NAME: pin under a root, or reuse a compatible pinned map ---------------



@pytest.mark.kernel
def test_pin_by_name_creates_pins_then_reuses(bpffs: str) -> None:
    from pybpf.maps.pinbyname import pin_or_reuse
    spec = MapSpec("hash", 4, 8, 16, name="conns", contents=[(1, 10)])
    m, path = pin_or_reuse("conns", spec, bpffs)
    try:
        assert path == os.path.join(bpffs, "conns") and os.path.exists(path)
        assert not m.reused and m[1] == u64(10)
        m[2] = 20
        again, path2 = pin_or_reuse("conns", spec, bpffs)
        with again:
            # the same kernel map: what one wrote the other reads; contents not rewritten
            assert again.reused and path2 == path and again.id == m.id
            assert again[2] == u64(20) and again[1] == u64(10)
    finally:
        m.close()


@pytest.mark.kernel
@pytest.mark.parametrize("change,field,message", [
    ({"max_entries": 32}, "max_entries", "max_entries 16 (pinned) vs 32 (this object)"),
    ({"value_size": 4}, "value_size", "value_size 8 (pinned) vs 4 (this object)"),
    ({"type": "lru_hash"}, "type", "type hash (pinned) vs lru_hash (this object)"),
    ({"flags": MapFlag.NO_PREALLOC}, "flags", "flags 0x0 (pinned) vs 0x1 (this object)"),
])
def test_incompatible_pinned_map_is_refused_naming_the_difference(
        bpffs: str, change: dict, field: str, message: str) -> None:
    from pybpf.maps.pinbyname import pin_or_reuse
    spec = MapSpec("hash", 4, 8, 16, name="conns")
    m, _ = pin_or_reuse("conns", spec, bpffs)
    with m:
        with pytest.raises(MapPinError) as e:
            pin_or_reuse("conns", spec.with_(**change), bpffs)
        assert str(e.value).startswith("map 'conns': the map pinned at ")
        assert message in str(e.value) and field in str(e.value)
        assert "EINVAL" not in str(e.value)   # no call failed: no errno wording


@pytest.mark.kernel
def test_pin_root_must_be_a_bpffs(tmp_path: Path) -> None:
    from pybpf.maps.pinbyname import pin_or_reuse
    with pytest.raises(MapPinError,
                       match="^map .conns. is pinned by name .* pin root .* is not a bpffs"):
        pin_or_reuse("conns", MapSpec("hash", 4, 8, 16, name="conns"), str(tmp_path))


@pytest.mark.kernel
def test_something_else_pinned_there_is_not_taken_for_a_map(bpffs: str) -> None:
    from pybpf.kernel import prog_load
    from pybpf.maps.pinbyname import pin_or_reuse
    with prog_load(1, assemble("r0 = 0\nexit"), name="notamap") as prog:  # socket filter
        prog.pin(os.path.join(bpffs, "conns"))
    with pytest.raises(MapInvalidError, match="is a prog, not a map"):
        pin_or_reuse("conns", MapSpec("hash", 4, 8, 16, name="conns"), bpffs)


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "../escape"])
def test_pin_names_cannot_leave_the_pin_root(bpffs: str, name: str) -> None:
    from pybpf.maps.pinbyname import pin_or_reuse
    before = sorted(os.listdir(bpffs))  # a new bpffs may hold the kernel's *.debug iterators
    with pytest.raises(MapPinError, match="cannot be pinned by name"):
        pin_or_reuse(name, MapSpec("hash", 4, 8, 16), bpffs)
    assert sorted(os.listdir(bpffs)) == before
