"""One authenticated SSH connection to a board (through its ProxyJump hops), and quoted remote commands.

Every remote command is an argv list joined with ``shlex.join``: nothing a
user typed ever reaches the board's shell unquoted.  Every way the
connection can fail becomes one error with a remedy and its exit code.
"""

from __future__ import annotations

import errno
import logging
import select
import shlex
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import paramiko

from edgedq.device.connection import Completed
from edgedq.device.ssh.target import SSHTarget
from edgedq.device.ssh.trust import TrustPolicy, changed_key_error, host_key_name, load_known_hosts
from edgedq.errors import ConnectionFailed, EdgedqError

# paramiko logs failures (with tracebacks) that the errors below already explain; without a handler of its
# own, Python's last-resort handler would print them on the user's terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def _dial(target: SSHTarget, device: str, accept_new_host: bool, sock: paramiko.Channel | None) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    load_known_hosts(client)
    client.set_missing_host_key_policy(TrustPolicy(accept_new_host, device))
    keys = [path for path in target.identity_files if Path(path).is_file()]
    try:
        client.connect(
            target.hostname,
            port=target.port,
            username=target.user,
            key_filename=keys or None,
            look_for_keys=not keys,
            allow_agent=True,
            timeout=target.timeout,
            banner_timeout=target.timeout,
            auth_timeout=target.timeout,
            sock=sock,
        )
    except EdgedqError:
        client.close()
        raise
    except Exception as exc:
        client.close()
        raise _connect_error(exc, target, device, keys) from None
    return client


def _connect_error(exc: Exception, target: SSHTarget, device: str, keys: list[str]) -> EdgedqError:
    where = f"{device}: {target.hostname}:{target.port}"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))  # one per address tried; the first says why
    if isinstance(exc, paramiko.BadHostKeyException):
        return changed_key_error(device, host_key_name(target.hostname, target.port), exc)
    if isinstance(exc, paramiko.PasswordRequiredException):
        return ConnectionFailed(f"{where}: the key needs a passphrase", hint="load it into ssh-agent: ssh-add KEY")
    if isinstance(exc, paramiko.AuthenticationException):
        offered = ", ".join(keys) if keys else "the ssh-agent's and ~/.ssh/id_* keys"
        return ConnectionFailed(
            f"{where}: authentication failed as {target.user!r} (offered {offered})",
            hint=f"install your public key on the board: ssh-copy-id -i KEY.pub {target.user}@{target.hostname}; "
            "or set identity_file/user in the inventory",
        )
    if isinstance(exc, socket.gaierror):
        return ConnectionFailed(
            f"{device}: cannot resolve host name {target.hostname!r}",
            hint="check 'host' in the inventory or HostName in ~/.ssh/config, and your DNS",
        )
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return ConnectionFailed(
            f"{where}: connection refused", hint="is sshd running on the board, and is the port right?"
        )
    silent = any(text in str(exc) for text in ("protocol banner", "No existing session"))  # no SSH server spoke
    if isinstance(exc, socket.timeout | TimeoutError) or silent:
        return ConnectionFailed(
            f"{where}: no SSH answer within {target.timeout:g} s",
            hint="is the board powered, on this network, and is it sshd on that port? "
            "(connect_timeout in the inventory waits longer)",
        )
    if isinstance(exc, OSError):
        return ConnectionFailed(f"{where}: {exc.strerror or exc}", hint="check the address and the network")
    return ConnectionFailed(f"{where}: SSH failed: {exc}", hint="try 'ssh' to the same host to see what differs")


class SSHClient:
    """A connected board (through its jump hosts): run quoted commands and open streaming channels."""

    def __init__(self, target: SSHTarget, device: str, accept_new_host: bool = False) -> None:
        self.target, self.device = target, device
        self._clients: list[paramiko.SSHClient] = []
        sock = None
        try:
            for hop in (*target.jumps, target):
                client = _dial(hop, device, accept_new_host, sock)
                self._clients.append(client)
                if hop is not target:
                    sock = self._forward(client, target.jumps, hop)
        except BaseException:
            self.close()
            raise
        self.client = self._clients[-1]

    def _forward(self, client: paramiko.SSHClient, jumps: tuple[SSHTarget, ...], hop: SSHTarget) -> paramiko.Channel:
        following = (*jumps, self.target)[list(jumps).index(hop) + 1]
        try:
            return client.get_transport().open_channel(  # type: ignore[union-attr]
                "direct-tcpip", (following.hostname, following.port), ("127.0.0.1", 0)
            )
        except paramiko.ChannelException as exc:
            raise ConnectionFailed(
                f"{self.device}: jump host {hop.hostname} cannot reach {following.hostname}:{following.port} "
                f"({exc.text})",
                hint="check ProxyJump in ~/.ssh/config and that the jump host allows TCP forwarding",
            ) from None

    def close(self) -> None:
        for client in reversed(self._clients):
            client.close()
        self._clients.clear()

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise self.lost("talking to the board")
        return transport

    def lost(self, doing: str) -> ConnectionFailed:
        return ConnectionFailed(
            f"{self.device}: the connection to {self.target.hostname} was lost while {doing}",
            hint="nothing half-copied stays on the board; run the command again when the board is reachable",
        )

    def open_command(self, argv: Sequence[str]) -> paramiko.Channel:
        """Start ``argv`` on the board (quoted) and return its channel, for streaming stdin/stdout."""
        try:
            channel = self.transport.open_session()
            channel.exec_command(shlex.join(argv))
        except (paramiko.SSHException, OSError, EOFError):
            raise self.lost(f"starting {argv[0]}") from None
        return channel

    def run(self, argv: Sequence[str], stdin: bytes = b"", timeout: float = 60.0) -> Completed:
        """Run to completion; raises only when the connection fails, not when the command does."""
        channel = self.open_command(argv)
        try:
            channel.settimeout(timeout)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            stdout, stderr = _read_both(channel, timeout)
            status = channel.recv_exit_status()
        except TimeoutError:
            raise ConnectionFailed(f"{self.device}: {argv[0]} gave no answer within {timeout:.0f} s") from None
        except (paramiko.SSHException, OSError, EOFError):
            raise self.lost(f"running {argv[0]}") from None
        finally:
            channel.close()
        return Completed(status, stdout, stderr)


def _read_both(channel: paramiko.Channel, timeout: float) -> tuple[str, str]:
    """stdout and stderr as they arrive: left unread, one stream fills the channel's window and stalls the other."""
    stdout, stderr = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    while True:
        while channel.recv_ready():
            stdout += channel.recv(1 << 16)
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(1 << 16)
        if (channel.eof_received or channel.closed) and not (channel.recv_ready() or channel.recv_stderr_ready()):
            break  # EOF covers both streams (the exit status may come before the last data: not a sign of the end)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        select.select([channel], [], [], min(remaining, 1.0))
    return stdout.decode(errors="replace"), stderr.decode(errors="replace")
