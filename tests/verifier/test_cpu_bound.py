"""bpf_get_smp_processor_id returns at most nr_cpu_ids - 1 (the possible CPUs of the
machine the kernel runs on), so a map value indexed by the CPU number is in bounds on a
small machine, as the running kernel finds (do_refine_retval_range)."""

from __future__ import annotations

import pytest

from pybpf.cpus import possible_cpus
from pybpf.verifier import verify
from tests.conftest import kernel_available
from tests.verifier.kernelcmp import kernel_outcome, pybpf_outcome
from tests.verifier.table import LOOKUP, MAPS, SOCKET_FILTER, Case, M

# map 5's value is 48 bytes: every CPU number of a machine with <= 48 CPUs indexes it
CPU_INDEX = Case("cpu_index", SOCKET_FILTER,
                 LOOKUP.replace(M(0), M(5)) + "if r0 == 0x0 goto +4\nr6 = r0\n"
                 "call bpf_get_smp_processor_id\nr6 += r0\nr0 = *(u8 *)(r6 +0)\n"
                 "r0 = 0\nexit")


def test_cpu_number_bounded_by_possible_cpus():
    r = verify(CPU_INDEX.insns(), CPU_INDEX.prog_type, maps={5: MAPS[5]}, log_level=2)
    n = possible_cpus()
    assert f"smax=umax=smax32=umax32={n - 1}," in r.log or n == 1
    assert r.accepted == (n <= 48), r.error


@pytest.mark.kernel
def test_cpu_number_bound_is_the_kernels():
    if not kernel_available()[0]:
        pytest.skip("bpf(2) unavailable")
    k, p = kernel_outcome(CPU_INDEX), pybpf_outcome(CPU_INDEX)
    assert (k.accepted, k.error) == (p.accepted, p.error)
