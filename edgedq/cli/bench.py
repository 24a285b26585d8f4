"""``edgedq bench``: measure models on one device; the result printing that deploy shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import (
    board_options,
    conversion_options,
    input_shape_option,
    max_secs_option,
    runs_option,
    threads_option,
    timeout_option,
    warmup_option,
)
from edgedq.cli.recording import Recorder, recording_options
from edgedq.conversion import MODES
from edgedq.errors import EdgedqError

if TYPE_CHECKING:
    from edgedq.measure.bench import ConfigResult


@cli.command("bench")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", "device_name", default="local", show_default=True, help="A device from the inventory.")
@threads_option
@runs_option
@warmup_option
@max_secs_option
@click.option(
    "--min-secs",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Keep running until this many seconds passed.",
)
@click.option("--no-xnnpack", is_flag=True, help="Builtin kernels only (no default delegates).")
@click.option("--both", is_flag=True, help="Each configuration with and without XNNPACK.")
@click.option("--profile", "with_profile", is_flag=True, help="Also profile each configuration: its slowest operators.")
@click.option(
    "--mode",
    "modes",
    type=click.Choice(MODES),
    multiple=True,
    help="For TensorFlow sources: variants to convert and compare (default float32 + dynamic).",
)
@click.option("--inputs", type=click.Path(path_type=Path), help="Inputs (.npz) instead of generated ones.")
@input_shape_option
@click.option("--calibration", type=click.Path(path_type=Path), help="For --mode int8 of a TensorFlow source (.npz).")
@conversion_options
@timeout_option(120.0)
@board_options
@recording_options
@click.option("--json", "as_json", is_flag=True, help='Print {"device", "results": [...], "push", ...}.')
def bench_command(
    models: tuple[Path, ...],
    device_name: str,
    inventory: Path | None,
    threads: list[int] | None,
    runs: int,
    warmup: int,
    max_secs: float,
    min_secs: float,
    no_xnnpack: bool,
    with_profile: bool,
    both: bool,
    modes: tuple[str, ...],
    inputs: Path | None,
    input_shapes: list,
    calibration: Path | None,
    batch: int | None,
    custom_objects: tuple[str, ...],
    timeout: float,
    accept_new_host: bool,
    lock_wait: float,
    store: str | None,
    run_tag: str | None,
    as_json: bool,
) -> None:
    """Measure latency, memory and delegation of models, each configuration in a fresh process.

    \b
    edgedq bench model.float32.tflite model.dynamic.tflite --threads 1,2
    edgedq bench model.keras --device local --json
    """
    from edgedq.cli.progress import DeviceProgress
    from edgedq.conversion.pipeline import prepare_models
    from edgedq.device.inventory import get_device
    from edgedq.measure.bench import BenchOptions, bench
    from edgedq.store.records import bench_rows

    device = get_device(device_name, inventory)
    recorder = Recorder("bench", store, run_tag)
    console = status_console()
    conversion = {"batch": batch, "custom_objects": custom_objects, "input_shapes": input_shapes}
    with console.status(Text("preparing models")):
        paths = [
            m
            for path in models
            for m in prepare_models(path, list(modes) or ["float32", "dynamic"], calibration, **conversion)
        ]
    options = BenchOptions(
        threads=threads or [],
        xnnpack=[True, False] if both else [not no_xnnpack],
        runs=runs,
        warmup=warmup,
        min_secs=min_secs,
        max_secs=max_secs,
        timeout=timeout,
        inputs=inputs,
        input_shapes=input_shapes,
        lock_wait=lock_wait,
        profile=with_profile,
    )
    try:
        with DeviceProgress(console, [device.name]) as progress:
            report = bench(paths, device, options, accept_new_host=accept_new_host, on_event=progress.event)
    except EdgedqError as error:
        recorder.failed(error, device.name)
        raise
    run_id = recorder.done(bench_rows(report.as_dict()))
    if as_json:
        print_json({**report.as_dict(), "run": run_id})
    else:
        show_results(report.results, report.notes)
    report.raise_for_failures()


def show_results(results: list[ConfigResult], notes: list[str] = ()) -> None:  # type: ignore[assignment]
    from edgedq.cli.bench_tables import bench_tables

    print_tables(*bench_tables(results))
    if any(r.profile and "top" in r.profile for r in results):
        from edgedq.cli.profile_tables import bench_profile_table

        print_tables(bench_profile_table([r for r in results if r.profile and "top" in r.profile]))
    for result in results:
        for warning in result.warnings:
            click.secho(
                f"warning: {Path(result.model).name} threads={result.threads}: {warning}", fg="yellow", err=True
            )
    for note in notes:
        click.echo(f"note: {note}", err=True)
