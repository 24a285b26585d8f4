"""A host's SSH settings as OpenSSH itself resolves them (``ssh -G``), with paramiko's parser only as the fallback.

``ssh -G HOST`` prints the configuration ssh would use: Include, Match, Host patterns, tokens and defaults applied by
the real parser, the system-wide file too.  The same command with ``-F none`` prints OpenSSH's defaults, so each
value can say whether a config file set it.  paramiko's parser is used only where there is no ``ssh`` binary (it
has no Include and only part of Match).

edgedq's ``~`` is ``$HOME``, ssh's is the passwd home directory.  They differ only when HOME was changed (a
sandbox, ``sudo -E``, the tests); then ssh is handed ``-F ~/.ssh/config``, and does not read /etc/ssh/ssh_config.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import paramiko

from edgedq.errors import DeviceError

SSH_G, PARAMIKO, DEFAULT = "ssh -G", "paramiko", "default"  # where a value came from (with "inventory")
RESOLVE_S = 30.0  # ssh -G runs the config's Match exec commands: they get this long
# OpenSSH's defaults for what edgedq uses: for paramiko's parser, and for the known_hosts files under edgedq's ~
OPENSSH_DEFAULTS = {
    "port": ["22"],
    "identityfile": [f"~/.ssh/id_{kind}" for kind in ("rsa", "ecdsa", "ecdsa_sk", "ed25519", "ed25519_sk")],
    "identitiesonly": ["no"],
    "userknownhostsfile": ["~/.ssh/known_hosts ~/.ssh/known_hosts2"],
    "globalknownhostsfile": ["/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"],
    "stricthostkeychecking": ["ask"],
    "hashknownhosts": ["no"],
    "connecttimeout": ["none"],
    "serveraliveinterval": ["0"],
    "serveralivecountmax": ["3"],
}
_TOKEN = re.compile(r"%(.)|\$\{([^}]*)\}")


@dataclass(frozen=True)
class HostConfig:
    """One host's resolved settings (lower-case key -> its values, in order) beside OpenSSH's defaults for them."""

    resolver: str  # SSH_G or PARAMIKO
    values: dict[str, list[str]]
    defaults: dict[str, list[str]]

    def all(self, key: str) -> list[str]:
        return self.values.get(key, [])

    def first(self, key: str, default: str | None = None) -> str | None:
        found = self.all(key)
        return found[0] if found else default

    def source(self, key: str) -> str:
        """Where the value came from: a config file (the resolver's name), or OpenSSH's defaults."""
        return DEFAULT if self.all(key) == self.defaults.get(key, []) else self.resolver

    def enabled(self, key: str) -> bool:
        return (self.first(key) or "no").lower() in ("yes", "true")

    def files(self, key: str) -> list[Path]:
        """A list of files (known_hosts): OpenSSH's defaults under edgedq's ~ when no config file names them."""
        values = self.all(key) if self.source(key) != DEFAULT else OPENSSH_DEFAULTS[key]
        return [Path(expand_home(name)) for value in values for name in value.split() if name != "none"]


def lookup(host: str, user: str | None = None, port: int | None = None, jumps: str | None = None) -> HostConfig:
    """What ``ssh [-l USER] [-p PORT] [-J JUMPS] HOST`` would use: the command line wins over the config files."""
    args = [*(["-l", user] if user else []), *(["-p", str(port)] if port else []), *(["-J", jumps] if jumps else [])]
    ssh = shutil.which("ssh")
    values = _ssh_g(ssh, [*_config_file_args(), *args], host) if ssh else None
    if ssh and values is not None:
        return HostConfig(SSH_G, values, _ssh_g(ssh, ["-F", "none", *args], host) or {})
    return _paramiko_lookup(host, user, port, jumps)


def _config_file_args() -> list[str]:
    """Nothing when ssh's ~ is edgedq's (it reads its own files), else ``-F ~/.ssh/config`` with edgedq's ~."""
    try:
        ssh_home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:  # no passwd entry: ssh cannot find a home of its own
        ssh_home = ""
    if ssh_home and os.path.realpath(ssh_home) == os.path.realpath(Path.home()):
        return []
    config = user_config_path()
    return ["-F", str(config) if config.is_file() else "none"]


def user_config_path() -> Path:
    return Path.home() / ".ssh" / "config"


def _ssh_g(ssh: str, args: list[str], host: str) -> dict[str, list[str]] | None:
    """``ssh -G`` parsed; None when this ssh has no -G (not OpenSSH, or older than 6.8)."""
    try:
        done = subprocess.run(
            [ssh, "-G", *args, "--", host],
            capture_output=True,
            text=True,
            timeout=RESOLVE_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise DeviceError(
            f"'ssh -G {host}' did not finish within {RESOLVE_S:.0f} s",
            hint="a Match exec command in your ssh config does not end: fix it",
        ) from None
    except OSError as exc:
        raise DeviceError(f"cannot run {ssh}: {exc.strerror}", hint="check your ssh installation") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip() and "Pseudo-terminal" not in line]
        if any("unknown option" in line or "illegal option" in line for line in lines):
            return None
        raise DeviceError(
            f"ssh cannot work out how to reach {host!r}: {lines[0] if lines else f'ssh -G exited {done.returncode}'}",
            hint=f"fix your ssh config or the inventory's host; 'ssh -G {host}' shows how ssh reads it",
        )
    values: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        values.setdefault(key.lower(), []).append(value.strip())
    return values


def _paramiko_lookup(host: str, user: str | None, port: int | None, jumps: str | None) -> HostConfig:
    """The fallback: ``~/.ssh/config`` read by paramiko, the command line's values on top, OpenSSH's defaults below."""
    path = user_config_path()
    try:
        config = paramiko.SSHConfig.from_path(str(path)) if path.is_file() else paramiko.SSHConfig()
        found = config.lookup(host)
    except (OSError, paramiko.ConfigParseError) as exc:
        raise DeviceError(f"cannot read {path}: {exc}", hint="fix it; 'ssh -G HOST' shows how ssh reads it") from None
    values = {key: [str(v) for v in value] if isinstance(value, list) else [str(value)] for key, value in found.items()}
    values.update({"user": [user]} if user else {})
    values.update({"port": [str(port)]} if port else {})
    if jumps:  # as ssh -J: the command line's jump hosts replace the config's ProxyJump and ProxyCommand
        values["proxyjump"] = [jumps]
        values.pop("proxycommand", None)
    defaults = {**OPENSSH_DEFAULTS, "hostname": [host], "user": [getpass.getuser()]}
    return HostConfig(PARAMIKO, {**defaults, **values}, defaults)


def expand_home(value: str) -> str:
    """A leading ``~`` or ``~/``: edgedq's home ($HOME); ``~user``: that user's."""
    if value == "~" or value.startswith("~/"):
        return str(Path.home()) + value[1:]
    return os.path.expanduser(value)


def expand(value: str, tokens: dict[str, str], what: str, environment: bool = True) -> str:
    """A value as ssh expands it: ``~``, ``${VAR}`` from the environment, then ``%`` tokens (``%%`` is ``%``)."""

    def one(match: re.Match[str]) -> str:
        token, variable = match.groups()
        if token is not None:
            if token not in tokens:
                raise DeviceError(f"{what} {value!r}: unknown token %{token}", hint="see TOKENS in 'man ssh_config'")
            return tokens[token]
        if not environment:
            return match.group(0)
        if variable not in os.environ:
            raise DeviceError(f"{what} {value!r}: ${{{variable}}} is not set", hint="set it, or fix your ssh config")
        return os.environ[variable]

    return _TOKEN.sub(one, expand_home(value))


def file_tokens(alias: str, hostname: str, port: int, user: str, jump_host: str, key_alias: str) -> dict[str, str]:
    """ssh's tokens for IdentityFile and CertificateFile (``man ssh_config``, TOKENS)."""
    local = socket.gethostname()
    connection = hashlib.sha1(f"{local}{hostname}{port}{user}{jump_host}".encode()).hexdigest()
    return {
        **proxy_tokens(alias, hostname, port, user, key_alias),
        "C": connection,
        "d": str(Path.home()),
        "i": str(os.getuid()),
        "j": jump_host,
        "L": local.split(".")[0],
        "l": local,
        "u": getpass.getuser(),
    }


def proxy_tokens(alias: str, hostname: str, port: int, user: str, key_alias: str) -> dict[str, str]:
    """ssh's tokens for ProxyCommand: ``%h %p %r %n %k %%``."""
    return {"%": "%", "h": hostname, "k": key_alias, "n": alias, "p": str(port), "r": user}
