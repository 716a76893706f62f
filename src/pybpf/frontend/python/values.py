"""What an expression lowers to: a typed LLVM value, an untyped integer literal, or a
name the compiler gives meaning (a map, the context, a type, a function)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llvmlite import ir

from .types import FieldInfo, Ty


@dataclass
class Val:
    """`ty` None with `const` set: an integer literal that takes the type it meets.
    Struct and array values are held by address (`v` points at them). `kind` marks the
    non-values: "map", "ctx", "type", "func", "str", "none"; `ref` holds what."""

    ty: Ty | None
    v: ir.Value | None = None
    const: int | None = None
    kind: str = ""
    ref: Any = None
    fresh: bool = False  # a struct temporary nobody else refers to

    def what(self) -> str:
        """What the value is, for messages: "a u32", "the context", "an integer
        constant"..."""
        if self.kind:
            name = _KINDS.get(self.kind, self.kind)
        else:
            name = "integer constant" if self.ty is None else str(self.ty)
        if name in ("context", "None"):
            return "the context" if name == "context" else "None"
        return ("an " if name[0] in "aeiou" else "a ") + name


_KINDS = {"ctx": "context", "map": "map", "type": "type", "func": "function",
          "str": "string", "none": "None", "builtin": "builtin function",
          "program": "program"}


@dataclass
class LVal:
    """A place in memory: `ptr` to a `ty` (a bit field of its storage unit if `field`
    has bit_size)."""

    ptr: ir.Value
    ty: Ty
    field: FieldInfo | None = None
    align: int = 1
