"""``edgedq demo vision|speech``: a small real application, trained here and measured on the device.

With ``--live`` the demo streams instead: a keyword spotter listening to a stream, or a vision loop on a
camera's frames, running on the board in real time (``cli/live.py``).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.live import frame_size
from edgedq.cli.options import SECONDS, accept_option, inventory_option, lock_wait_option
from edgedq.cli.recording import recording_options

LIVE_ONLY = ("source", "seconds", "fps", "mode", "speed", "model", "frame_size", "store", "run_tag", "lock_wait",
             "accept_new_host")  # fmt: skip
ONLY_FOR = {"speech": ("speed",), "vision": ("fps", "model", "frame_size")}


@cli.command("demo")
@click.argument("which", type=click.Choice(["vision", "speech"]))
@click.option("--device", "device_name", default="local", show_default=True, help="A device from the inventory.")
@click.option("--full", is_flag=True, help="Train longer on more augmented data (the default is a quick setting).")
@click.option(
    "--runs", type=click.IntRange(min=1), default=50, show_default=True, help="Counted benchmark runs per variant."
)
@click.option("--live", is_flag=True, help="Stream on the device in real time: a keyword spotter or a vision loop.")
@click.option(
    "--source", metavar="SPEC", help="--live: test (default), mic[:DEV], camera, v4l2:DEV, file:PATH, cmd:..."
)
@click.option(
    "--seconds", type=SECONDS, help="--live: seconds of stream (speech: the file, or until Ctrl-C; vision: 60)."
)
@click.option("--fps", type=SECONDS, help="--live vision: frames a second asked of the source (default 30).")
@click.option(
    "--mode",
    type=click.Choice(["float32", "float16", "dynamic", "int8"]),
    default="dynamic",
    show_default=True,
    help="--live: the model's variant (float16 for BlazeFace only, int8 for the trained models only).",
)
@click.option("--speed", type=SECONDS, help="--live: play a file source this many times faster than real time.")
@click.option(
    "--model", type=click.Choice(["face", "digits"]), help="--live vision: BlazeFace (default) or the digits model."
)
@click.option(
    "--frame-size", metavar="WxH", callback=frame_size, help="--live vision: the size of raw YUV420 frames (camera, "
    "v4l2, cmd, a .yuv file without a .json beside it; default 640x480).",
)  # fmt: skip
@inventory_option
@accept_option
@lock_wait_option
@recording_options
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"variants": [...], "samples": [...]} (--live: the summary).'
)
@click.pass_context
def demo_command(
    ctx: click.Context,
    which: str,
    device_name: str,
    full: bool,
    runs: int,
    live: bool,
    inventory: Path | None,
    accept_new_host: bool,
    lock_wait: float,
    as_json: bool,
    **live_options: object,
) -> None:
    """Train (cached), convert to float32/dynamic/int8, deploy, measure accuracy and latency, recognize inputs.

    \b
    edgedq demo vision                  # on this machine
    edgedq demo speech --device pi4     # on a board
    edgedq demo speech --live --device pi4 --source mic
    edgedq demo vision --live --device pi4 --source camera --seconds 120
    """
    given = [name for name in (*LIVE_ONLY, "runs")
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]  # fmt: skip
    if not live and set(given) - {"runs"}:
        raise click.UsageError(f"--{next(n for n in given if n != 'runs').replace('_', '-')} needs --live")
    if live and "runs" in given:
        raise click.UsageError("--runs is for the demo without --live (the live demos stream instead)")
    if live:
        other = "vision" if which == "speech" else "speech"
        misplaced = [name for name in given if name in ONLY_FOR[other]]
        if misplaced:
            raise click.UsageError(f"--{misplaced[0].replace('_', '-')} is for the {other} demo")
        from edgedq.cli.live import run_live

        options = {k: v for k, v in live_options.items()
                   if k not in ONLY_FOR[other] and (v is not None or k in ("store", "run_tag"))}  # fmt: skip
        run_live(which, device_name, inventory, {**options, "full": full, "lock_wait": lock_wait,
                                                  "accept_new_host": accept_new_host}, as_json)  # fmt: skip
        return
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
