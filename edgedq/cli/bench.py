"""bench and devices: the commands that run things on a device."""

from __future__ import annotations

from pathlib import Path

import click

from edgedq import render
from edgedq.bench import BenchOptions, bench
from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.connect import connect
from edgedq.convert import MODES, convert
from edgedq.devices import get_device, load_inventory
from edgedq.errors import RunsFailed


def _int_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("use comma-separated integers, e.g. 1,2,4") from None
    if not numbers or min(numbers) < 1:
        raise click.BadParameter("thread counts must be positive")
    return numbers


def _models(paths: tuple[Path, ...], modes: tuple[str, ...], work: Path) -> list[Path]:
    """TFLite files as given; TensorFlow sources converted (cached) in each mode asked for."""
    models: list[Path] = []
    for path in paths:
        if path.suffix == ".tflite":
            models.append(path)
            continue
        wanted = list(modes) or ["float32", "dynamic"]
        result = convert(path, work / f"{path.stem or path.name}.tflite", wanted)
        models.extend(v.path for v in result.variants)
    return models


@cli.command("bench")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", "device_name", default="local", show_default=True, help="A device from the inventory.")
@click.option("--inventory", type=click.Path(path_type=Path), help="Inventory file (default: see README).")
@click.option("--threads", callback=_int_list, help="Thread counts, e.g. 1,2,4 (default: the device's).")
@click.option("--runs", default=50, show_default=True, help="Counted runs (at least).")
@click.option("--warmup", default=1, show_default=True, help="Warm-up runs, not counted.")
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
@click.option("--timeout", default=120.0, show_default=True, help="Seconds of silence before an agent counts as hung.")
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
    as_json: bool,
) -> None:
    """Measure latency, memory and delegation of models, each configuration in a fresh process.

    \b
    edgedq bench model.float32.tflite model.dynamic.tflite --threads 1,2
    edgedq bench model.keras --device local --json
    """
    device = get_device(device_name, inventory)
    work = Path.cwd()
    console = status_console()
    with console.status("preparing models") as status:
        paths = _models(models, modes, work)
        options = BenchOptions(
            threads=threads or device.threads,
            xnnpack=[True, False] if both else [not no_xnnpack],
            runs=runs,
            warmup=warmup,
            min_secs=min_secs,
            timeout=timeout,
            inputs=inputs,
        )

        def on_event(kind: str, data: dict) -> None:
            if kind == "start":
                status.update(f"{device.name}: {data['label']}")
            elif kind == "progress":
                status.update(f"{device.name}: {data['label']} {data['phase']} {data['done']}/{data['target']}")
            elif kind == "done" and not data["result"].ok:
                console.print(f"[red]{data['label']}: {data['result'].error['message']}[/]")

        connection = connect(device)
        try:
            results = bench(paths, device, connection, options, on_event)
        finally:
            connection.close()
    if as_json:
        print_json({"results": [r.as_dict() for r in results]})
    else:
        print_tables(render.bench_table(results))
        for result in results:
            for warning in result.warnings:
                click.secho(
                    f"warning: {Path(result.model).name} threads={result.threads}: {warning}", fg="yellow", err=True
                )
    failed = [r for r in results if not r.ok]
    if failed:
        raise RunsFailed(
            f"{len(failed)} of {len(results)} configurations failed",
            hint=failed[0].error.get("hint") or "see the errors above",
        )


@cli.group("devices", invoke_without_command=True)
@click.option("--inventory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def devices_group(ctx: click.Context, inventory: Path | None, as_json: bool) -> None:
    """Known devices (``local`` is always there)."""
    if ctx.invoked_subcommand is None:
        _list(inventory, as_json)


@devices_group.command("list")
@click.option("--inventory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def devices_list(inventory: Path | None, as_json: bool) -> None:
    """List the devices of the inventory."""
    _list(inventory, as_json)


def _list(inventory: Path | None, as_json: bool) -> None:
    devices = load_inventory(inventory)
    if as_json:
        print_json({"devices": [d.__dict__ for d in devices.values()]})
    else:
        print_tables(render.devices_table(devices))
