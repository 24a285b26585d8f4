"""Every bench, deploy and eval run goes into the results store: options and the one way to record a run."""

from __future__ import annotations

import click

from edgedq.errors import EdgedqError

store_option = click.option(
    "--store", metavar="URL", help="Results store: sqlite:///PATH or postgresql://... (default: $EDGEDQ_STORE, "
    "else the edgedq home's results.db).",
)  # fmt: skip
run_tag_option = click.option(
    "--run-tag", metavar="NAME", help="Name this run in the history, e.g. baseline (edgedq diff baseline latest)."
)


def recording_options(command):  # type: ignore[no-untyped-def]
    return store_option(run_tag_option(command))


class Recorder:
    """Records one command's run in the store: ``done(rows)`` when it measured, ``failed(error)`` when it could not.

    The store is opened first, so a store that cannot be opened stops the command before it measures anything;
    Ctrl-C records nothing (an interrupted run is not a result).
    """

    def __init__(self, kind: str, store: str | None, tag: str | None, source: str | None = None) -> None:
        from edgedq.store.engine import open_store
        from edgedq.store.records import Run

        self.engine = open_store(store)
        self.run: Run = Run(kind, tag=tag, source=source)

    def failed(self, error: EdgedqError, device: str | None = None) -> str:
        """The run could not measure anything: kept as a failed run, with a row naming the device."""
        self.run.error = error.as_dict()
        return self.done([{"kind": self.run.kind, "device": device, "error": self.run.error}])

    def done(self, rows: list[dict]) -> str:
        from edgedq.store.records import record

        self.run.rows = rows
        record(self.engine, self.run)
        failed = self.run.error or any(r.get("error") for r in rows)
        click.echo(f"recorded as run {self.run.id}{' (failed)' if failed else ''}"
                   + (f", tag {self.run.tag}" if self.run.tag else ""), err=True)  # fmt: skip
        return self.run.id
