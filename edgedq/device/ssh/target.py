"""Where an inventory device really lives: its inventory fields merged over ``~/.ssh/config``, as ``ssh`` does.

ssh_config supplies HostName, User, Port, IdentityFile and ProxyJump for an
alias; an inventory value wins over ssh_config, and ssh's defaults fill the rest.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from edgedq.device.inventory import Device
from edgedq.errors import DeviceError


@dataclass(frozen=True)
class SSHTarget:
    """One hop: the address to dial, whom to log in as, which keys to offer, and the hops before it."""

    hostname: str
    port: int = 22
    user: str = field(default_factory=getpass.getuser)
    identity_files: tuple[str, ...] = ()
    jumps: tuple[SSHTarget, ...] = ()
    timeout: float = 10.0


def ssh_config_path() -> Path:
    return Path("~/.ssh/config").expanduser()


def _load_ssh_config() -> paramiko.SSHConfig:
    path = ssh_config_path()
    if not path.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except (OSError, paramiko.ConfigParseError) as exc:
        raise DeviceError(f"cannot read {path}: {exc}", hint="fix it; 'ssh -G HOST' shows how ssh reads it") from None


def _hop(
    spec: str,
    config: paramiko.SSHConfig,
    seen: tuple[str, ...],
    timeout: float,
    overrides: dict[str, object] | None = None,
) -> SSHTarget:
    """One ``[user@]host[:port]`` or alias, resolved through ssh_config, with its own ProxyJump chain."""
    user, _, host = spec.rpartition("@")
    port: int | None = None
    if host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    if host in seen:
        raise DeviceError(f"ProxyJump loop through {host!r} in {ssh_config_path()}")
    entry = config.lookup(host)
    overrides = overrides or {}
    jumps: tuple[SSHTarget, ...] = ()
    proxy = str(entry.get("proxyjump", "none"))
    if proxy.lower() != "none":
        jumps = tuple(_hop(part.strip(), config, (*seen, host), timeout) for part in proxy.split(","))
    identity = overrides.get("identity_file")
    identity_files = (os.path.expanduser(str(identity)),) if identity else tuple(entry.get("identityfile", ()))
    return SSHTarget(
        hostname=str(entry.get("hostname", host)),
        port=int(overrides.get("port") or port or entry.get("port", 22)),  # type: ignore[arg-type]
        user=str(overrides.get("user") or user or entry.get("user") or getpass.getuser()),
        identity_files=identity_files,
        jumps=jumps,
        timeout=timeout,
    )


def resolve_target(device: Device) -> SSHTarget:
    """The device's SSH target; an inventory field overrides what ssh_config says for the same alias."""
    if device.is_local or not device.host:
        raise DeviceError(f"{device.name} is not an SSH device")
    if device.identity_file and not Path(device.identity_file).expanduser().is_file():
        raise DeviceError(
            f"{device.name}: identity_file {device.identity_file} does not exist",
            hint="fix identity_file in the inventory, or remove it to use ssh-agent and ~/.ssh/id_* keys",
        )
    overrides = {"port": device.port, "user": device.user, "identity_file": device.identity_file}
    return _hop(device.host, _load_ssh_config(), (), float(device.connect_timeout), overrides)
