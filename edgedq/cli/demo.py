"""``edgedq demo vision|speech``: a small real application, trained here and measured on the device."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import inventory_option


@cli.command("demo")
@click.argument("which", type=click.Choice(["vision", "speech"]))
@click.option("--device", "device_name", default="local", show_default=True, help="A device from the inventory.")
@click.option("--full", is_flag=True, help="Train longer on more augmented data (the default is a quick setting).")
@click.option(
    "--runs", type=click.IntRange(min=1), default=50, show_default=True, help="Counted benchmark runs per variant."
)
@inventory_option
@click.option("--json", "as_json", is_flag=True, help='Print {"variants": [...], "samples": [...]}.')
def demo_command(which: str, device_name: str, full: bool, runs: int, inventory: Path | None, as_json: bool) -> None:
    """Train (cached), convert to float32/dynamic/int8, deploy, measure accuracy and latency, recognize inputs.

    \b
    edgedq demo vision                  # on this machine
    edgedq demo speech --device pi4     # on a board
    """
    from edgedq.cli import render
    from edgedq.demos.runner import run_demo
    from edgedq.device.inventory import get_device
    from edgedq.measure.events import Event, RunProgress, Stage

    device = get_device(device_name, inventory)
    console = status_console()
    with console.status(Text(f"{which}: training (cached after the first run)")) as status:
        if which == "vision":
            from edgedq.demos import vision as demo
        else:
            from edgedq.demos import speech as demo  # type: ignore[no-redef]
        trained = demo.train(quick=not full)

        def on_event(event: Event) -> None:
            if isinstance(event, Stage):
                status.update(Text(f"{which}: {event.text}"))
            elif isinstance(event, RunProgress):
                status.update(Text(f"{which}: {event.label} {event.phase} {event.done}/{event.target}"))

        report = run_demo(trained, device, runs, on_event)
    if as_json:
        print_json(report.as_dict())
        return
    print_tables(render.demo_table(report))
    for sample in report.samples:
        guesses = ", ".join(f"{mode} {label}" for mode, label in sample["predictions"].items())
        click.echo(f"input {sample['index']}: true {sample['label']} -> {guesses}")
    for note in report.notes:
        click.echo(f"note: {note}")
    if device.is_local:
        click.echo(f"on a board: edgedq demo {which} --device NAME (see edgedq devices add)")
