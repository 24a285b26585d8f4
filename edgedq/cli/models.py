"""convert, inspect, compare: the commands that work on model files."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import conversion_options, input_shape_option
from edgedq.conversion import MODES
from edgedq.tflite import DEFAULT_SAMPLES


@cli.command("convert")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="OUT.tflite; with several modes, OUT.<mode>.tflite each.",
)
@click.option(
    "--mode", "modes", type=click.Choice(MODES), multiple=True, help="Variant to write (repeatable). Default: dynamic."
)
@click.option("--all", "all_modes", is_flag=True, help="Every mode (int8 needs --calibration).")
@click.option("--calibration", type=click.Path(path_type=Path), help="Representative inputs (.npz) for int8.")
@click.option("--keep-float", metavar="REGEX", help="Keep ops whose type or weight name matches in float.")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Inputs (.npz) to measure fidelity on (default: the calibration data, else generated).",
)
@conversion_options
@input_shape_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest(s) as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's own log.")
def convert_command(
    source: Path,
    output: Path,
    modes: tuple[str, ...],
    all_modes: bool,
    calibration: Path | None,
    keep_float: str | None,
    data: Path | None,
    batch: int | None,
    custom_objects: tuple[str, ...],
    input_shapes: list,
    as_json: bool,
    verbose: bool,
) -> None:
    """Convert a SavedModel, .keras or .h5 model to TFLite (dynamic-range by default).

    \b
    edgedq convert model.keras -o model.tflite
    edgedq convert saved/ -o out/model.tflite --mode dynamic --mode float32
    """
    from edgedq.cli import render
    from edgedq.conversion.pipeline import convert

    chosen = list(MODES) if all_modes else list(modes) or ["dynamic"]
    if all_modes and calibration is None:
        chosen.remove("int8")
        click.echo("note: int8 skipped: it needs representative inputs (--calibration FILE.npz)", err=True)
    console = status_console()
    with console.status(Text("starting")) as status:
        result = convert(
            source,
            output,
            chosen,
            calibration=calibration,
            keep_float=keep_float,
            batch=batch,
            custom_objects=custom_objects,
            data=data,
            input_shapes=input_shapes,
            on_stage=lambda stage: status.update(Text(stage)),
            verbose=verbose,
        )
    if verbose and result.tensorflow_log:
        click.echo(result.tensorflow_log, err=True)
    if as_json:
        manifests = [v.manifest for v in result.variants]
        print_json(manifests[0] if len(manifests) == 1 else manifests)
        return
    print_tables(render.conversion_table(result))
    for variant in result.variants:
        for note in variant.notes:
            click.secho(f"warning: {note}", fg="yellow", err=True)
    if all(v.cached for v in result.variants):
        click.echo("All variants came from the cache: nothing was converted.", err=True)


@cli.command("inspect")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--tensors", is_flag=True, help="List every tensor with its quantization parameters.")
@input_shape_option
@click.option("--json", "as_json", is_flag=True)
def inspect_command(model: Path, tensors: bool, input_shapes: list, as_json: bool) -> None:
    """Ops, weight types and what XNNPACK really takes of a .tflite model.

    \b
    edgedq inspect model.tflite --tensors
    """
    from edgedq.cli import render
    from edgedq.tflite.inspection import inspect_model

    report = inspect_model(model, input_shapes)
    if as_json:
        print_json(report.as_dict(with_tensors=tensors))
        return
    print_tables(*render.inspect_tables(report, tensors))
    for warning in report.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@cli.command("compare")
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), help="Inputs (.npz); default: generated.")
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=DEFAULT_SAMPLES,
    show_default=True,
    help="How many generated inputs.",
)
@input_shape_option
@click.option("--json", "as_json", is_flag=True)
def compare_command(
    reference: Path, candidate: Path, data: Path | None, samples: int, input_shapes: list, as_json: bool
) -> None:
    """How far CANDIDATE's outputs stray from REFERENCE's on the same inputs.

    \b
    edgedq compare model.float32.tflite model.dynamic.tflite
    """
    from edgedq.cli import render
    from edgedq.tflite.compare import compare

    comparison = compare(reference, candidate, data=data, samples=samples, input_shapes=input_shapes)
    if as_json:
        print_json(comparison.as_dict())
        return
    print_tables(render.comparison_table(comparison))
    for warning in comparison.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
