"""``edgedq eval``: accuracy of a model on a device, optionally against its float reference."""

from __future__ import annotations

from pathlib import Path

import click

from edgedq import render
from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import board_options, timeout_option
from edgedq.cli.progress import DeviceProgress
from edgedq.connect import connect
from edgedq.devices import get_device
from edgedq.evaluate import evaluate


@cli.command("eval")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--device", "device_name", default="local", show_default=True, help="A device from the inventory.")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="An .npz (x, y) or a folder per class.")
@click.option("--reference", type=click.Path(path_type=Path), help="The float model to compare with.")
@click.option("--threads", default=1, show_default=True)
@timeout_option(300.0)
@board_options
@click.option("--json", "as_json", is_flag=True, help="Print the report (accuracy, confusion, per class).")
def eval_command(
    model: Path,
    device_name: str,
    data: Path,
    reference: Path | None,
    threads: int,
    timeout: float,
    inventory: Path | None,
    accept_new_host: bool,
    lock_wait: float,
    as_json: bool,
) -> None:
    """Top-1/top-5 accuracy, confusion matrix and per-class precision/recall, measured on the device.

    \b
    edgedq eval model.dynamic.tflite --device pi4 --data test.npz --reference model.float32.tflite
    edgedq eval kws.tflite --data clips/        # clips/<class>/*.wav, log-mel computed on the device
    """
    device = get_device(device_name, inventory)
    console = status_console()
    with DeviceProgress(console, [device.name]) as progress:
        progress.event(device.name, "connect", {})
        connection = connect(device, accept_new_host)
        try:
            report = evaluate(
                model,
                device,
                connection,
                data,
                reference,
                threads,
                timeout,
                lock_wait,
                on_event=lambda kind, event: progress.event(device.name, kind, event),
            )
        finally:
            connection.close()
    if as_json:
        print_json(report.as_dict())
    else:
        print_tables(*render.eval_tables(report))
