"""Linking: labels, sub-programs and maps resolved by name, and every unresolvable
reference or bad operand a BuilderError that names the function, the name and the
Python line that used it."""

from __future__ import annotations

import pytest

from pybpf import check, isa
from pybpf.builder import (FP, R0, R1, R2, BuilderError, DuplicateLabelError, FunctionBuilder,
                           JumpRangeError, ObjectBuilder, OperandError, Reg,
                           UndefinedFunctionError, UndefinedLabelError, UndefinedMapError,
                           UnknownHelperError)
from pybpf.errors import PyBPFError
from pybpf.tools.objdump import dump_program, format_program


def _one(section: str = "xdp") -> tuple[ObjectBuilder, FunctionBuilder]:
    ob = ObjectBuilder()
    return ob, ob.program("prog", section)


def test_labels_resolve_backward_and_forward_across_lddw() -> None:
    ob, p = _one()
    p.mov64(R0, 0)
    p.label("top")
    p.lddw(R1, 1 << 40)                  # two slots
    p.jeq(R0, 3, "done")
    p.add64(R0, 1)
    p.ja("top")
    p.label("done").exit()
    insns = ob.build().programs["prog"].instructions
    pcs = isa.slot_offsets(insns)
    # jeq at pc 3 -> done at pc 6; ja at pc 5 -> top at pc 1
    assert pcs == [0, 1, 3, 4, 5, 6]
    assert insns[2].off == 6 - 4 and insns[4].off == 1 - 6
    check.check_program(insns)
    with ob.build().instantiate("vm") as obj:
        assert obj.programs["prog"].test_run(bytes(64)).retval == 3


def test_ja32_reaches_beyond_16_bits_where_ja_cannot() -> None:
    ob, p = _one()
    p.ja32("far")
    for _ in range(40000):
        p.mov64(R0, 1)
    p.label("far").ret(2)
    prog = ob.build().programs["prog"]
    assert prog.instructions[0].imm == 40000
    ob2, q = _one()
    q.jeq(R0, 0, "far")
    for _ in range(40000):
        q.mov64(R0, 1)
    q.label("far").ret(2)
    with pytest.raises(JumpRangeError, match=r"'far' is \+40000 slots away.*ja32"):
        ob2.build()


def test_undefined_label_names_function_line_and_suggestion() -> None:
    ob, p = _one()
    p.label("done")
    p.jeq(R0, 0, "dnoe")  # this line is named in the error
    p.exit()
    with pytest.raises(UndefinedLabelError) as e:
        ob.build()
    msg = str(e.value)
    assert "function prog" in msg and "'dnoe'" in msg and "did you mean 'done'" in msg
    assert "test_builder_link.py:" in msg


def test_label_after_the_last_instruction_is_an_error() -> None:
    ob, p = _one()
    p.ja("end").exit().label("end")
    with pytest.raises(UndefinedLabelError, match="marks no instruction"):
        ob.build()


def test_labels_are_local_to_their_function() -> None:
    ob, p = _one()
    p.call_func("sub").ja("inner").exit()
    ob.function("sub").label("inner").ret(0)
    with pytest.raises(UndefinedLabelError, match="'inner'"):
        ob.build()


def test_duplicate_label() -> None:
    _, p = _one()
    p.label("a")
    with pytest.raises(DuplicateLabelError):
        p.label("a")


def test_undefined_map_and_function_and_helper() -> None:
    ob, p = _one()
    ob.map("counts", "array", key=4, value=8, max_entries=1)
    p.ld_map_fd(R1, "count").ret(0)
    with pytest.raises(UndefinedMapError, match="'count'.*did you mean 'counts'"):
        ob.build()
    ob, p = _one()
    p.call_func("helper_fn").exit()
    with pytest.raises(UndefinedFunctionError, match="undefined function 'helper_fn'"):
        ob.build()
    _, p = _one()
    with pytest.raises(UnknownHelperError, match="did you mean bpf_map_lookup_elem"):
        p.call("map_lookup_elm")


def test_tail_call_slot_must_name_a_program() -> None:
    ob, p = _one()
    p.ret(0)
    ob.map("jt", "prog_array", max_entries=2, values={0: "nope"})
    with pytest.raises(UndefinedFunctionError, match="no program 'nope'"):
        ob.build()
    with pytest.raises(OperandError, match="slot 5"):
        ob.map("jt2", "prog_array", max_entries=2, values={5: "prog"})


def test_map_value_offset_checked() -> None:
    ob, p = _one()
    ob.map("cfg", "array", key=4, value=8, max_entries=1)
    p.ld_map_value(R1, "cfg", 8).ret(0)
    with pytest.raises(OperandError, match="beyond map cfg"):
        ob.build()


@pytest.mark.parametrize("call", [
    lambda p: p.mov64(1, R0),                  # dst not a register
    lambda p: p.add64(R0, 1 << 32),            # imm beyond 32 bits
    lambda p: p.add64(R0, 1.5),
    lambda p: p.ldx("q", R0, R1, 0),           # bad size
    lambda p: p.ldxw(R0, R1, 40000),           # offset beyond 16 bits
    lambda p: p.ldxs("dw", R0, R1),
    lambda p: p.atomic_add("b", R0, 0, R1),
    lambda p: p.movsx64(R0, R1, 12),
    lambda p: p.lddw(R0, 1 << 64),
    lambda p: p.jeq(R0, 0, None),
    lambda p: p.ld_map_fd(R1, ""),
    lambda p: Reg(11),
])
def test_bad_operands_are_operand_errors(call) -> None:  # type: ignore[no-untyped-def]
    _, p = _one()
    with pytest.raises(OperandError) as e:
        call(p)
    assert isinstance(e.value, PyBPFError)
    assert not p.items


