"""``edgedq devices``: the inventory, and checking and provisioning boards."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from edgedq.cli import render
from edgedq.cli.app import cli, print_json, print_tables, status_console
from edgedq.cli.options import accept_option, board_options, int_list, inventory_option
from edgedq.device.inventory import (
    add_device,
    get_device,
    inventory_path,
    load_inventory,
    remove_device,
    set_device_field,
)
from edgedq.errors import RuntimeMissing


@cli.group("devices", invoke_without_command=True)
@inventory_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def devices_group(ctx: click.Context, inventory: Path | None, as_json: bool) -> None:
    """Known devices (``local`` is always there), and getting boards ready."""
    if ctx.invoked_subcommand is None:
        _list(inventory, as_json)


@devices_group.command("list")
@inventory_option
@click.option("--json", "as_json", is_flag=True)
def devices_list(inventory: Path | None, as_json: bool) -> None:
    """List the devices of the inventory."""
    _list(inventory, as_json)


def _list(inventory: Path | None, as_json: bool) -> None:
    devices = load_inventory(inventory)
    if as_json:
        print_json({"inventory": str(inventory_path(inventory)), "devices": [d.__dict__ for d in devices.values()]})
    else:
        print_tables(render.devices_table(devices))


@devices_group.command("add")
@click.argument("name")
@click.option("--host", required=True, help="Address or ~/.ssh/config alias.")
@click.option("--port", type=int)
@click.option("--user")
@click.option("--identity-file")
@click.option("--python", help="Python on the board (default python3), e.g. ~/.edgedq/venv/bin/python.")
@click.option("--workdir", help="Where edgedq keeps its files on the board (default ~/.edgedq).")
@click.option("--threads", callback=int_list, help="Thread counts to benchmark by default, e.g. 1,4.")
@click.option("--tag", "tags", multiple=True, help="A tag for --tag selection (repeatable).")
@inventory_option
@click.option("--json", "as_json", is_flag=True, help='Print {"inventory", "device"}.')
def devices_add(name: str, inventory: Path | None, tags: tuple[str, ...], as_json: bool, **fields: object) -> None:
    """Add (or replace) a board in the inventory.

    \b
    edgedq devices add pi4 --host 192.168.1.40 --user pi --threads 1,4 --tag lab
    """
    path = add_device(name, {**fields, "tags": list(tags)}, inventory)
    if as_json:
        print_json({"inventory": str(path), "device": load_inventory(inventory)[name].__dict__})
    else:
        click.echo(f"{name} saved in {path}; next: edgedq devices check {name}")


@devices_group.command("remove")
@click.argument("name")
@inventory_option
@click.option("--json", "as_json", is_flag=True, help='Print {"inventory", "removed"}.')
def devices_remove(name: str, inventory: Path | None, as_json: bool) -> None:
    """Remove a board from the inventory (nothing on the board is touched)."""
    path = remove_device(name, inventory)
    if as_json:
        print_json({"inventory": str(path), "removed": name})
    else:
        click.echo(f"{name} removed from {path}")


@devices_group.command("check")
@click.argument("name")
@inventory_option
@accept_option
@click.option("--json", "as_json", is_flag=True)
def devices_check(name: str, inventory: Path | None, accept_new_host: bool, as_json: bool) -> None:
    """Connect, start the agent, and show what the board is and whether its runtime is ready.

    \b
    edgedq devices check pi4
    """
    from edgedq.device import provision

    device = get_device(name, inventory)
    with status_console().status(Text(f"{name}: connecting")):
        check = provision.hello(device, accept_new_host)
    remedy = provision.remedy(check, device)
    if as_json:
        print_json({**check.as_dict(), "remedy": remedy})
    else:
        print_tables(render.check_table(check))
    if remedy:
        error = check.runtime_error or {}
        raise RuntimeMissing(f"{name}: {error.get('message', 'no TFLite runtime')}", hint=remedy)


@devices_group.command("clean")
@click.argument("name")
@board_options
@click.option("--json", "as_json", is_flag=True, help='Print {"device", "files", "kilobytes"}.')
def devices_clean(name: str, inventory: Path | None, accept_new_host: bool, lock_wait: float, as_json: bool) -> None:
    """Remove every model, agent, dataset and wheel edgedq stored on a board (its venv stays).

    \b
    edgedq devices clean pi4
    """
    from edgedq.device import connect

    device = get_device(name, inventory)
    with (
        status_console().status(Text(f"{name}: cleaning")) as status,
        connect(device, accept_new_host) as connection,
        connection.hold(lock_wait, lambda text: status.update(Text(text))),
    ):
        files, kilobytes = connection.clean()
    if as_json:
        print_json({"device": name, "files": files, "kilobytes": kilobytes})
    else:
        click.echo(f"{name}: removed {files} files ({kilobytes / 1024:.1f} MB) from the store")


@devices_group.command("setup")
@click.argument("name")
@click.option("--offline", is_flag=True, help="Download the board's wheels here and push them (no internet needed).")
@click.option("--save", is_flag=True, help="Point the inventory's python at the new venv.")
@click.option("--base-python", default="python3", show_default=True, help="The board's Python that makes the venv.")
@inventory_option
@accept_option
@click.option("--json", "as_json", is_flag=True)
def devices_setup(
    name: str, offline: bool, save: bool, base_python: str, inventory: Path | None, accept_new_host: bool, as_json: bool
) -> None:
    """Make a venv in the board's work folder with numpy + ai-edge-litert.

    \b
    edgedq devices setup pi4 --save
    edgedq devices setup pi4 --offline      # the board has no internet
    """
    from edgedq.device import provision

    device = get_device(name, inventory)
    console = status_console()
    with console.status(Text(f"{name}: connecting")) as status:
        check = provision.setup(
            device, offline, accept_new_host, base_python, notice=lambda text: status.update(Text(f"{name}: {text}"))
        )
    if save:
        set_device_field(name, "python", check.python, inventory)
    if as_json:
        print_json({**check.as_dict(), "saved": save})
        return
    print_tables(render.check_table(check))
    if save:
        click.echo(f"{name}: the inventory's python is now {check.python}")
    else:
        click.echo(f"{name}: to use it, set 'python: {check.python}' in the inventory (or rerun with --save)")
