"""``edgedq eval``: accuracy of a model on a device, optionally against its float reference."""

from __future__ import annotations

from pathlib import Path

import click

from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import board_options, input_shape_option, timeout_option
from edgedq.cli.recording import Recorder, recording_options
from edgedq.errors import EdgedqError


@cli.command("eval")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--device", "device_name", default="local", show_default=True, help="A device from the inventory.")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="An .npz (x, y) or a folder per class.")
@click.option("--reference", type=click.Path(path_type=Path), help="The float model to compare with.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Interpreter threads.")
@click.option(
    "--classes",
    help="Class names in label order, comma-separated (a folder's subfolders are matched to them by name).",
)
@input_shape_option
@timeout_option(300.0)
@board_options
@recording_options
@click.option("--json", "as_json", is_flag=True, help="Print the report (accuracy, confusion, per class).")
def eval_command(
    model: Path,
    device_name: str,
    data: Path,
    reference: Path | None,
    threads: int,
    classes: str | None,
    input_shapes: list,
    timeout: float,
    inventory: Path | None,
    accept_new_host: bool,
    lock_wait: float,
    store: str | None,
    run_tag: str | None,
    as_json: bool,
) -> None:
    """Top-1/top-5 accuracy, confusion matrix and per-class precision/recall, measured on the device.

    \b
    edgedq eval model.dynamic.tflite --device pi4 --data test.npz --reference model.float32.tflite
    edgedq eval kws.tflite --data clips/        # clips/<class>/*.wav, log-mel computed on the device
    """
    from edgedq.cli import render
    from edgedq.cli.progress import DeviceProgress
    from edgedq.device.inventory import get_device
    from edgedq.measure.evaluate import evaluate
    from edgedq.store.records import eval_rows

    device = get_device(device_name, inventory)
    recorder = Recorder("eval", store, run_tag)
    try:
        with DeviceProgress(status_console(), [device.name]) as progress:
            report = evaluate(model, data, device, reference=reference, threads=threads, timeout=timeout,
                              lock_wait=lock_wait, accept_new_host=accept_new_host, on_event=progress.event,
                              classes=[c.strip() for c in classes.split(",")] if classes else None,
                              input_shapes=input_shapes)  # fmt: skip
    except EdgedqError as error:
        recorder.failed(error, device.name)
        raise
    run_id = recorder.done(eval_rows(report))
    if as_json:
        print_json({**report.as_dict(), "run": run_id})
    else:
        print_tables(*render.eval_tables(report))
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
