"""sqlgpt's vector kernel for DuckDB: `vdot`, compiled from `csrc/vdot.c` on first use.

DuckDB's `list_dot_product` adds its products into one running sum, about one multiply-add a
nanosecond; `vdot` keeps 32, which the compiler turns into vector instructions (the C file
says how, and why the result equals list_dot_product's within float32 rounding). It is a
DuckDB extension written against DuckDB's stable C API (v1.2.0, which DuckDB 1.2 through
2.0 load), so it is built once per DuckDB version and platform with the system's C compiler
(`$CC`, else cc, gcc or clang on PATH) and kept under the user's cache directory:

    <cache>/sqlgpt/kernels/duckdb-<version>-<platform>-<source hash>/sqlgpt_vdot.duckdb_extension

DuckDB loads only files ending in `.duckdb_extension` that carry its 534-byte metadata
footer (the format of the duckdb sdist's `scripts/append_metadata.cmake`: a magic value, the
platform, the C API version, the ABI type `C_STRUCT`, and an empty signature), and it calls
the entry point named after the file: `sqlgpt_vdot_init_c_api`. The file is written to a
temporary name beside its place and renamed into it, so a killed build never leaves half a
file where a later load would find it.

This module builds the file and says why when it cannot (`KernelUnavailable`); loading it is
the DuckDB driver's (`drivers/duckdb.py`), on sqlgpt's own connections only, with the
LOAD statement from `dialects/duckdb.py`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from .drivers.base import cache_path

SOURCE = Path(__file__).with_name("csrc") / "vdot.c"
HEADERS = [SOURCE.with_name("duckdb") / name for name in ("duckdb.h", "duckdb_extension.h")]
NAME = "sqlgpt_vdot"  # the file's name, which names its entry point
C_API_VERSION = "v1.2.0"  # the C file's DUCKDB_EXTENSION_API_VERSION_*
# -O3 vectorises the 32 sums; no -march (the file may be shared between machines of one
# platform, and SSE2's 4 lanes were measured as fast as AVX2's 8: the gain is the independent
# sums) and no contraction into fused multiply-adds, so the arithmetic is the C source's.
# Freestanding: the file needs only the compiler's own headers, not the C library's.
FLAGS = ["-O3", "-fPIC", "-shared", "-fvisibility=hidden", "-ffp-contract=off", "-std=c99", "-ffreestanding"]
COMPILERS = ("cc", "gcc", "clang")
BUILD_TIMEOUT = 120  # seconds


class KernelUnavailable(Exception):
    """The kernel cannot be built here; the message says why, in a few words."""


def compiler() -> list[str] | None:
    """The C compiler's command: `$CC` if set (empty: none), else the first of cc, gcc, clang on PATH."""
    if "CC" in os.environ:
        command = shlex.split(os.environ["CC"])
        return command if command and shutil.which(command[0]) else None
    for name in COMPILERS:
        found = shutil.which(name)
        if found:
            return [found]
    return None


def footer(platform: str, version: str) -> bytes:
    """DuckDB's metadata footer of a C API extension for `platform` (its `PRAGMA platform`)."""
    def field(text: str) -> bytes:
        data = text.encode("ascii")
        if len(data) > 32:
            raise KernelUnavailable(f"DuckDB's platform name {text!r} is longer than a metadata field")
        return data + bytes(32 - len(data))

    # A WebAssembly custom section: 0, its length (531, LEB128), its name's length and name.
    head = bytes([0, 147, 4, 16]) + b"duckdb_signature" + bytes([128, 4])
    fields = ["4", platform, C_API_VERSION, version, "C_STRUCT", "", "", ""]  # magic first, stored last first
    return head + b"".join(field(f) for f in reversed(fields)) + bytes(256)  # the unsigned signature


def source_hash() -> str:
    """What the file is built from: the C source, the headers and the flags."""
    digest = hashlib.sha256()
    for path in [SOURCE, *HEADERS]:
        digest.update(path.read_bytes())
    digest.update(" ".join(FLAGS).encode())
    return digest.hexdigest()[:16]


def kernel_path(duckdb_version: str, platform: str) -> Path:
    """Where the file for this DuckDB version and platform lives in the user's cache."""
    key = f"duckdb-{duckdb_version.lstrip('v')}-{platform}-{source_hash()}"
    return cache_path("kernels") / key / f"{NAME}.duckdb_extension"


def build(duckdb_version: str, platform: str) -> Path:
    """The kernel's loadable file for this DuckDB version and platform, compiled if it is not
    in the cache yet. Raises KernelUnavailable (no compiler, a failed compile, no write access)."""
    target = kernel_path(duckdb_version, platform)
    if target.is_file():
        return target
    command = compiler()
    if command is None:
        cc = os.environ.get("CC")
        where = (f"none of {', '.join(COMPILERS)} on PATH" if cc is None else
                 "$CC is empty" if not cc.strip() else f"$CC ({cc}) not found")
        raise KernelUnavailable(f"no C compiler: {where}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{NAME}.", suffix=".tmp", dir=target.parent)
        os.close(handle)
    except OSError as e:
        raise KernelUnavailable(f"cannot write to {target.parent}: {e.strerror}") from None
    try:
        try:
            done = subprocess.run([*command, *FLAGS, "-o", temporary, str(SOURCE)], capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise KernelUnavailable(f"{command[0]} did not run: {e}") from None
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if "error" in line.lower()] or done.stderr.splitlines()
            raise KernelUnavailable(f"{command[0]} failed: {errors[0].strip() if errors else f'exit {done.returncode}'}")
        with open(temporary, "ab") as f:
            f.write(footer(platform, _version()))
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)  # whole, or not there at all
    except OSError as e:
        raise KernelUnavailable(f"cannot write {target}: {e.strerror}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _version() -> str:
    from ... import __version__

    return f"v{__version__}"


__all__ = ["KernelUnavailable", "build", "compiler", "footer", "kernel_path"]
