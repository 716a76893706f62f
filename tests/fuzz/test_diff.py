"""The differential harness: generated programs are accepted by the verifier and give
the same r0 and memory on the VM and in the kernel."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from pybpf import check, isa
from pybpf.fuzz import FuzzCase, KernelSide, Outcome, compare, fuzz_cases, run_vm

# Every instruction form the issue asks the generator to cover.
ALU_FORMS = {(cls | op | src) for cls in (isa.BPF_ALU, isa.BPF_ALU64)
             for op in (isa.BPF_ADD, isa.BPF_SUB, isa.BPF_MUL, isa.BPF_DIV, isa.BPF_OR,
                        isa.BPF_AND, isa.BPF_LSH, isa.BPF_RSH, isa.BPF_MOD, isa.BPF_XOR,
                        isa.BPF_MOV, isa.BPF_ARSH) for src in (isa.BPF_K, isa.BPF_X)}
JMP_FORMS = {(cls | op | src) for cls in (isa.BPF_JMP, isa.BPF_JMP32)
             for op in isa.COND_JUMPS for src in (isa.BPF_K, isa.BPF_X)}


@pytest.fixture(scope="module")
def kernel_side():  # type: ignore[no-untyped-def]
    from tests.conftest import kernel_available
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {reason}")
    side = KernelSide()
    yield side
    side.close()


def _covered(seen: set[int], atomics: set[int], v4: set[tuple[int, int]], calls: int,
             loops: int) -> list[str]:
    """What the generated programs have not yet shown (empty: everything)."""
    need = {"alu": ALU_FORMS, "jmp": JMP_FORMS, "neg/bswap": {0x87, 0x84, 0xD4, 0xDC, 0xD7},
            "loads": {0x71, 0x69, 0x61, 0x79, 0x91, 0x89, 0x81},
            "stores": {0x72, 0x6A, 0x62, 0x7A, 0x73, 0x6B, 0x63, 0x7B}}
    missing = [f"{k}: {sorted(hex(o) for o in v - seen)}" for k, v in need.items()
               if not v <= seen]
    if len(atomics) != 20:  # 10 operations x {w, dw}
        missing.append(f"atomics: {len(atomics)} of 20")
    if len(v4) < 10:  # sdiv/smod (off 1) and movsx (off 8/16/32)
        missing.append(f"v4 forms: {len(v4)}")
    if not calls or not loops:
        missing.append(f"calls {calls}, loops {loops}")
    return missing


def test_generator_covers_the_instruction_set() -> None:
    """500 generated programs show every instruction form; hypothesis's generation is
    not bit-for-bit stable across a whole test session, so a second and third batch
    (other seeds) may complete the set, and a form still missing after 1,500 programs
    is a generator defect."""
    seen: set[int] = set()
    atomics: set[int] = set()
    v4: set[tuple[int, int]] = set()
    counts = {"calls": 0, "loops": 0}

    def batch(seed_value: int) -> None:
        @seed(seed_value)
        @settings(max_examples=500, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(fuzz_cases())
        def collect(case: FuzzCase) -> None:
            insns = isa.decode(case.code)
            for pc, insn in zip(isa.slot_offsets(insns), insns):
                seen.add(insn.opcode)
                kind = isa.classify(insn)
                if kind == isa.InsnKind.ATOMIC:
                    atomics.add(insn.imm | (insn.size << 16))
                if insn.off and insn.cls in (isa.BPF_ALU, isa.BPF_ALU64):
                    v4.add((insn.opcode, insn.off))
                counts["calls"] += kind == isa.InsnKind.CALL
                target = isa.jump_target(insn, pc)
                counts["loops"] += (kind == isa.InsnKind.JCOND and target is not None
                                    and target <= pc)
        collect()

    missing: list[str] = []
    for seed_value in (7, 8, 9):
        batch(seed_value)
        missing = _covered(seen, atomics, v4, counts["calls"], counts["loops"])
        if not missing:
            break
    assert not missing, missing


@pytest.mark.kernel
@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_fast_differential_subset(kernel_side: KernelSide, engine: str) -> None:
    """A few hundred generated programs agree on r0 and memory, on the interpreter and
    under the JIT (the campaign runs `pybpf fuzz diff [--engine jit]` for the long
    version)."""
    if engine == "jit":
        pytest.importorskip("llvmlite")
    results = {"agreed": 0}

    @seed(20261121)
    @settings(max_examples=300, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzz_cases())
    def check(case: FuzzCase) -> None:
        vm_out, k_out = run_vm(case, engine), kernel_side.run(case)
        assert k_out.error is None, f"generator made a program the kernel rejects: {k_out.error}"
        assert compare(case, vm_out, k_out) is None, compare(case, vm_out, k_out)
        results["agreed"] += 1

    check()
    assert results["agreed"] == 300


def test_compare_notices_differences() -> None:
    case = FuzzCase(b"", b"\0" * 14)
    same = Outcome(1, b"ab")
    assert compare(case, same, Outcome(1, b"ab")) is None
    assert "r0" in (compare(case, same, Outcome(2, b"ab")) or "")
    assert "memory" in (compare(case, same, Outcome(1, b"ac")) or "")
    assert "VM failed" in (compare(case, Outcome(None, b"", "boom"), same) or "")


@given(st.data())
@settings(max_examples=50, deadline=None)
def test_generated_programs_pass_the_loader_checks(data: st.DataObject) -> None:
    case = data.draw(fuzz_cases())
    check.load(case.code)
    assert run_vm(case).error is None
