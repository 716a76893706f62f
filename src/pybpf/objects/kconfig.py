"""Values of `.kconfig` externs on this machine: LINUX_KERNEL_VERSION and CONFIG_*
options (from /proc/config.gz or /boot/config-<release>), encoded by their BTF type the
way libbpf does (tristate as 'y'/'m'/'n' chars or 1/2/0, bools, integers, strings)."""

from __future__ import annotations

import gzip
import platform
from pathlib import Path
from typing import Any


def kernel_version_code() -> int:
    """KERNEL_VERSION(a, b, c) of the running kernel."""
    parts = platform.release().split("-")[0].split(".")
    nums = [int(p) if p.isdigit() else 0 for p in parts[:3]] + [0] * (3 - len(parts[:3]))
    return (nums[0] << 16) | (nums[1] << 8) | min(nums[2], 255)


def kernel_config() -> dict[str, str]:
    """CONFIG_* -> value ("y", "m", a number, a quoted string) of the running kernel;
    empty when no config can be found."""
    text = ""
    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{platform.release()}")):
        try:
            raw = path.read_bytes()
            text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
            break
        except OSError:
            continue
    out = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def encode_kconfig(btf: Any, type_id: int, size: int, value: str | None) -> bytes:
    """One extern's bytes: a char takes 'y'/'m'/'n', other ints 1/2/0 for y/m/n or the
    number; char arrays a string. Missing options are 0 (libbpf's __weak behaviour)."""
    if value is None:
        return bytes(size)
    t = btf[btf.skip_mods(type_id)] if btf is not None else None
    name = getattr(t, "name", "")
    if value.startswith('"'):
        data = value.strip('"').encode()[: size - 1]
        return data + bytes(size - len(data))
    if value in ("y", "m", "n"):
        if name == "char" and size == 1:
            return value.encode()
        return {"y": 1, "m": 2, "n": 0}[value].to_bytes(size, "little")
    try:
        number = int(value, 0)
    except ValueError:
        return bytes(size)
    return (number & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def kconfig_value(spec: Any) -> bytes:
    """The `.kconfig` map's value for an ObjectSpec on this machine."""
    size = spec.maps[".kconfig"].value_size
    data = bytearray(size)
    config = kernel_config()
    for name, var in spec.globals.items():
        if var.map != ".kconfig":
            continue
        if name == "LINUX_KERNEL_VERSION":
            raw = kernel_version_code().to_bytes(var.size, "little")
        elif name == "LINUX_HAS_BPF_COOKIE":  # libbpf's: perf links with cookies, 5.15+
            raw = int(kernel_version_code() >= (5 << 16 | 15 << 8)).to_bytes(var.size, "little")
        else:
            raw = encode_kconfig(spec.btf, var.type_id, var.size, config.get(name))
        data[var.offset:var.offset + var.size] = raw
    return bytes(data)
