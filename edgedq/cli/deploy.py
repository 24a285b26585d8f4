"""``edgedq deploy``: convert, push and benchmark on one board or many at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.bench import show_results
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
from edgedq.errors import DeviceError

if TYPE_CHECKING:
    from edgedq.measure.deploy import DeployReport


def _names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@cli.command("deploy")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--device", "device_names", help="Device name(s) from the inventory, comma-separated.")
@click.option("--tag", "tags", multiple=True, help="Every device with this tag (repeatable).")
@click.option("--mode", default="dynamic", show_default=True, type=click.Choice(MODES), help="The variant to ship.")
@click.option(
    "--compare", default="float32", show_default=True, help="Variants to measure beside it: float32,float16 ..."
)
@click.option("--calibration", type=click.Path(path_type=Path), help="Representative inputs (.npz), for int8.")
@input_shape_option
@conversion_options
@threads_option
@runs_option
@warmup_option
@max_secs_option
@timeout_option(120.0)
@click.option("--parallel", type=click.IntRange(min=1), default=8, show_default=True, help="Boards measured at once.")
@board_options
@recording_options
@click.option("--json", "as_json", is_flag=True, help='Print {"source", "models", "devices": [...], "run"}.')
def deploy_command(
    source: Path,
    device_names: str | None,
    tags: tuple[str, ...],
    mode: str,
    compare: str,
    calibration: Path | None,
    input_shapes: list,
    batch: int | None,
    custom_objects: tuple[str, ...],
    threads: list[int] | None,
    runs: int,
    warmup: int,
    max_secs: float,
    timeout: float,
    inventory: Path | None,
    accept_new_host: bool,
    parallel: int,
    lock_wait: float,
    store: str | None,
    run_tag: str | None,
    as_json: bool,
) -> None:
    """Convert SOURCE (cached), push it with the agent, and benchmark every variant on the board(s).

    \b
    edgedq deploy --device pi4 model/
    edgedq deploy --device pi4,pi5 model.keras --compare float32,float16 --threads 1,4
    edgedq deploy --tag lab model.h5 --json
    """
    from edgedq.cli.progress import DeviceProgress
    from edgedq.device.inventory import select_devices
    from edgedq.measure.bench import BenchOptions
    from edgedq.measure.deploy import deploy
    from edgedq.store.records import bench_rows

    names = _names(device_names)
    if not names and not tags:
        raise DeviceError("say where to deploy", hint="pass --device NAME (see 'edgedq devices') or --tag TAG")
    devices = select_devices(names, list(tags), inventory)
    recorder = Recorder("deploy", store, run_tag, source=str(source))
    # no --threads: each board's own thread counts from the inventory
    options = BenchOptions(
        threads=threads or [],
        runs=runs,
        warmup=warmup,
        max_secs=max_secs,
        timeout=timeout,
        lock_wait=lock_wait,
        input_shapes=input_shapes,
    )
    console = status_console()
    with console.status(Text("converting")) as status:
        from edgedq.conversion.pipeline import prepare_models
        from edgedq.measure.deploy import variant_modes

        models = prepare_models(
            source,
            variant_modes(mode, _names(compare)),
            calibration,
            lambda text: status.update(Text(f"converting: {text}")),
            batch=batch,
            custom_objects=custom_objects,
            input_shapes=input_shapes,
        )
    with DeviceProgress(console, [d.name for d in devices]) as progress:
        report = deploy(source, devices, models=models, options=options, accept_new_host=accept_new_host,
                        on_event=progress.event, parallel=parallel)  # fmt: skip
    run_id = recorder.done([row for run in report.runs for row in bench_rows(run.as_dict())])
    if as_json:
        print_json({**report.as_dict(), "run": run_id})
    else:
        show_deploy(report)
    report.raise_for_failures()


def show_deploy(report: DeployReport) -> None:
    """One board: its tables; several: one summary row per board and variant, then each board's notes."""
    from edgedq.cli.bench_tables import fleet_table

    if len(report.runs) == 1:
        (run,) = report.runs
        if run.results:
            show_results(run.results, run.notes)
    else:
        print_tables(fleet_table(report.runs))
    for run in report.runs:
        if run.push:
            click.echo(
                f"{run.device}: sent {run.push.sent_files} files ({run.push.sent_bytes / 1e6:.1f} MB) "
                f"in {run.push.seconds:.1f} s, {run.push.skipped_files} already on the board",
                err=True,
            )