def test_empty_function_and_duplicate_names() -> None:
    ob, p = _one()
    with pytest.raises(BuilderError, match="no instructions"):
        ob.build()
    with pytest.raises(BuilderError, match="exists already"):
        ob.function("prog")
    with pytest.raises(BuilderError, match="defined twice"):
        ob.map("m", "array", max_entries=1)
        ob.map("m", "hash", max_entries=1)


def test_map_spec_checks_apply_when_the_map_is_made() -> None:
    from pybpf.maps import MapSpecError
    ob = ObjectBuilder()
    with pytest.raises(MapSpecError):
        ob.map("m", "array", key=8, value=8, max_entries=1)  # array keys are 4 bytes
    with pytest.raises(PyBPFError, match="unknown type"):
        ob.map("m", "hash", key="u128", value=8)


def test_sections_set_program_types_and_type_overrides() -> None:
    ob = ObjectBuilder()
    ob.program("a", "socket").ret(0)
    ob.program("b", "tracepoint/syscalls/sys_enter_write").ret(0)
    ob.program("c", "my_section", type="tc").ret(0)
    spec = ob.build()
    assert spec.programs["a"].type == 1                     # SOCKET_FILTER
    assert spec.programs["b"].type == 5                     # TRACEPOINT
    assert spec.programs["b"].attach_to == "syscalls/sys_enter_write"
    assert spec.programs["c"].type == 3                     # SCHED_CLS
    assert spec.license == "GPL" and spec.programs["a"].license == "GPL"


def test_disassembly_shows_the_python_source_lines() -> None:
    ob, p = _one()
    ob.map("m", "array", key=4, value=8, max_entries=1)
    p.stw(FP, -4, 0)
    p.ld_map_fd(R1, "m")  # the map line
    p.mov64(R2, FP).add64(R2, -4).call("map_lookup_elem")
    p.ret(0)
    text = format_program(dump_program(ob.build().programs["prog"]))
    assert 'p.ld_map_fd(R1, "m")  # the map line' in text
    assert "test_builder_link.py:" in text
    assert "r1 = 0x0 ll  ; map m" in text
    assert "call bpf_map_lookup_elem" in text
    ob2 = ObjectBuilder(source_lines=False)
    ob2.program("q", "xdp").ret(0)
    assert ob2.build().programs["q"].line_info == []


def test_global_variable_errors() -> None:
    ob, p = _one()
    ob.global_var("limit", "u32", 5, const=True)
    p.ld_global(R1, "limt").ret(0)
    with pytest.raises(UndefinedMapError, match="global variable 'limt'.*did you mean 'limit'"):
        ob.build()
    ob, p = _one()
    ob.global_var("limit", "u32", 5, const=True)
    p.ld_global(R1, "limit", 4).ret(0)
    with pytest.raises(OperandError, match="beyond global limit"):
        ob.build()
    with pytest.raises(BuilderError, match="defined twice"):
        ob.global_var("limit", "u64")
    with pytest.raises(OperandError, match="2 bytes of value for a 8-byte type"):
        ob.global_var("x", "u64", b"ab")
    with pytest.raises(OperandError, match="not .rodata"):
        ob.global_var("y", "u64", section=".maps")
    ob.map(".rodata", "array", key=4, value=4, max_entries=1)
    ob.program("q", "xdp").ret(0)
    with pytest.raises(BuilderError, match="name of a data section"):
        ob.build()


def test_bad_type_descriptions() -> None:
    import ctypes

    from pybpf.builder import Struct

    class Bits(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32, 3), ("b", ctypes.c_uint32, 5)]

    ob = ObjectBuilder()
    for bad in (Struct("s", [("a",)]), Struct("s", [(1, "u8")]), Bits, True, object(), 3.5,
                ["u8"]):
        with pytest.raises(OperandError):
            ob.map("m", "hash", key=4, value=bad, max_entries=1)
    with pytest.raises(OperandError, match="values maps slot indexes"):
        ob.map("jt", "prog_array", max_entries=2, values=["a"])  # type: ignore[arg-type]


def test_map_value_and_kfunc_references() -> None:
    from pybpf.objects.spec import ExternRef, MapRef
    ob, p = _one()
    ob.map("cfg", "array", key=4, value=16, max_entries=1)
    p.ld_map_value(R1, "cfg", 8)
    p.call_kfunc("bpf_rcu_read_lock")
    p.ret(0)
    prog = ob.build().programs["prog"]
    assert prog.map_refs == [MapRef(0, "cfg", "value", 8)]
    assert prog.extern_refs == [ExternRef(2, "bpf_rcu_read_lock", ".ksyms", "call")]
    assert prog.instructions[1].src == isa.BPF_PSEUDO_KFUNC_CALL
