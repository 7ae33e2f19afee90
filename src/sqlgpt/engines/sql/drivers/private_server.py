"""The private PostgreSQL server (pgserver) that `--engine postgres` starts when no DSN is
given: where it lives, who uses it, and one lifecycle — stopped when the last sqlgpt process
using it ends, even when another one was killed.

pgserver keeps the process ids of its users in a file beside the data and stops the server
when the last of them exits; a killed process never takes its id off, so the server would
run on for ever. Before each start the ids of processes that are gone are taken off (under
pgserver's own lock), so the last live user stops it again. `status` and `stop` are what
`sqlgpt server` shows and does. No SQL here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any

from ....errors import SqlgptError, first_line
from .base import cache_path

USERS_FILE = ".handle_pids.json"  # pgserver's list of the processes using its server


def _pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime directory at import; where
            # XDG_RUNTIME_DIR is unset (root, containers) that warns in two lines and
            # falls back to a private directory under /tmp, which serves.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
            import pgserver
            import pgserver.postgres_server
    except ImportError:
        raise SqlgptError("no --database DSN given and pgserver is not installed: pip install pgserver, "
                          "or pass a PostgreSQL connection string") from None
    return pgserver


def server_directory() -> Path:
    """The private server's data directory, under the user's cache."""
    return cache_path("postgres")


def start() -> str:
    """The private server's connection URI, started if it is not running; this process is
    one of its users until it exits."""
    pgserver = _pgserver()
    directory = server_directory()
    directory.mkdir(exist_ok=True)
    forget_gone_users(directory)
    try:
        return pgserver.get_server(directory, cleanup_mode="stop").get_uri()
    except Exception as e:  # noqa: BLE001 - pgserver reports start-up failures in several ways
        raise SqlgptError(f"could not start a private PostgreSQL in {directory}: {first_line(e)}") from None


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def forget_gone_users(directory: Path) -> list[int]:
    """Take the processes that have ended off the server's list of users; their ids."""
    pgserver = _pgserver()
    path = directory / USERS_FILE
    with pgserver.postgres_server.PostgresServer._lock:
        try:
            users = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        gone = [pid for pid in users if pid != os.getpid() and not _alive(pid)]
        if gone:
            path.write_text(json.dumps([pid for pid in users if pid not in gone]))
    return gone


@dataclasses.dataclass(frozen=True)
class ServerStatus:
    """The private server as it is now."""

    directory: Path
    running: bool
    pid: int | None  # the postmaster's
    users: tuple[int, ...]  # live sqlgpt processes using it
    uri: str | None


def status() -> ServerStatus:
    """Whether the private server runs, its process, and the live processes using it."""
    pgserver = _pgserver()
    directory = server_directory()
    if not directory.is_dir():
        return ServerStatus(directory=directory, running=False, pid=None, users=(), uri=None)
    forget_gone_users(directory)
    info = pgserver.utils.PostmasterInfo.read_from_pgdata(directory)
    running = info is not None and info.is_running()
    try:
        users = tuple(json.loads((directory / USERS_FILE).read_text()))
    except (FileNotFoundError, ValueError):
        users = ()
    return ServerStatus(directory=directory, running=running, pid=info.pid if running else None,
                        users=users if running else (), uri=info.get_uri() if running else None)


def stop(force: bool = False) -> bool:
    """Stop the private server; False if it was not running. Refused while live processes
    use it, unless `force`."""
    pgserver = _pgserver()
    now = status()
    if not now.running:
        return False
    users = [pid for pid in now.users if pid != os.getpid()]
    if users and not force:
        raise SqlgptError(f"the private PostgreSQL is in use by process{'es' if len(users) > 1 else ''} "
                          f"{', '.join(map(str, users))}; stop those first, or force it")
    user = "pgserver" if os.name == "posix" and os.geteuid() == 0 else None  # pgserver runs it so as root
    with pgserver.postgres_server.PostgresServer._lock:
        pgserver._commands.pg_ctl(["-w", "stop"], pgdata=now.directory, user=user)
        (now.directory / USERS_FILE).write_text("[]")
    return True
