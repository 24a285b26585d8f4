"""``edgedq profile``: per-operator times on a device, XNNPACK's own operators included."""

from __future__ import annotations

from pathlib import Path

import click

from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import board_options, input_shape_option, runs_option, timeout_option, warmup_option
from edgedq.cli.recording import Recorder, recording_options
from edgedq.errors import EdgedqError


@cli.command("profile")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", "device_name", default="local", show_default=True, help="A device from the inventory.")
@click.option("--threads", type=click.IntRange(min=1), help="Threads (default: the device's first).")
@runs_option
@warmup_option
@click.option("--no-xnnpack", is_flag=True, help="Builtin kernels only: TFLite's nodes, by index.")
@input_shape_option
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Operators in the top table.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write every operator of every model here.")
@timeout_option(120.0)
@board_options
@recording_options
@click.option("--json", "as_json", is_flag=True, help='Print {"profiles": [...], "device", "push", ..., "run"}.')
def profile_command(
    models: tuple[Path, ...],
    device_name: str,
    threads: int | None,
    runs: int,
    warmup: int,
    no_xnnpack: bool,
    input_shapes: list,
    top: int,
    csv_path: Path | None,
    timeout: float,
    inventory: Path | None,
    accept_new_host: bool,
    lock_wait: float,
    store: str | None,
    run_tag: str | None,
    as_json: bool,
) -> None:
    """Where a run's time goes: the slowest operators, each operator type, and what the profiler saw of the wall time.

    \b
    edgedq profile model.float32.tflite model.dynamic.tflite --device pi4
    edgedq profile model.tflite --no-xnnpack --top 20 --csv ops.csv
    """
    from edgedq.cli.profile_tables import operators_csv, profile_tables
    from edgedq.cli.progress import DeviceProgress
    from edgedq.device.inventory import get_device
    from edgedq.files import atomic_write_bytes, check_writable_dir
    from edgedq.measure.profile import ProfileOptions, profile
    from edgedq.store.records import profile_rows

    device = get_device(device_name, inventory)
    recorder = Recorder("profile", store, run_tag)
    if csv_path is not None:
        check_writable_dir(csv_path)
    options = ProfileOptions(threads=threads, xnnpack=not no_xnnpack, runs=runs, warmup=warmup, timeout=timeout,
                             input_shapes=input_shapes, lock_wait=lock_wait)  # fmt: skip
    try:
        with DeviceProgress(status_console(), [device.name]) as progress:
            report = profile(list(models), device, options, accept_new_host=accept_new_host, on_event=progress.event)
    except EdgedqError as error:
        recorder.failed(error, device.name)
        raise
    run_id = recorder.done(profile_rows(report.as_dict()))
    if csv_path is not None:
        atomic_write_bytes(csv_path, operators_csv(report.profiles).encode())
    if as_json:
        print_json({**report.as_dict(), "run": run_id})
    else:
        if any(p.ok for p in report.profiles):  # else the error line below says it all
            print_tables(*profile_tables(report.profiles, top))
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
    report.raise_for_failures()
