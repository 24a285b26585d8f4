"""``edgedq demo speech|vision --live``: run the stream, print detections as they happen, then the summary.

Ctrl-C stops the stream on the board (its process group is killed there), prints the summary so far, records
the run (marked interrupted) and exits 130.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.text import Text

from edgedq.cli.app import print_json, print_tables, status_console
from edgedq.cli.recording import Recorder
from edgedq.errors import EdgedqError


def frame_size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    width, _, height = value.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or int(width) % 2 or int(height) % 2 or not int(width) * int(height):
        raise click.BadParameter("WIDTHxHEIGHT, both even, e.g. 640x480")
    return int(width), int(height)


def run_live(which: str, device_name: str, inventory: Path | None, options: dict[str, Any], as_json: bool) -> None:
    from edgedq.cli.live_render import event_line, speech_table, status_text, vision_lines, vision_table
    from edgedq.demos.live.run import live_speech, live_vision
    from edgedq.device.inventory import get_device
    from edgedq.measure.events import Event, Stage, Uploading
    from edgedq.store.records import live_rows

    device = get_device(device_name, inventory)
    recorder = Recorder("live", options.pop("store"), options.pop("run_tag"))
    console = status_console()
    state: dict[str, Any] = {}
    try:
        with console.status(Text(f"{which}: preparing")) as status:

            def notify(event: Event) -> None:
                if isinstance(event, Stage):
                    status.update(Text(f"{which}: {event.text}"))
                elif isinstance(event, Uploading):
                    status.update(Text(f"{which}: uploading {event.sent / 1e6:.1f}/{event.total / 1e6:.1f} MB"))

            def on_event(event: dict[str, Any]) -> None:
                if event.get("kind") == "detection":
                    state["detections"] = state.get("detections", 0) + 1
                line = event_line(which, event)
                if line and not as_json:
                    click.echo(line)
                text = status_text(which, event, state)
                if text:
                    status.update(Text(text))

            run = live_speech if which == "speech" else live_vision
            report = run(device, inventory=inventory, on_event=on_event, notify=notify, **options)
    except EdgedqError as error:
        recorder.failed(error, device.name)
        raise
    run_id = recorder.done(live_rows(report))
    if as_json:
        print_json({**report.as_dict(), "run": run_id})
    else:
        print_tables(speech_table(report) if which == "speech" else vision_table(report))
        for line in [] if which == "speech" else vision_lines(report):
            click.echo(line)
        for note in report.notes:
            click.echo(f"note: {note}")
    for warning in report.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if report.interrupted:
        click.echo("interrupted: the stream was stopped on the board", err=True)
        click.get_current_context().exit(130)
