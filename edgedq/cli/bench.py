"""``edgedq bench``: measure models on one device; shared options and result printing for deploy."""

from __future__ import annotations

from pathlib import Path

import click

from edgedq import render
from edgedq.bench import BenchOptions, ConfigResult, bench
from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import board_options, runs_option, threads_option, timeout_option, warmup_option
from edgedq.cli.progress import DeviceProgress
from edgedq.connect import connect
from edgedq.convert import MODES, prepare_models
from edgedq.devices import get_device
from edgedq.errors import EdgedqError, RunsFailed


@cli.command("bench")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", "device_name", default="local", show_default=True, help="A device from the inventory.")
@threads_option
@runs_option
@warmup_option
@click.option("--min-secs", default=0.0, show_default=True, help="Keep running until this many seconds passed.")
@click.option("--no-xnnpack", is_flag=True, help="Builtin kernels only (no default delegates).")
@click.option("--both", is_flag=True, help="Each configuration with and without XNNPACK.")
@click.option(
    "--mode",
    "modes",
    type=click.Choice(MODES),
    multiple=True,
    help="For TensorFlow sources: variants to convert and compare (default float32 + dynamic).",
)
@click.option("--inputs", type=click.Path(path_type=Path), help="Inputs (.npz) instead of generated ones.")
@timeout_option(120.0)
@board_options
@click.option("--json", "as_json", is_flag=True, help='Print {"results": [...]}.')
def bench_command(
    models: tuple[Path, ...],
    device_name: str,
    inventory: Path | None,
    threads: list[int] | None,
    runs: int,
    warmup: int,
    min_secs: float,
    no_xnnpack: bool,
    both: bool,
    modes: tuple[str, ...],
    inputs: Path | None,
    timeout: float,
    accept_new_host: bool,
    lock_wait: float,
    as_json: bool,
) -> None:
    """Measure latency, memory and delegation of models, each configuration in a fresh process.

    \b
    edgedq bench model.float32.tflite model.dynamic.tflite --threads 1,2
    edgedq bench model.keras --device local --json
    """
    device = get_device(device_name, inventory)
    console = status_console()
    with console.status("preparing models"):
        paths = [m for path in models for m in prepare_models(path, list(modes) or ["float32", "dynamic"])]
    options = BenchOptions(
        threads=threads or device.threads,
        xnnpack=[True, False] if both else [not no_xnnpack],
        runs=runs,
        warmup=warmup,
        min_secs=min_secs,
        timeout=timeout,
        inputs=inputs,
        lock_wait=lock_wait,
    )
    with DeviceProgress(console, [device.name]) as progress:
        progress.event(device.name, "connect", {})
        connection = connect(device, accept_new_host)
        try:
            results = bench(paths, device, connection, options, lambda k, d: progress.event(device.name, k, d))
        finally:
            connection.close()
    if as_json:
        print_json({"results": [r.as_dict() for r in results]})
    else:
        show_results(results)
    raise_if_failed(results)


def show_results(results: list[ConfigResult]) -> None:
    print_tables(render.bench_table(results))
    for result in results:
        for warning in result.warnings:
            click.secho(
                f"warning: {Path(result.model).name} threads={result.threads}: {warning}", fg="yellow", err=True
            )


def raise_if_failed(results: list[ConfigResult]) -> None:
    """All failed for one reason: that error and its exit code (e.g. no runtime); some failed: RUNS_FAILED."""
    failed = [r for r in results if not r.ok]
    if failed and len(failed) == len(results) and len({r.error["error"] for r in failed}) == 1:
        raise EdgedqError.from_dict(failed[0].error)
    if failed:
        raise RunsFailed(
            f"{len(failed)} of {len(results)} configurations failed",
            hint=failed[0].error.get("hint") or "see the errors above",
        )
