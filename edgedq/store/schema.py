"""The results store's tables, and the migrations that bring an older store up to date.

SQLAlchemy Core, not the ORM and not stdlib ``sqlite3``: one schema and one
code path for SQLite (a file in the edgedq home, WAL so parallel deploys write
safely) and PostgreSQL (a lab's shared store), with parameters always bound.
The version lives in the store itself; each migration moves it one step, in
its own transaction, so a store is at one version or the next, never between.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

SCHEMA_VERSION = 2
metadata = MetaData()

schema_version = Table("edgedq_schema", metadata, Column("version", Integer, nullable=False))

runs = Table(
    "runs",
    metadata,
    Column("id", String(40), primary_key=True),  # 20261201-161200-3fa9c1: sortable, unique across hosts
    Column("kind", String(16), nullable=False),  # bench | deploy | eval | profile | tune | imported
    Column("status", String(16), nullable=False),  # ok | failed
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("command", JSON),  # the command line, as argv
    Column("host", String(255)),
    Column("tag", String(255), index=True),
    Column("edgedq_version", String(32)),
    Column("source", Text),  # what was deployed, when it was a TensorFlow source
    Column("error", JSON),  # the run's own error (a board unreachable ...)
)

configurations = Table(
    "configurations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # bench | eval | profile
    Column("device", String(255), index=True),
    Column("device_facts", JSON),
    Column("model", Text),  # the path measured
    Column("model_name", String(255), index=True),  # its file name: what a CI gate matches runs by
    Column("model_sha256", String(64), index=True),
    Column("mode", String(16)),
    Column("manifest", JSON),
    Column("threads", Integer),
    Column("xnnpack", Boolean),
    Column("input_shapes", JSON),  # added by version 2
    Column("samples_ms", JSON),
    Column("p50_ms", Float),
    Column("p90_ms", Float),
    Column("mean_ms", Float),
    Column("std_ms", Float),
    Column("peak_rss_mb", Float),
    Column("memory", JSON),
    Column("delegation", JSON),
    Column("thermal", JSON),
    Column("runtime", String(64)),
    Column("runtime_version", String(32)),
    Column("accuracy", Float),  # eval's top-1, a fraction
    Column("details", JSON),  # eval's confusion and per class, a profile's operators ...
    Column("warnings", JSON),
    Column("error", JSON),
)

imported_files = Table(
    "imported_files",
    metadata,
    Column("path", Text, primary_key=True),  # JSON results written before the store, taken in once
    Column("run_id", String(40)),
)


def _version_2(connection: Connection) -> None:
    """Version 1 lacked the shapes each configuration really ran at (real models have open sequence lengths)."""
    connection.execute(text("ALTER TABLE configurations ADD COLUMN input_shapes JSON"))


# version -> the step that brings a store from the version before to it; a new store is created at SCHEMA_VERSION
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _version_2}
