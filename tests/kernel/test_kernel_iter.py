"""BPF iterators in the kernel (tests/kernel/data/iters.c): iter/task, iter/bpf_map and
iter/bpf_map_elem attached with BPF_TRACE_ITER links and read as files. Where the
kernel refuses iterator links (lockdown, missing CAP_PERFMON) the tests skip with
its answer."""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import pybpf
from pybpf.kernel import KernelError, is_bpffs
from pybpf.kernel.iter import IterLink, attach_iter, read_iter

pytestmark = pytest.mark.kernel

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def iters() -> Iterator[Any]:
    try:
        obj = pybpf.load(DATA / "iters.o").instantiate("kernel")
    except KernelError as e:
        pytest.skip(f"the kernel refuses iterator programs: {e}")
    try:
        try:
            attach_iter(obj.programs["dump_task"].handle).close()
        except KernelError as e:
            if e.errno in (errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, errno.EINVAL):
                pytest.skip(f"the kernel refuses iterator links: {e}")
            raise
        yield obj
    finally:
        obj.close()


def _lines(data: bytes) -> list[list[str]]:
    return [line.split(" ", 2) for line in data.decode().splitlines()]


def test_task_iterator_sees_this_process(iters: Any) -> None:
    rows = _lines(read_iter(iters.programs["dump_task"].handle, target="task"))
    pids = {int(tgid) for tgid, _pid, _comm in rows}
    assert os.getpid() in pids
    assert len(rows) > 2
    me = [r for r in rows if int(r[1]) == os.getpid()]
    assert me and me[0][2] == Path(f"/proc/{os.getpid()}/comm").read_text().strip()


def test_task_iterator_limited_to_one_process(iters: Any) -> None:
    with attach_iter(iters.programs["dump_task"].handle, task_pid=os.getpid(),
                     target="task") as link:
        assert isinstance(link, IterLink) and link.info().kind == "iter"
        rows = _lines(link.read())
        again = _lines(link.read())  # every read is a new pass
    assert rows and {int(r[0]) for r in rows} == {os.getpid()}
    assert {r[1] for r in again} == {r[1] for r in rows} or len(again) == len(rows)
    assert link.closed


def test_bpf_map_iterator_lists_our_maps(iters: Any) -> None:
    rows = _lines(read_iter(iters.programs["dump_map"].handle))
    ids = {int(i): name for i, name in rows}
    pairs = iters.maps["pairs"]
    assert ids.get(pairs.id) == "pairs"


def test_map_elem_iterator_over_one_map(iters: Any) -> None:
    pairs = iters.maps["pairs"]
    want = {k: k * 1000 + 7 for k in (1, 2, 3, 9)}
    for k, v in want.items():
        pairs[k] = v
    try:
        rows = _lines(read_iter(iters.programs["dump_pairs"].handle, map=pairs))
        assert {int(k): int(v) for k, v in rows} == want
        with attach_iter(iters.programs["dump_pairs"].handle, map=pairs.fd) as link:
            with link.open() as f:
                assert len(f.read().splitlines()) == 4
    finally:
        for k in want:
            del pairs[k]


def test_pinned_iterator_reads_as_a_file(iters: Any) -> None:
    if not is_bpffs("/sys/fs/bpf"):
        pytest.skip("no bpffs at /sys/fs/bpf")
    path = f"/sys/fs/bpf/pybpf-iter-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with attach_iter(iters.programs["dump_task"].handle, task_pid=os.getpid()) as link:
        link.pin(path)
        try:
            text = Path(path).read_bytes()
            assert {int(r[0]) for r in _lines(text)} == {os.getpid()}
        finally:
            link.unpin()
    assert not os.path.exists(path)


def test_iterator_argument_errors(iters: Any) -> None:
    prog = iters.programs["dump_pairs"].handle
    with pytest.raises(ValueError, match="one target argument"):
        attach_iter(prog, map=iters.maps["pairs"], task_pid=1)
    with pytest.raises(ValueError, match="unknown cgroup iterator order"):
        attach_iter(prog, cgroup_id=1, order="sideways")
    # bpf_map_elem needs its map: the kernel says EINVAL (or EBADF)
    with pytest.raises(KernelError):
        attach_iter(prog)


def test_program_attach_reads_the_iterator_from_its_section(iters: Any) -> None:
    """Program.attach() on SEC("iter/task") and SEC("iter/bpf_map_elem"): the options
    reach the link, the program keeps the link, and it names its target."""
    prog = iters.programs["dump_task"]
    with prog.attach(task_pid=os.getpid()) as link:
        assert isinstance(link, IterLink) and link in prog.links
        assert link.info().kind == "iter"
        assert {int(r[0]) for r in _lines(link.read())} == {os.getpid()}
    pairs = iters.maps["pairs"]
    pairs[5] = 5007
    try:
        with iters.programs["dump_pairs"].attach(map=pairs) as link:
            assert _lines(link.read()) == [["5", "5007"]]
    finally:
        del pairs[5]
    with pytest.raises(pybpf.PyBPFError, match="takes only .*task_pid"):
        prog.attach(pid=1)
