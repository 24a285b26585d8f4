"""From a Device to a Connection: a child process for ``local``, an SSH session for a board."""

from __future__ import annotations

from edgedq.connection import Connection
from edgedq.devices import Device
from edgedq.local_link import LocalConnection


def connect(device: Device, accept_new_host: bool = False) -> Connection:
    if device.is_local:
        return LocalConnection(device.python or "python3", device.runtime)
    from edgedq.remote.connection import SSHConnection  # paramiko only when a board is used

    return SSHConnection(device, accept_new_host)
