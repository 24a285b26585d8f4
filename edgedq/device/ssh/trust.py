"""Host-key trust, as ``ssh`` does it: the known_hosts files ssh_config names, trust-on-first-use only when asked.

An unknown host is refused unless ``--accept-new-host`` or StrictHostKeyChecking ``accept-new``/``no`` says so
(its key is then appended to the first UserKnownHostsFile); ``ask`` is ``yes`` (edgedq asks nothing).  A changed
key is refused whatever the flags and settings, because that is what an attack looks like; a key marked
``@revoked`` is refused always, even where another line lists it.  known_hosts is read here, not by paramiko,
which stops at the first marker line.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from paramiko.hostkeys import HostKeyEntry, HostKeys, InvalidHostKey

from edgedq.errors import HostKeyError


@dataclass(frozen=True)
class KnownHostsCheck:
    """How one host's key is checked: under which name, in which files, how strictly, how a new key is written."""

    name: str  # [host]:port (host on port 22), or the HostKeyAlias
    user_files: tuple[Path, ...]  # UserKnownHostsFile: read, and a new key goes to the first
    global_files: tuple[Path, ...]  # GlobalKnownHostsFile: read only
    strict: str = "yes"  # StrictHostKeyChecking: "yes" (ssh's yes and ask), "accept-new" or "no"
    hashed: bool | None = None  # HashKnownHosts; None when the config does not say: as the file already does

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": [str(path) for path in (*self.user_files, *self.global_files)],
            "strict": self.strict,
            "hash": self.hashed,
        }


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
    except (paramiko.SSHException, InvalidHostKey, ValueError) as exc:  # bad base64 is an InvalidHostKey
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
    """Every host-key decision of one hop: paramiko is given no keys of its own, so each handshake lands here.

    Revoked: refused.  Known with this key: trusted.  Known with another key of this type: CHANGED, refused
    whatever the flags.  Unknown: refused, or recorded when ``accept_new`` or the hop's StrictHostKeyChecking
    (``accept-new``, ``no``) allows it.  ``role`` names the hop in errors ("jump host ").
    """

    def __init__(self, accept_new: bool, device: str, check: KnownHostsCheck, role: str = "") -> None:
        self.device, self.check, self.role = device, check, role
        self.accept_new = accept_new or check.strict in ("accept-new", "no")
        self.hosts = read_known_hosts([*check.user_files, *check.global_files])

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        name = self.check.name  # not paramiko's: a HostKeyAlias names the host in known_hosts
        if self.hosts.is_revoked(name, key):
            raise revoked_error(self.device, name, key)
        known = self.hosts.known.lookup(name)
        if known and any(candidate == key for candidate in known.values()):
            return
        if known and key.get_name() in known:
            raise changed_key_error(self.device, name, key, known[key.get_name()])
        files = [str(path) for path in (*self.check.user_files, *self.check.global_files) if path.exists()]
        record = self.check.user_files[0] if self.check.user_files else None
        if not self.accept_new:
            raise HostKeyError(
                f"{self.device}: {self.role}{name} is not a known host (its {key.get_name()} key is {key.fingerprint};"
                f" read {', '.join(files) or 'no known_hosts file'})",
                hint="check the fingerprint on the board (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), "
                "then rerun with --accept-new-host to trust it" + (f" and record it in {record}" if record else ""),
            )
        if record is not None:
            record_host_key(record, name, key, self.check.hashed)
        client.get_host_keys().add(name, key.get_name(), key)


def record_host_key(path: Path, name: str, key: paramiko.PKey, hashed: bool | None = None) -> None:
    """Append one line to ``path``, hashed like ``ssh-keygen -H`` when ``hashed`` (None: when the file already
    hashes its names), creating its folder (mode 700) if needed; other lines stay untouched."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
        existing = path.read_bytes() if path.is_file() else b""
        if hashed is None:
            hashed = any(line.startswith(b"|1|") for line in existing.splitlines())
        line = HostKeyEntry([HostKeys.hash_host(name) if hashed else name], key).to_line()
        with open(path, "a") as handle:
            if existing and not existing.endswith(b"\n"):
                handle.write("\n")
            handle.write(line)
            handle.flush()
            if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # not /dev/null
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
