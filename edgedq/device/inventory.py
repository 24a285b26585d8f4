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

from ruamel.yaml import YAML, YAMLError

from edgedq import files
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
    "connect_timeout": (int, float),
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
    connect_timeout: float | None = None  # seconds to connect; None: ConnectTimeout in ssh_config, else 10

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
    checkout = Path(__file__).resolve().parents[2] / ".venv-device" / "bin" / "python"
    return str(checkout) if checkout.exists() else sys.executable


def _type_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


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
                f"{path}: device {name!r} field {key!r} must be {_type_name(_FIELDS[key])}, not {type(value).__name__}"
            )
    if name != LOCAL and "host" not in entry:
        raise DeviceError(f"{path}: device {name!r} needs a host")
    for problem in _range_problems(entry):
        raise DeviceError(f"{path}: device {name!r} field {problem}")
    return Device(name=name, **{k: v for k, v in entry.items()})


def _range_problems(entry: dict[str, Any]) -> list[str]:
    """Values of the right type that still cannot be meant (bools are ints in Python: they are refused too)."""
    problems = []
    threads = entry.get("threads", [1])
    if not threads or not all(isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in threads):
        problems.append("'threads' must list positive integers, e.g. [1, 4]")
    if "port" in entry and not 1 <= entry["port"] <= 65535:
        problems.append(f"'port' must be from 1 to 65535, not {entry['port']}")
    if "connect_timeout" in entry and not entry["connect_timeout"] > 0:
        problems.append(f"'connect_timeout' must be more than 0 seconds, not {entry['connect_timeout']}")
    workdir = entry.get("workdir", "~/.edgedq")
    if not (workdir == "~" or workdir.startswith(("~/", "/"))):
        problems.append(f"'workdir' must be absolute or start with ~/ (the SSH user's home), not {workdir!r}")
    if "tags" in entry and not all(isinstance(t, str) for t in entry["tags"]):
        problems.append("'tags' must list strings")
    return problems


def load_inventory(explicit: str | Path | None = None) -> dict[str, Device]:
    """Known devices; ``local`` is always there (an inventory entry may set its python or threads)."""
    devices = {LOCAL: Device(LOCAL, python=default_local_python(), threads=[1, 2])}
    path = inventory_path(explicit)
    if not path.exists():
        if explicit:
            raise DeviceError(f"inventory {path} does not exist")
        return devices
    for name, entry in _entries(_read(path), path).items():
        device = _validate(str(name), entry or {}, path)
        if device.name == LOCAL:
            device.host = None
            device.python = device.python or default_local_python()
        devices[device.name] = device
    return devices


def get_device(name: str, explicit_inventory: str | Path | None = None) -> Device:
    return select_devices([name], [], explicit_inventory)[0]


def select_devices(names: list[str], tags: list[str], explicit_inventory: str | Path | None = None) -> list[Device]:
    """Devices by name and by tag, in the order given, each once; an unknown name lists the known ones."""
    devices = load_inventory(explicit_inventory)
    unknown = [name for name in names if name not in devices]
    if unknown:
        raise DeviceError(f"unknown device {unknown[0]!r}", hint=f"known devices: {', '.join(sorted(devices))}")
    chosen = [devices[name] for name in names]
    for tag in tags:
        tagged = [d for d in devices.values() if tag in d.tags]
        if not tagged:
            known = sorted({t for d in devices.values() for t in d.tags})
            raise DeviceError(f"no device has tag {tag!r}", hint=f"known tags: {', '.join(known) or 'none'}")
        chosen.extend(tagged)
    return list({d.name: d for d in chosen}.values())


# -- editing the inventory: round-trip YAML, so the user's comments and order survive --------------------------
def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _read(path: Path) -> Any:
    try:
        return _yaml().load(path.read_text()) or {}
    except YAMLError as exc:
        raise DeviceError(f"inventory {path} is not valid YAML: {exc}") from None


def _entries(data: Any, path: Path) -> dict[str, Any]:
    entries = data.get("devices", {}) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise DeviceError(f"inventory {path} must have a 'devices:' mapping")
    return entries


def _write(data: Any, path: Path) -> None:
    import io

    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write_bytes(path, buffer.getvalue().encode())


def add_device(name: str, fields: dict[str, Any], explicit_inventory: str | Path | None = None) -> Path:
    """Add or replace one device (validated first); returns the inventory file written."""
    path = inventory_path(explicit_inventory)
    if name == LOCAL:
        raise DeviceError("'local' is built in; set its python or threads by editing the inventory")
    entry = {k: v for k, v in fields.items() if v not in (None, [], ())}
    _validate(name, entry, path)
    data = _read(path) if path.exists() else {}
    if not data:
        data = {"devices": {}}
    _entries(data, path)[name] = entry
    _write(data, path)
    return path


def _editable(name: str, path: Path) -> tuple[Any, dict[str, Any]]:
    data = _read(path) if path.exists() else {}
    entries = _entries(data, path) if data else {}
    if name not in entries:
        raise DeviceError(f"{name!r} is not in {path}", hint=f"add it with: edgedq devices add {name} --host HOST")
    return data, entries


def set_device_field(name: str, key: str, value: Any, explicit_inventory: str | Path | None = None) -> Path:
    path = inventory_path(explicit_inventory)
    data, entries = _editable(name, path)
    entries[name][key] = value
    _validate(name, entries[name], path)
    _write(data, path)
    return path


def remove_device(name: str, explicit_inventory: str | Path | None = None) -> Path:
    path = inventory_path(explicit_inventory)
    data, entries = _editable(name, path)
    del entries[name]
    _write(data, path)
    return path
