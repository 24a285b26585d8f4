"""Where an inventory device really lives: what ``ssh`` would use to reach it, with the inventory's fields on top.

Precedence, field by field: the inventory, then ssh_config as OpenSSH resolves it (``sshconfig``: ``ssh -G``),
then the defaults (OpenSSH's, but edgedq's own connect timeout and keepalives: it never waits on a dead link
for ever).  A ProxyJump chain is resolved the way ssh runs it (``ProxyJump a,b`` is ``ssh -J a b``, which forwards
to the board): each jump host with its own settings, the first named dialled first.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgedq.device.inventory import Device
from edgedq.device.ssh.sshconfig import (
    DEFAULT,
    SSH_G,
    HostConfig,
    expand,
    file_tokens,
    lookup,
    proxy_tokens,
)
from edgedq.device.ssh.trust import KnownHostsCheck, host_key_name
from edgedq.errors import DeviceError

CONNECT_TIMEOUT = 10.0  # seconds for TCP connect, SSH banner and authentication, when nothing says otherwise
ALIVE_INTERVAL, ALIVE_COUNT = 5.0, 3  # as ServerAliveInterval/CountMax, when the config sets none (OpenSSH: off)
MAX_HOPS = 16
_PLAIN_NAME = re.compile(r"[\w.@%:+\[\]-]+")  # what a host or user may be when it goes into a ProxyCommand


@dataclass(frozen=True)
class SSHTarget:
    """One hop: where to dial, whom to log in as, which keys to offer, how to trust it, and the hops before it."""

    hostname: str
    host_keys: KnownHostsCheck  # how its host key is checked
    port: int = 22
    user: str = field(default_factory=getpass.getuser)
    alias: str = ""  # the name it was asked for (an ssh_config Host, or the address itself)
    identity_files: tuple[str, ...] = ()
    certificate_files: tuple[str, ...] = ()
    identities_only: bool = False
    identity_agent: str | None = None  # the agent's socket; None: no agent
    jumps: tuple[SSHTarget, ...] = ()  # dialled in this order; the first may have a proxy command
    proxy_command: str | None = None  # expanded; its stdin/stdout are the link to this hop
    timeout: float = CONNECT_TIMEOUT
    alive_interval: float = ALIVE_INTERVAL
    alive_count: int = ALIVE_COUNT
    resolver: str = SSH_G
    sources: tuple[tuple[str, str], ...] = ()  # (field, "inventory" | "ssh -G" | "paramiko" | "default")

    @property
    def address(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"

    def describe(self) -> dict[str, Any]:
        """What ``devices check --json`` shows: the resolved values and where each came from."""
        return {
            "resolver": self.resolver,
            "alias": self.alias,
            "host": self.hostname,
            "port": self.port,
            "user": self.user,
            "identity_files": list(self.identity_files),
            "certificate_files": list(self.certificate_files),
            "identities_only": self.identities_only,
            "identity_agent": self.identity_agent or "none",
            "jumps": [
                {"alias": hop.alias, "address": hop.address, "proxy_command": hop.proxy_command} for hop in self.jumps
            ],
            "proxy_command": self.proxy_command,
            "known_hosts": self.host_keys.describe(),
            "connect_timeout": self.timeout,
            "server_alive": {"interval": self.alive_interval, "count": self.alive_count},
            "sources": dict(self.sources),
        }


def parse_spec(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` or ``ssh://[user@]host[:port]`` (host may be ``[IPv6]``), as ProxyJump takes them."""
    user, _, host = spec.removeprefix("ssh://").rpartition("@")
    port = None
    if host.startswith("[") and "]" in host:
        host, _, rest = host[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        if not port_text.isdigit():
            raise DeviceError(f"bad port in {spec!r}", hint="write [user@]host[:port]")
        port = int(port_text)
    return user or None, host, port


def resolve_target(device: Device) -> SSHTarget:
    """The device's SSH target; an inventory field overrides what ssh_config says for the same alias."""
    if device.is_local or not device.host:
        raise DeviceError(f"{device.name} is not an SSH device")
    if device.identity_file and not Path(device.identity_file).expanduser().is_file():
        raise DeviceError(
            f"{device.name}: identity_file {device.identity_file} does not exist",
            hint="fix identity_file in the inventory, or remove it to use the keys your ssh config and agent give",
        )
    user, host, port = parse_spec(device.host)
    target = _resolve(host, device.user or user, device.port or port, None, device.connect_timeout, ())
    inventory = {
        "port": bool(device.port or port),
        "user": bool(device.user or user),
        "identity_files": bool(device.identity_file),
        "connect_timeout": device.connect_timeout is not None,
    }
    sources = tuple((name, "inventory" if inventory.get(name) else source) for name, source in target.sources)
    if device.identity_file:
        target = replace(target, identity_files=(os.path.expanduser(device.identity_file),))
    return replace(target, sources=sources)


def _resolve(
    host: str, user: str | None, port: int | None, jumps: str | None, timeout: float | None, seen: tuple[str, ...]
) -> SSHTarget:
    """One hop as ``ssh [-l USER] [-p PORT] [-J JUMPS] HOST`` would reach it, its own jump hosts resolved first."""
    key = f"{user}@{host}:{port} -J {jumps}"
    if key in seen or len(seen) >= MAX_HOPS:
        raise DeviceError(f"ProxyJump loop through {host!r}", hint=f"check ProxyJump in your ssh config: ssh -G {host}")
    config = lookup(host, user, port, jumps)
    hostname = config.first("hostname") or host
    port_, user_ = int(config.first("port") or 22), config.first("user") or getpass.getuser()
    alias = config.first("hostkeyalias", "none")
    key_alias = host if alias == "none" else alias
    chain: tuple[SSHTarget, ...] = ()
    jump_host = ""
    proxy_jump = config.first("proxyjump", "none")
    if proxy_jump.lower() != "none":
        *rest, last = (part.strip() for part in proxy_jump.split(","))
        jump_user, jump_host, jump_port = parse_spec(last)
        via = _resolve(jump_host, jump_user, jump_port, ",".join(rest) or None, timeout, (*seen, key))
        chain = (*via.jumps, replace(via, jumps=()))
    proxy = config.first("proxycommand", "none")
    proxy_command = None
    if not chain and proxy.lower() != "none":
        for name in (hostname, user_):
            if not _PLAIN_NAME.fullmatch(name) or name.startswith("-"):
                raise DeviceError(f"{name!r} would go into the ProxyCommand {proxy!r} unquoted: refused",
                                  hint="use plain host and user names (letters, digits, . _ - @ : %)")  # fmt: skip
        proxy_command = expand(proxy, proxy_tokens(host, hostname, port_, user_, key_alias), "ProxyCommand", False)
    tokens = file_tokens(host, hostname, port_, user_, jump_host, key_alias)
    return SSHTarget(
        hostname=hostname,
        port=port_,
        user=user_,
        alias=host,
        identity_files=tuple(expand(path, tokens, "IdentityFile") for path in config.all("identityfile")),
        certificate_files=tuple(expand(path, tokens, "CertificateFile") for path in config.all("certificatefile")),
        identities_only=config.enabled("identitiesonly"),
        identity_agent=_agent(config.first("identityagent")),
        jumps=chain,
        proxy_command=proxy_command,
        host_keys=_host_keys(config, host_key_name(hostname, port_) if alias == "none" else alias),
        timeout=timeout or _seconds(config.first("connecttimeout")) or CONNECT_TIMEOUT,
        alive_interval=_seconds(config.first("serveraliveinterval")) or ALIVE_INTERVAL,
        alive_count=_count(config.first("serveralivecountmax")),  # OpenSSH's default count is edgedq's: 3
        resolver=config.resolver,
        sources=_sources(config),
    )


def _host_keys(config: HostConfig, name: str) -> KnownHostsCheck:
    strict = (config.first("stricthostkeychecking") or "ask").lower()
    hashed = config.enabled("hashknownhosts") if config.source("hashknownhosts") != DEFAULT else None
    return KnownHostsCheck(
        name=name,
        user_files=tuple(config.files("userknownhostsfile")),
        global_files=tuple(config.files("globalknownhostsfile")),
        strict={"accept-new": "accept-new", "no": "no", "off": "no", "false": "no"}.get(strict, "yes"),  # ask: yes
        hashed=hashed,
    )


def _agent(value: str | None) -> str | None:
    """IdentityAgent: none, a socket, ``$VAR`` or SSH_AUTH_SOCK (the default: the environment's agent)."""
    if value is None or value == "SSH_AUTH_SOCK":
        return os.environ.get("SSH_AUTH_SOCK") or None
    if value.lower() == "none":
        return None
    return os.environ.get(value[1:]) or None if value.startswith("$") else value


def _seconds(value: str | None) -> float | None:
    """A ConnectTimeout or ServerAliveInterval; None for ``none``, 0 (off) or nothing."""
    try:
        return float(value) or None if value else None
    except ValueError:
        return None


def _count(value: str | None) -> int:
    """ServerAliveCountMax: at least one interval (0 would give a link up before it was ever silent)."""
    return max(1, int(value)) if value and value.isdigit() else ALIVE_COUNT


def _sources(config: HostConfig) -> tuple[tuple[str, str], ...]:
    keys = {
        "host": "hostname",
        "port": "port",
        "user": "user",
        "identity_files": "identityfile",
        "certificate_files": "certificatefile",
        "identities_only": "identitiesonly",
        "identity_agent": "identityagent",
        "jumps": "proxyjump",
        "proxy_command": "proxycommand",
        "known_hosts": "userknownhostsfile",
        "global_known_hosts": "globalknownhostsfile",
        "strict_host_key_checking": "stricthostkeychecking",
        "hash_known_hosts": "hashknownhosts",
        "host_key_alias": "hostkeyalias",
        "connect_timeout": "connecttimeout",
        "server_alive_interval": "serveraliveinterval",
        "server_alive_count": "serveralivecountmax",
    }
    found = {name: config.source(key) for name, key in keys.items()}
    if found["host"] == DEFAULT:
        found["host"] = "inventory"  # the inventory's host, used as it is
    return tuple(found.items())
