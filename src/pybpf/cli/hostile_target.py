"""Hostile command lines: a random path through the CLI's argparse tree with random
options and values (numbers out of range and malformed, choices and non-choices, hex
and @FILE arguments, files that are mutated objects, captures, assembly, garbage,
missing or directories). Commands that run long by design or act on the live system
(bench, fuzz, trace, top --live, features on the kernel) are parsed only; the others
run in full.

The CLI's own target of the hostile harness (pybpf.hostile): the harness sits below the
CLI and names this module in its table of built-in targets (as pybpf.backend names its
implementations), so the CLI imports the harness and not the other way round."""

from __future__ import annotations

import argparse
import json
import random

from ..hostile.case import Case, Env

_NUMBERS = ("0", "1", "2", "-1", "10", "0x10", "1e3", "99999999999999999999", "4294967296",
            "nan", "inf", "-inf", "0.5", "abc", "", " 7", "1_000")
_FILES = ("obj0.o", "obj1.o", "obj2.o", "mut.o", "prog.s", "prog.hex", "prog.bin",
          "traffic.pcap", "mut.pcap", "map.json", "empty", "missing.o", ".", "/dev/null",
          "-", "btf.raw", "gen.btf")
_ASM = ("r0 = 1", "r0 = *(u32 *)(r1 + 0)", "exit", "call 6", "r1 = r10", "r1 += -8",
        "if r1 > 2 goto +1", "lddw r0, 0x1122334455667788", "r2 = 4096",
        "*(u64 *)(r10 - 8) = r1", "goto -1", "r0 = map_fd(3)", "call 112", "r0 /= r0",
        "garbage %%%", "r11 = 1", "\x00\xff")


