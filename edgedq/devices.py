"""The device inventory, and the built-in ``local`` device (this machine, board-like Python).

Inventory file: ``--inventory FILE``, else ``$EDGEDQ_INVENTORY``, else
``~/.config/edgedq/devices.yaml``.  Every field but ``host`` is optional;
unknown fields and wrong types are errors that name the field.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgedq.errors import DeviceError

LOCAL = "local"
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "port": int,
    "user": str,
    "identity_file": str,
    "python": str,
    "workdir": str,
    "threads": list,
    "tags": list,
    "runtime": str,
}


@dataclass
class Device:
    name: str
    host: str | None = None  # None: the local device
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    python: str | None = None
    workdir: str = "~/.edgedq"
    threads: list[int] = field(default_factory=lambda: [1])
    tags: list[str] = field(default_factory=list)
    runtime: str | None = None  # force ai_edge_litert / tflite_runtime / tensorflow

    @property
    def is_local(self) -> bool:
        return self.host is None


def inventory_path(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("EDGEDQ_INVENTORY"):
        return Path(os.environ["EDGEDQ_INVENTORY"]).expanduser()
    return Path("~/.config/edgedq/devices.yaml").expanduser()


def default_local_python() -> str:
    """The board-like interpreter: ``$EDGEDQ_LOCAL_PYTHON``, the checkout's .venv-device, else this Python."""
    if os.environ.get("EDGEDQ_LOCAL_PYTHON"):
        return os.environ["EDGEDQ_LOCAL_PYTHON"]
    checkout = Path(__file__).resolve().parent.parent / ".venv-device" / "bin" / "python"
    return str(checkout) if checkout.exists() else sys.executable


def _validate(name: str, entry: Any, path: Path) -> Device:
    if not isinstance(entry, dict):
        raise DeviceError(f"{path}: device {name!r} must be a mapping of fields")
    for key, value in entry.items():
        if key not in _FIELDS:
            raise DeviceError(
                f"{path}: device {name!r} has unknown field {key!r}", hint=f"known fields: {', '.join(_FIELDS)}"
            )
        if not isinstance(value, _FIELDS[key]) or isinstance(value, bool):
            raise DeviceError(
                f"{path}: device {name!r} field {key!r} must be {_FIELDS[key].__name__}, not {type(value).__name__}"
            )
    if name != LOCAL and "host" not in entry:
        raise DeviceError(f"{path}: device {name!r} needs a host")
    threads = entry.get("threads", [1])
    if not threads or not all(isinstance(t, int) and t > 0 for t in threads):
        raise DeviceError(f"{path}: device {name!r} field 'threads' must list positive integers")
    return Device(name=name, **{k: v for k, v in entry.items()})


def load_inventory(explicit: str | Path | None = None) -> dict[str, Device]:
    """Known devices; ``local`` is always there (an inventory entry may set its python or threads)."""
    devices = {LOCAL: Device(LOCAL, python=default_local_python(), threads=[1, 2])}
    path = inventory_path(explicit)
    if not path.exists():
        if explicit:
            raise DeviceError(f"inventory {path} does not exist")
        return devices
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DeviceError(f"inventory {path} is not valid YAML: {exc}") from exc
    entries = data.get("devices", {}) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise DeviceError(f"inventory {path} must have a 'devices:' mapping")
    for name, entry in entries.items():
        device = _validate(str(name), entry or {}, path)
        if device.name == LOCAL:
            device.host = None
            device.python = device.python or default_local_python()
        devices[device.name] = device
    return devices


def get_device(name: str, explicit_inventory: str | Path | None = None) -> Device:
    devices = load_inventory(explicit_inventory)
    if name not in devices:
        raise DeviceError(f"unknown device {name!r}", hint=f"known devices: {', '.join(sorted(devices))}")
    return devices[name]
