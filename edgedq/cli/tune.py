"""``edgedq tune``: the fastest variant a board runs within an accuracy budget, chosen by measuring them there."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import board_options, conversion_options, timeout_option
from edgedq.cli.recording import Recorder, recording_options
from edgedq.cli.render import DataTable, size_text
from edgedq.errors import EdgedqError

if TYPE_CHECKING:
    from rich.table import Table

    from edgedq.tune.result import DeviceTune, TuneReport


@cli.command("tune")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Labelled data: an .npz (x, y) or a folder with one subfolder per class.")  # fmt: skip
@click.option("--device", "device_names", default="local", show_default=True,
              help="Device name(s) from the inventory, comma-separated.")  # fmt: skip
@click.option("--max-drop", type=click.FloatRange(min=0.0), default=0.5, show_default=True, metavar="PTS",
              help="Top-1 points below float32 a candidate may lose and stay within budget.")  # fmt: skip
@click.option("--metric", type=click.Choice(["p50", "p90"]), default="p50", show_default=True,
              help="The latency the fastest candidate is chosen by.")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), help="Interpreter threads (default: each device's first).")
@click.option("--runs", type=click.IntRange(min=1), default=50, show_default=True, help="Counted runs per candidate.")
@click.option("--budget-min", type=click.FloatRange(min=0.0, min_open=True), metavar="M",
              help="Stop after M minutes, keeping the best candidate measured so far.")  # fmt: skip
@click.option("--calibration", type=click.Path(path_type=Path),
              help="Representative inputs (.npz): adds int8 candidates.")  # fmt: skip
@click.option("--classes", help="Class names in label order, comma-separated (a folder's subfolders by these names).")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the chosen model here (OUT.<device>.tflite when boards choose differently).")  # fmt: skip
@conversion_options
@timeout_option(300.0)
@click.option("--parallel", type=click.IntRange(min=1), default=8, show_default=True, help="Boards measured at once.")
@board_options
@recording_options
@click.option("--json", "as_json", is_flag=True, help='Print {"source", "data", "sensitivity", "devices", ...}.')
def tune_command(
    source: Path,
    data: Path,
    device_names: str,
    max_drop: float,
    metric: str,
    threads: int | None,
    runs: int,
    budget_min: float | None,
    calibration: Path | None,
    classes: str | None,
    output: Path | None,
    batch: int | None,
    custom_objects: tuple[str, ...],
    timeout: float,
    parallel: int,
    inventory: Path | None,
    accept_new_host: bool,
    lock_wait: float,
    store: str | None,
    run_tag: str | None,
    as_json: bool,
) -> None:
    """Rank SOURCE's layers by the error quantization adds, convert the candidates, measure each on the board(s)
    and choose the fastest within --max-drop points of float32's top-1.

    \b
    edgedq tune model.keras --data test.npz --device pi4 -o model.tuned.tflite
    edgedq tune kws/ --data clips/ --device pi4,pi5 --calibration calib.npz --max-drop 1 --budget-min 20
    """
    from edgedq.cli.progress import DeviceProgress
    from edgedq.device.inventory import select_devices
    from edgedq.measure.events import Stage
    from edgedq.store.records import tune_rows
    from edgedq.tune.run import TuneOptions, tune

    names = [part.strip() for part in device_names.split(",") if part.strip()]
    devices = select_devices(names, [], inventory)
    recorder = Recorder("tune", store, run_tag, source=str(source))
    options = TuneOptions(max_drop=max_drop, metric=metric, threads=threads, runs=runs, budget_min=budget_min,
                          calibration=calibration, output=output, timeout=timeout, lock_wait=lock_wait,
                          parallel=parallel, batch=batch, custom_objects=list(custom_objects),
                          classes=[c.strip() for c in classes.split(",")] if classes else None)  # fmt: skip
    try:
        with DeviceProgress(status_console(), [*(d.name for d in devices), "host"]) as progress:
            host = lambda text: progress.event(Stage("host", text))  # noqa: E731
            report = tune(source, data, devices, options, accept_new_host=accept_new_host, on_stage=host,
                          on_event=progress.event)  # fmt: skip
    except EdgedqError as error:
        recorder.failed(error, ",".join(d.name for d in devices))
        raise
    run_id = recorder.done(tune_rows(report))
    if as_json:
        print_json({**report.as_dict(), "run": run_id})
    else:
        show_tune(report)
    report.raise_for_failures()


def show_tune(report: TuneReport) -> None:
    """The ranking, then per board every candidate and the choice, then what the user must know."""
    print_tables(sensitivity_table(report), *(device_table(report, d) for d in report.devices if d.candidates))
    for note in report.notes:
        click.secho(f"warning: {note}", fg="yellow", err=True)
    for device in report.devices:
        if device.reason:
            click.echo(f"{device.device}: chose {device.reason}")
        if device.saved:
            click.echo(f"{device.device}: saved {device.saved} (and its manifest, {device.saved}.json)")
        if device.stopped_early:
            click.secho(f"warning: {device.device}: stopped early: {device.stopped_early}", fg="yellow", err=True)
        for note in device.notes:
            click.echo(f"note: {device.device}: {note}", err=True)


def sensitivity_table(report: TuneReport) -> Table:
    table = DataTable(title=f"sensitivity on the host: the error each quantized layer adds alone ({report.data})")
    for column in ("#", "layer (weights)", "op", "int8 w", "SNR dB", "cosine"):
        table.add_column(column, justify="left" if column in ("layer (weights)", "op") else "right",
                         overflow="fold")  # a name is what --keep-float takes: shown whole  # fmt: skip
    for rank, layer in enumerate(report.sensitivity, start=1):
        table.add_row(
            str(rank), layer.layer, layer.op, str(layer.weights), f"{layer.snr_db:.1f}", f"{layer.cosine:.5f}"
        )
    table.caption = "worst first: candidates NAME-keepK keep the first K of these in float"
    return table


def device_table(report: TuneReport, device: DeviceTune) -> Table:
    title = Text(f"{device.device}: candidates by {report.metric}, budget {report.max_drop_points:g} points below "
                 f"float32's top-1 ({_pct(device.float32_accuracy)})")  # fmt: skip
    if device.emulated:
        title.append(f" (emulated: {device.emulated}; latency is meaningless)", style="yellow")
    table = DataTable(title=title)
    for column in ("candidate", "size", "top-1", "Δ pts", "p50 ms", "p90 ms", "budget", "front", ""):
        table.add_column(column, justify="left" if column in ("candidate", "budget", "front", "") else "right",
                         no_wrap=True)  # fmt: skip
    for c in device.candidates:
        reference = device.float32_accuracy
        delta = _points(100 * (c.accuracy - reference)) if c.accuracy is not None and reference else "-"
        budget = "-" if c.within_budget is None else "within" if c.within_budget else Text("over", "red")
        latency = c.latency_ms or {}
        table.add_row(
            c.name,
            size_text(c.size_bytes),
            _pct(c.accuracy),
            delta,
            _ms(latency.get("p50")),
            _ms(latency.get("p90")),
            budget,
            "*" if c.name in device.pareto_front else "",
            Text("chosen", "bold green") if device.chosen and c.name == device.chosen.name else _why_not(c),
        )
    return table


def _why_not(candidate: object) -> str:
    error = getattr(candidate, "error", None)
    return "not measured" if error and error.get("error") == "Skipped" else "failed" if error else ""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _points(value: float) -> str:
    return f"{value + 0.0:+.2f}"  # + 0.0: never "-0.00"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
