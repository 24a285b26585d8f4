"""The JSON result files deploy wrote before there was a store, taken in once (each is remembered by path)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from edgedq import files
from edgedq.store.records import Run, bench_rows, record
from edgedq.store.schema import imported_files


def import_json_results(engine: Engine, folder: Path | None = None) -> int:
    """Every ``results/*.json`` not yet in the store, as one imported run each; how many were taken in."""
    folder = folder or files.edgedq_home() / "results"
    candidates = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not candidates:
        return 0
    with engine.connect() as connection:
        done = set(connection.execute(select(imported_files.c.path)).scalars())
    count = 0
    for path in candidates:
        if str(path) in done:
            continue
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # not ours, or unreadable: left where it is
        started = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        run = Run("imported", started_at=started, source=report.get("source"), command=[f"(imported from {path})"],
                  error=report.get("error"), rows=bench_rows(report))  # fmt: skip
        try:
            record(engine, run, imported_from=path)
        except IntegrityError:
            continue  # another edgedq, started at the same moment, took it in first (and only it did)
        count += 1
    return count
