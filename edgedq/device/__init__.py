"""Devices: the inventory, one ``Connection`` interface for ``local`` and SSH boards, the agent and provisioning.

Never imports ``conversion``, ``tflite`` or ``measure``: a device moves files and
runs agents; what is measured is the caller's business.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgedq.device.connection import Connection
    from edgedq.device.inventory import Device


def connect(device: Device, accept_new_host: bool = False) -> Connection:
    """A child-process connection for ``local``, an SSH connection for a board (paramiko only then)."""
    if device.is_local:
        from edgedq.device.local import LocalConnection

        return LocalConnection(device.python or "python3", device.runtime)
    from edgedq.device.ssh.connection import SSHConnection

    return SSHConnection(device, accept_new_host)


def close_all() -> None:
    """Close every open board connection at once (Ctrl-C): threads waiting on one return, boards end the lease."""
    ssh = sys.modules.get("edgedq.device.ssh.client")
    if ssh is not None:
        ssh.close_all()
