"""Host-key trust, as ``ssh`` does it: known_hosts by default, trust-on-first-use only when asked.

An unknown host is refused unless ``--accept-new-host`` (its key is then
appended to known_hosts, like ``StrictHostKeyChecking=accept-new``); a changed
key is refused whatever the flags, because that is what an attack looks like;
a key marked ``@revoked`` is refused always, even where another line lists it.
known_hosts is read here, not by paramiko, which stops at the first marker line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, HostKeys

from edgedq.errors import HostKeyError

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


def known_hosts_path() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


def host_key_name(hostname: str, port: int) -> str:
    """The name known_hosts files use: ``host`` on port 22, ``[host]:port`` elsewhere."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


@dataclass
class KnownHosts:
    """What the known_hosts files say: trusted keys, revoked keys, and lines edgedq did not use (with why)."""

    known: HostKeys = field(default_factory=HostKeys)
    revoked: HostKeys = field(default_factory=HostKeys)
    notes: list[str] = field(default_factory=list)

    def is_revoked(self, name: str, key: paramiko.PKey) -> bool:
        found = self.revoked.lookup(name)
        return bool(found) and any(k == key for k in found.values())


def _entry(line: str, where: str, notes: list[str]) -> HostKeyEntry | None:
    try:
        return HostKeyEntry.from_line(line)
    except (paramiko.SSHException, ValueError) as exc:  # InvalidHostKey is an SSHException
        notes.append(f"{where}: unreadable line skipped ({type(exc).__name__})")
        return None


def read_known_hosts(paths: list[Path]) -> KnownHosts:
    """Every readable line of ``paths`` (missing files are fine; a directory where a file should be is not)."""
    hosts = KnownHosts()
    for path in paths:
        if not path.exists():
            continue
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError as exc:
            raise HostKeyError(
                f"cannot read {path}: {exc.strerror}", hint="known_hosts must be a readable file: fix or move it"
            ) from None
        for number, raw in enumerate(lines, 1):
            line, where = raw.strip(), f"{path}:{number}"
            if not line or line.startswith("#"):
                continue
            marker, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
            if marker == "@cert-authority":
                hosts.notes.append(f"{where}: @cert-authority line skipped (edgedq does not verify host certificates)")
                continue
            if marker and marker != "@revoked":
                hosts.notes.append(f"{where}: unknown marker {marker} skipped")
                continue
            entry = _entry(rest.strip(), where, hosts.notes)
            if entry is not None:
                target = hosts.revoked if marker else hosts.known
                for name in entry.hostnames:
                    target.add(name, entry.key.get_name(), entry.key)
    return hosts


class TrustPolicy(paramiko.MissingHostKeyPolicy):
    """Every host-key decision in one place: paramiko is given no keys of its own, so each handshake lands here.

    Revoked: refused.  Known with this key: trusted.  Known with another key of this type: CHANGED, refused
    whatever the flags.  Unknown: refused, or recorded with ``accept_new`` (trust on first use).
    """

    def __init__(self, accept_new: bool, device: str, hosts: KnownHosts | None = None) -> None:
        self.accept_new, self.device = accept_new, device
        self.hosts = hosts or read_known_hosts([SYSTEM_KNOWN_HOSTS, known_hosts_path()])

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if self.hosts.is_revoked(hostname, key):
            raise revoked_error(self.device, hostname, key)
        known = self.hosts.known.lookup(hostname)
        if known and any(candidate == key for candidate in known.values()):
            return
        if known and key.get_name() in known:
            raise changed_key_error(self.device, hostname, key, known[key.get_name()])
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
    """Append one line to ~/.ssh/known_hosts (hashed, like ``ssh-keygen -H``, when the file already hashes its
    names), creating ~/.ssh (mode 700) if needed; other lines stay untouched."""
    path = known_hosts_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        existing = path.read_bytes() if path.exists() else b""
        hashed = any(line.startswith(b"|1|") for line in existing.splitlines())
        line = HostKeyEntry([HostKeys.hash_host(name) if hashed else name], key).to_line()
        with open(path, "a") as handle:
            if existing and not existing.endswith(b"\n"):
                handle.write("\n")
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise HostKeyError(f"cannot record the host key in {path}: {exc.strerror}", hint="fix or move it") from None


def revoked_error(device: str, name: str, key: paramiko.PKey) -> HostKeyError:
    return HostKeyError(
        f"{device}: the host key of {name} ({key.get_name()} {key.fingerprint}) is marked @revoked in known_hosts; "
        "refusing to connect",
        hint="a revoked key must never be trusted again; if the board has a new key, check its fingerprint there "
        "and record it, then remove the @revoked line only if it was a mistake",
    )


def changed_key_error(device: str, name: str, key: paramiko.PKey, expected: paramiko.PKey) -> HostKeyError:
    return HostKeyError(
        f"{device}: the host key of {name} has CHANGED (now {key.get_name()} {key.fingerprint}, "
        f"known_hosts says {expected.fingerprint}); refusing to connect",
        hint="someone may be intercepting the connection. If the board was reinstalled, remove the old key with "
        f"ssh-keygen -R '{name}' and connect again with --accept-new-host",
    )