def _walk(parser: argparse.ArgumentParser) -> list[tuple[list[str], argparse.ArgumentParser]]:
    """Every (command path, parser) of the tree."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for path, p in _walk(sub):
                    out.append(([name] + path, p))
    if not out:
        return [([], parser)]
    return out


def _value(rng: random.Random, action: argparse.Action) -> str:
    if action.choices and rng.random() < 0.85:
        return str(rng.choice(list(action.choices)))
    dest = action.dest
    if dest in ("mem", "data_in", "ctx_in"):
        n = rng.choice([0, 1, 4, 64, 3072, 3073, 5000, 70000, 1 << 20])
        if rng.random() < 0.3:
            return "@" + rng.choice(_FILES)
        return rng.randbytes(n).hex() if rng.random() < 0.9 else rng.choice(["zz", "0", "@"])
    if dest in ("set",):
        return rng.choice(["x=1", "cfg=0x1f", "=", "a", "verbose=true", "name=\"str\"",
                           "v=[1,2]", "x=" + "9" * 50, "nope=1"])
    if dest == "map":
        return rng.choice(["m=@map.json", "=", "m", "stats=@missing.json", "x=@/dev/null"])
    if dest == "record_type":
        return rng.choice(["events=struct event", "=", "x=int,long", "rb=void"])
    if dest in ("repeat", "budget", "count", "iterations", "ops", "top", "pid",
                "max_segments", "log_level"):
        # valid values stay small: a run's time is the user's (repeat x one run)
        return rng.choice(_NUMBERS)
    if dest in ("duration", "interval"):
        return rng.choice(["0", "-1", "0.01", "nan", "inf", "x"])
    if dest in ("output", "pcap_out", "out"):
        return rng.choice(["out.bin", "out.pcap", "outdir", "/dev/null", ".", "missing/dir/x"])
    if dest in ("file", "seeds", "pcap", "memory"):
        return rng.choice(_FILES)
    if dest in ("program", "type", "interface", "license"):
        return rng.choice(["xdp", "tc", "socket_filter", "prog", "", "x" * 300, "lo",
                           "raw_tp", "GPL", "kprobe", "xdp_prog", "handle"])
    if dest == "seed":
        return rng.choice(_NUMBERS)
    return rng.choice(_FILES + _NUMBERS)


def generate(rng: random.Random, seed: int, env: Env) -> Case:
    from ..hostile import gen_btf, gen_elf, gen_pcap
    from .main import build_parser
    paths = _walk(build_parser())
    path, parser = rng.choice(paths)
    argv = list(path)
    files: dict[str, str] = {}
    positionals = [a for a in parser._actions if not a.option_strings
                   and not isinstance(a, argparse._SubParsersAction)]
    optionals = [a for a in parser._actions if a.option_strings
                 and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]
    for action in rng.sample(optionals, rng.randrange(0, min(5, len(optionals)) + 1)):
        opt = rng.choice(action.option_strings)
        if action.nargs == 0:
            argv.append(opt)
        else:
            for _ in range(rng.choice([1, 1, 2]) if isinstance(action, argparse._AppendAction)
                           else 1):
                argv += [opt, _value(rng, action)]
    for action in positionals:
        if action.nargs in ("*", "?") and rng.random() < 0.5:
            continue
        for _ in range(rng.choice([1, 2]) if action.nargs in ("+", "*") else 1):
            argv.append(_value(rng, action))
    if rng.random() < 0.05:
        argv.insert(rng.randrange(len(argv) + 1), rng.choice(["--bogus", "-", "--", "-h",
                                                              "x" * 1000, "\udcff"]))
    if rng.random() < 0.05:
        argv = argv[:rng.randrange(len(argv) + 1)]
    # the per-case files the arguments may name
    mut = gen_elf.generate(rng, seed, env)
    cap = gen_pcap.generate(rng, seed, env) if rng.random() < 0.5 else None
    blob = gen_btf.generate(rng, seed, env) if "gen.btf" in argv else None
    files["prog.s"] = "\n".join(rng.choice(_ASM) for _ in range(rng.randrange(0, 12))) + "\n"
    files["prog.hex"] = rng.randbytes(8 * rng.randrange(0, 20)).hex()
    files["map.json"] = rng.choice([
        json.dumps([{"key": rng.randrange(100), "value": rng.randrange(1 << 40)}
                    for _ in range(rng.randrange(0, 4))]),
        json.dumps({"1": 2}), "{", "[1, 2]", json.dumps({"key": [1] * 100}), "null"])
    return Case("cli", seed, "argv", mut.data,
                {"argv": argv, "files": files, "bin": rng.randbytes(8 * rng.randrange(0, 20)).hex(),
                 "pcap": cap.data.hex() if cap is not None and cap.data else None,
                 "btf": blob.data.hex() if blob is not None else None,
                 "parse_only": _parse_only(argv)})


def _parse_only(argv: list[str]) -> bool:
    """Commands parsed but not run: long by design (bench, fuzz), or acting on the live
    system (trace, top --live, the kernel's feature probes; attaching, detaching links
    and changing maps by id, which would reach other programs on the machine)."""
    joined = " ".join(argv)
    if argv and argv[0] in ("bench", "fuzz", "trace", "attach"):
        return True
    if argv[:2] in (["link", "detach"], ["map", "update"], ["map", "delete"]):
        return True
    if argv[:1] == ["top"] and "--live" in argv:
        return True
    if argv[:1] == ["features"] and "vm" not in argv:
        return True
    return "features --backend kernel" in joined


def _write_files(case: Case, env: Env) -> None:
    d = env.scratch
    for i, obj in enumerate(env.objects[:3]):
        p = d / f"obj{i}.o"
        if not p.exists():
            p.write_bytes(obj)
    (d / "traffic.pcap").write_bytes(env.capture)
    (d / "mut.o").write_bytes(case.data)
    (d / "prog.bin").write_bytes(bytes.fromhex(case.meta.get("bin") or ""))
    (d / "mut.pcap").write_bytes(bytes.fromhex(case.meta["pcap"]) if case.meta.get("pcap")
                                 else env.capture[:100])
    (d / "empty").write_bytes(b"")
    for name, text in case.meta["files"].items():
        (d / name).write_text(text, errors="surrogateescape")
    (d / "btf.raw").write_bytes(b"\x9f\xeb\x01\x00\x18\x00\x00\x00" + bytes(16))
    (d / "gen.btf").write_bytes(bytes.fromhex(case.meta.get("btf") or ""))
    for stale in ("out.bin", "out.pcap"):
        (d / stale).unlink(missing_ok=True)


def execute(case: Case, env: Env) -> int:
    """Run the command line as `pybpf` would (in the scratch directory); its exit
    status."""
    from .main import build_parser, main
    argv = case.meta["argv"]
    if case.meta.get("parse_only"):
        build_parser().parse_args(argv)
        return 0
    _write_files(case, env)
    return main(argv)


HOSTILE_TARGETS = {"cli": (generate, execute)}
