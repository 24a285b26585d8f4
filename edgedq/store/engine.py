"""Opening the results store: SQLite in the edgedq home by default, a PostgreSQL URL for a lab that shares one.

``--store URL`` or ``EDGEDQ_STORE`` choose it.  Opening creates a new store at
the current schema version, brings an older one up to date (each migration in
its own transaction), and takes in, once, the JSON result files that deploy
wrote before there was a store.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from edgedq import files
from edgedq.errors import DeviceError, OutputError
from edgedq.store.schema import MIGRATIONS, SCHEMA_VERSION, metadata, schema_version

_ENGINES: dict[str, Engine] = {}
_SQLITE_BUSY_S = 30  # how long a writer waits for another before the store is called locked
_MIGRATION_LOCK = 0x65646765  # "edge": the PostgreSQL advisory lock creating or migrating the store


def store_url(explicit: str | None = None) -> str:
    """``explicit``, else ``$EDGEDQ_STORE``, else SQLite at ``$EDGEDQ_HOME/results.db``."""
    if explicit:
        return explicit
    if os.environ.get("EDGEDQ_STORE"):
        return os.environ["EDGEDQ_STORE"]
    return f"sqlite:///{files.edgedq_home() / 'results.db'}"


def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
    """WAL lets one process read while another writes; the busy timeout makes parallel writers queue, not fail."""
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_S * 1000}")
    _use_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor) -> None:  # type: ignore[no-untyped-def]
    """Switch a new store to WAL, waiting for the others who are switching it at the same moment.

    SQLite answers "database is locked" to a journal-mode change at once, without
    calling the busy handler, so first runs that start together would fail here.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_S
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def open_store(url: str | None = None) -> Engine:
    """The store at ``url`` (see ``store_url``), created or migrated to the current schema, once per process."""
    url = store_url(url)
    if url in _ENGINES:
        return _ENGINES[url]
    try:
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_S})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), pool_pre_ping=True)
        _migrate(engine)
    except SQLAlchemyError as exc:
        raise DeviceError(
            f"cannot open the results store {_shown(url)}: {str(exc.orig or exc).splitlines()[0]}",
            hint="check --store / EDGEDQ_STORE (sqlite:///PATH or postgresql://USER@HOST:PORT/DB)",
        ) from None
    except OSError as exc:
        raise OutputError(f"cannot create the results store {_shown(url)}: {exc.strerror}") from None
    _ENGINES[url] = engine
    from edgedq.store.imports import import_json_results  # the files of the edgedq home, once

    import_json_results(engine)
    return engine


def _shown(url: str) -> str:
    """The URL without its password."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.split(':')[0]}@{tail}"


def _exclusive(connection: Connection) -> None:
    """Hold the store alone until this transaction ends, so two first runs at once do not both create or migrate it."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # pysqlite would not begin before DDL by itself
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})


def _version_of(connection: Connection) -> int | None:
    if not connection.dialect.has_table(connection, schema_version.name):
        return None
    return connection.execute(select(func.max(schema_version.c.version))).scalar_one()


def _migrate(engine: Engine) -> None:
    with engine.connect() as connection:  # the common case, an up-to-date store, takes no lock
        if _version_of(connection) == SCHEMA_VERSION:
            return
    with engine.begin() as connection:
        _exclusive(connection)
        version = _version_of(connection)
        if version is None:
            metadata.create_all(connection)
            connection.execute(insert(schema_version).values(version=SCHEMA_VERSION))
            return
    if version > SCHEMA_VERSION:
        raise DeviceError(
            f"the results store is at schema version {version}; this edgedq knows {SCHEMA_VERSION}",
            hint="upgrade edgedq, or use another store (--store)",
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        with engine.begin() as connection:  # one transaction per step: a store is at one version or the next
            _exclusive(connection)
            if _version_of(connection) >= step:
                continue  # another process took this step meanwhile
            MIGRATIONS[step](connection)
            connection.execute(update(schema_version).values(version=step))
