"""From a Device to a connection that can stage files and start agents on it."""

from __future__ import annotations

from typing import Any

from edgedq.devices import Device
from edgedq.errors import DeviceError
from edgedq.local_link import LocalConnection


def connect(device: Device) -> Any:
    if device.is_local:
        return LocalConnection(device.python or "python3", device.runtime)
    raise DeviceError(
        f"{device.name}: SSH boards are not supported by this version of edgedq yet",
        hint="benchmark on the 'local' device for now",
    )
