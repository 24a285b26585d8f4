"""Options shared by the commands that talk to devices."""

from __future__ import annotations

from pathlib import Path

import click


def int_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("use comma-separated integers, e.g. 1,2,4") from None
    if not numbers or min(numbers) < 1:
        raise click.BadParameter("thread counts must be positive")
    return numbers


inventory_option = click.option(
    "--inventory", type=click.Path(path_type=Path), help="Inventory file (default: $EDGEDQ_INVENTORY, else ~/.config)."
)
accept_option = click.option(
    "--accept-new-host", is_flag=True, help="Trust an unknown host key and record it in ~/.ssh/known_hosts."
)
SECONDS = click.FloatRange(min=0.0, min_open=True)  # a wait of 0 s or less is never what was meant
lock_wait_option = click.option(
    "--lock-wait",
    type=click.FloatRange(min=0.0),
    default=600.0,
    show_default=True,
    help="Seconds to wait while another run holds the board.",
)
threads_option = click.option("--threads", callback=int_list, help="Thread counts, e.g. 1,2,4 (default: the device's).")
runs_option = click.option(
    "--runs", type=click.IntRange(min=1), default=50, show_default=True, help="Counted runs (at least)."
)
warmup_option = click.option(
    "--warmup", type=click.IntRange(min=0), default=1, show_default=True, help="Warm-up runs, not counted."
)
max_secs_option = click.option(
    "--max-secs",
    type=SECONDS,
    default=150.0,
    show_default=True,
    help="Cap on the counted runs (and on the warm-up) of one configuration, as benchmark_model's --max_secs.",
)


def timeout_option(default: float) -> click.Option:
    return click.option(
        "--timeout",
        type=SECONDS,
        default=default,
        show_default=True,
        help="Seconds of silence before an agent counts as hung.",
    )


def board_options(command):  # type: ignore[no-untyped-def]
    """--inventory, --accept-new-host and --lock-wait: every command that may talk to a board."""
    return inventory_option(accept_option(lock_wait_option(command)))


def _input_shapes(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list:
    from edgedq_agent.inputs import parse_shape

    try:
        return [parse_shape(value) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _batch(_ctx: click.Context, _param: click.Parameter, value: str) -> int | None:
    if value.lower() == "none":
        return None
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter("a positive whole number, or none (keep the batch open)")
    return int(value)


input_shape_option = click.option(
    "--input-shape",
    "input_shapes",
    multiple=True,
    callback=_input_shapes,
    metavar="NAME:D0,D1,...",
    help="The shape to run an input at (repeatable; NAME may be left out for a one-input model), as "
    "benchmark_model's --input_layer_shape. Needed where an input has open dimensions besides the batch.",
)
batch_option = click.option(
    "--batch",
    default="1",
    show_default=True,
    callback=_batch,
    help="Convert with this fixed batch ('none' keeps it open: XNNPACK then splits most Keras models).",
)
custom_objects_option = click.option(
    "--custom-objects",
    multiple=True,
    metavar="MODULE:NAME",
    help="A custom Keras layer or function the model needs, importable from here (repeatable).",
)


def conversion_options(command):  # type: ignore[no-untyped-def]
    """--batch and --custom-objects: every command that may convert a TensorFlow source."""
    return batch_option(custom_objects_option(command))
