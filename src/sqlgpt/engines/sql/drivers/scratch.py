"""Scratch directories owned by one process, removed when that process is gone however it ended.

A database that spills to disk (DuckDB writes `<database>.tmp/` by default) leaves its spill
files behind when its process is killed, and nothing ever removes them. sqlgpt's connections
spill into a directory of their own process instead, under the user's cache: the process
holds an exclusive lock on a file in it for as long as it lives, the operating system drops
the lock when the process ends (killed or not), and every process sweeps away the
directories whose lock it can take — their owners are gone.

A process may also *claim* something that lives outside its directory and must go if the
process dies holding it (a Spark session's private database): a file in its directory names
it, and the process that sweeps the directory away moves that file to a folder of orphans,
where the driver that knows how to remove such things (`orphans`) finds it.

No SQL here; the DuckDB driver passes the directory to DuckDB's `temp_directory` setting.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import time
import uuid
from pathlib import Path

from .base import cache_path

LOCK = ".owner"  # the file whose lock says the owner lives
CLAIM = "claim-"  # a file naming something the owner holds outside its directory
GRACE_SECONDS = 60  # a directory without its lock file yet may be one being made


def scratch_root() -> Path:
    """The folder holding every process's scratch directory."""
    root = cache_path("scratch")
    root.mkdir(exist_ok=True)
    return root


@functools.cache
def scratch_directory() -> Path:
    """This process's scratch directory (made, locked and the others swept on first use)."""
    sweep()
    directory = scratch_root() / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    # Locked under another name, then renamed: a sweep that found the lock file before its
    # owner locked it would take the lock itself and remove a live process's directory.
    # Until the rename, a sweep sees a directory without its lock file, young: one being made.
    unnamed = directory / (LOCK + ".new")
    lock = os.open(unnamed, os.O_RDWR | os.O_CREAT, 0o600)
    if not _try_lock(lock):  # a fresh name: nobody else holds it
        raise OSError(f"cannot lock {unnamed}")
    os.replace(unnamed, directory / LOCK)
    # The descriptor stays open, and so the lock held, until the process ends.
    atexit.register(_remove, directory, lock)
    return directory


def sweep() -> list[Path]:
    """Remove the scratch directories whose owners are gone; the ones removed."""
    removed = []
    for directory in scratch_root().iterdir():
        if not directory.is_dir():
            continue
        lock_path = directory / LOCK
        try:
            lock = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            try:
                made_long_ago = time.time() - directory.stat().st_mtime > GRACE_SECONDS
            except FileNotFoundError:  # another process's sweep removed it
                continue
            if made_long_ago:  # made, never locked: its maker died
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
            continue
        try:
            if _try_lock(lock):  # its owner has ended
                _hand_over_claims(directory)
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
        finally:
            os.close(lock)
    return removed


def orphans_root() -> Path:
    """The folder of claims whose processes ended holding them."""
    root = cache_path("orphans")
    root.mkdir(exist_ok=True)
    return root


def claim(name: str) -> None:
    """Record that this process holds `name` (a plain name: letters, digits, _), to be
    removed by another process if this one ends without `release`."""
    (scratch_directory() / (CLAIM + name)).touch()


def release(name: str) -> None:
    (scratch_directory() / (CLAIM + name)).unlink(missing_ok=True)


def orphans(prefix: str) -> list[str]:
    """The names starting with `prefix` that ended processes claimed and never released (after
    sweeping). The caller removes each thing, then calls `forget` with its name."""
    sweep()
    return sorted(path.name for path in orphans_root().iterdir() if path.name.startswith(prefix))


def forget(name: str) -> None:
    (orphans_root() / name).unlink(missing_ok=True)


def _hand_over_claims(directory: Path) -> None:
    for path in directory.glob(CLAIM + "*"):
        try:
            os.replace(path, orphans_root() / path.name.removeprefix(CLAIM))
        except OSError:  # another process's sweep took it first
            pass


def _try_lock(descriptor: int) -> bool:
    """Take the exclusive lock on an open file without waiting; False if another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: msvcrt's lock, on the file's first byte
        import msvcrt

        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _remove(directory: Path, lock: int) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    os.close(lock)
