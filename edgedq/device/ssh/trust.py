"""Host-key trust, as ``ssh`` does it: known_hosts by default, trust-on-first-use only when asked.

An unknown host is refused unless ``--accept-new-host`` (its key is then
appended to known_hosts, like ``StrictHostKeyChecking=accept-new``); a changed
key is refused whatever the flags, because that is what an attack looks like.
"""

from __future__ import annotations

import os
from pathlib import Path

import paramiko

from edgedq.errors import HostKeyError

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


def known_hosts_path() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


def host_key_name(hostname: str, port: int) -> str:
    """The name known_hosts files use: ``host`` on port 22, ``[host]:port`` elsewhere."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def load_known_hosts(client: paramiko.SSHClient) -> None:
    for path, loader in ((SYSTEM_KNOWN_HOSTS, client.load_system_host_keys), (known_hosts_path(), None)):
        if not path.is_file():
            continue
        try:
            if loader:
                loader(str(path))
            else:  # read the user's file without making paramiko rewrite it later
                client.get_host_keys().load(str(path))
        except (OSError, paramiko.SSHException) as exc:
            raise HostKeyError(f"cannot read {path}: {exc}", hint="fix or move the known_hosts file") from exc


class TrustPolicy(paramiko.MissingHostKeyPolicy):
    """Decides about hosts that known_hosts does not list (changed keys never reach here: paramiko refuses them)."""

    def __init__(self, accept_new: bool, device: str) -> None:
        self.accept_new = accept_new
        self.device = device

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        fingerprint = key.fingerprint
        if not self.accept_new:
            raise HostKeyError(
                f"{self.device}: {hostname} is not a known host (its {key.get_name()} key is {fingerprint})",
                hint="check the fingerprint on the board (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), "
                "then rerun with --accept-new-host to trust it and record it in ~/.ssh/known_hosts",
            )
        record_host_key(hostname, key)
        client.get_host_keys().add(hostname, key.get_name(), key)


def record_host_key(name: str, key: paramiko.PKey) -> None:
    """Append one line to ~/.ssh/known_hosts, creating ~/.ssh (mode 700) if needed; other lines stay untouched."""
    path = known_hosts_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = paramiko.hostkeys.HostKeyEntry([name], key).to_line()
    with open(path, "a") as handle:
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            handle.write("\n")
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def changed_key_error(device: str, name: str, error: paramiko.BadHostKeyException) -> HostKeyError:
    return HostKeyError(
        f"{device}: the host key of {name} has CHANGED (now {error.key.get_name()} {error.key.fingerprint}, "
        f"known_hosts says {error.expected_key.fingerprint}); refusing to connect",
        hint="someone may be intercepting the connection. If the board was reinstalled, remove the old key with "
        f"ssh-keygen -R '{name}' and connect again with --accept-new-host",
    )
