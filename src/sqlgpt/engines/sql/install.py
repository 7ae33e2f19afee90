"""Putting a model's weights into a database, once, atomically, and finding them again.

Each installed model lives in its own schema, named from the checksum of its files, so
several models (or versions of one) sit side by side. The catalogue table `sqlgpt_models`
records, per schema: the model's name, its config, the SHA-256 of its source files, the
layout's format version and where it came from. Installing is one transaction — tables,
rows and catalogue entry commit together or not at all — so an interrupted install leaves
nothing behind. Opening checks what is there: a current, complete install is reused without
reading a single weight; an incomplete one, one of an older format, or one whose files have
changed since is reported on stderr and replaced. Everything here goes through the
database's driver, whose dialect writes the SQL.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from ...checkpoint import Checkpoint
from ...config import GPTConfig
from ...progress import progress_bar
from .drivers.base import Driver
from .layouts import WeightTable, format_version, layout_of

CATALOGUE = "sqlgpt_models"
# What an install records in the catalogue, besides its time (installed_at).
CATALOGUE_COLUMNS = ["schema_name", "model", "source", "source_key", "fingerprint", "config", "format_version"]


SCHEMA_NAME = re.compile(r"m_[0-9a-f]{16}")


def schema_name(fingerprint: str) -> str:
    """The schema an install of the files with this fingerprint lives in."""
    return "m_" + fingerprint[:16]


class Connection(Protocol):
    """The engine's connection, read-only until something must be written."""

    conn: Any

    def make_writable(self, required: bool = True) -> Any:
        """The connection, reopened for writing if needed (None if busy and not `required`)."""


def find_or_install(db: Connection, driver: Driver, checkpoint: Checkpoint, *, progress: bool) -> str:
    """The schema holding `checkpoint`'s installed copy, installing it first if needed."""
    source_key = checkpoint.source_key()
    rows = _catalogue(db.conn, driver)
    by_key = [r for r in rows if r["source_key"] == source_key]
    if by_key and _usable(db.conn, driver, by_key[0], checkpoint.config):
        return by_key[0]["schema_name"]
    # The files moved or were touched, or were never installed: identify them by content.
    fingerprint = checkpoint.fingerprint()
    schema = schema_name(fingerprint)
    same = [r for r in rows if r["schema_name"] == schema]
    if same and _usable(db.conn, driver, same[0], checkpoint.config):
        conn = db.make_writable(required=False)
        if conn is not None:  # remember the files' new identity, so the next open hashes nothing
            driver.update_row(conn, CATALOGUE, "schema_name", schema,
                               {"source_key": source_key, "source": _source(checkpoint)})
        return schema
    why, replaced = _why_reinstall(checkpoint, fingerprint, rows, format_version(driver.dialect))
    if why:
        print(f"sqlgpt: reinstalling {checkpoint.name!r}: {why}", file=sys.stderr)
    install(db.make_writable(), driver, checkpoint, schema, fingerprint, source_key, replaced=replaced,
            progress=progress)
    return schema


def _replace_schemas(conn: Any, driver: Driver, schema: str, replaced: Sequence[str]) -> None:
    """The catalogue made if missing, `schema` made afresh, the `replaced` ones dropped."""
    driver.create_catalogue(conn, CATALOGUE)
    for old in {schema, *replaced}:
        driver.delete_row(conn, CATALOGUE, "schema_name", old)
        driver.drop_schema(conn, old)
    driver.create_schema(conn, schema)


def _source(checkpoint: Checkpoint) -> str:
    return str(checkpoint.directory.resolve())


def _catalogue(conn: Any, driver: Driver) -> list[dict[str, Any]]:
    if not driver.table_exists(conn, None, CATALOGUE):
        return []
    cursor = conn.execute(driver.dialect.read_rows(CATALOGUE, CATALOGUE_COLUMNS))
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    # Schema names are pasted into SQL as identifiers, so only our own pattern is trusted:
    # a database file from elsewhere could hold anything in its catalogue.
    return [r for r in rows if isinstance(r["schema_name"], str) and SCHEMA_NAME.fullmatch(r["schema_name"])]


def _usable(conn: Any, driver: Driver, row: dict[str, Any], config: GPTConfig) -> bool:
    if row["format_version"] != format_version(driver.dialect) or json.loads(row["config"]) != config.to_hf():
        return False
    tables = layout_of(driver.dialect).weight_tables(config)
    return driver.row_counts(conn, row["schema_name"], [t.name for t in tables]) == [t.n_rows for t in tables]


def _why_reinstall(checkpoint: Checkpoint, fingerprint: str, rows: list[dict[str, Any]],
                   version: int) -> tuple[str | None, list[str]]:
    """Why an existing install of these files is not reused, and the schemas to replace."""
    for row in rows:
        if row["fingerprint"] == fingerprint:
            if row["format_version"] != version:
                return (f"it was installed in another table format ({row['format_version']}, now {version})",
                        [row["schema_name"]])
            return "its tables are incomplete (an interrupted or damaged install)", [row["schema_name"]]
    older = [r["schema_name"] for r in rows if r["source"] == _source(checkpoint)]
    if older:
        return "its files have changed since it was installed", older
    return None, []


def install(conn: Any, driver: Driver, checkpoint: Checkpoint, schema: str, fingerprint: str,
            source_key: str, *, replaced: Sequence[str] = (), progress: bool) -> None:
    """Create `schema` with every weight table and its catalogue row, in one transaction,
    dropping the `replaced` schemas (older installs of the same files) in the same one."""
    config, dialect = checkpoint.config, driver.dialect
    tables = layout_of(dialect).weight_tables(config)
    params = checkpoint.params()
    bar = progress_bar(sum(t.n_values for t in tables), f"installing {checkpoint.name}", progress, unit="w")
    driver.before_install(conn)
    driver.begin(conn)
    try:
        driver.lock_installs(conn)
        done = [r for r in _catalogue(conn, driver) if r["schema_name"] == schema]
        if not (done and _usable(conn, driver, done[0], config)):  # else another process installed it meanwhile
            _replace_schemas(conn, driver, schema, replaced)
            for table in tables:
                _install_table(conn, driver, schema, table, params)  # reads just this table's weights
                bar.update(table.n_values)
            conn.execute(dialect.insert_row(CATALOGUE, CATALOGUE_COLUMNS, stamped="installed_at"),
                         [schema, checkpoint.name, _source(checkpoint), source_key, fingerprint,
                          json.dumps(config.to_hf()), format_version(dialect)])
        driver.commit(conn)
    except BaseException:
        driver.rollback(conn)
        raise
    finally:
        bar.close()
    driver.after_install(conn)


def _install_table(conn: Any, driver: Driver, schema: str, table: WeightTable, params: dict) -> None:
    columns = table.columns(params)
    driver.create_table(conn, schema, table.name, table.schema)
    driver.insert_columns(conn, schema, table.name, columns)
