"""One authenticated SSH connection to a board (through its ProxyJump hops), and quoted remote commands.

Every remote command is an argv list joined with ``shlex.join``: nothing a
user typed ever reaches the board's shell unquoted.  Every way the
connection can fail becomes one error with a remedy and its exit code.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import shlex
import socket
import struct
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

import paramiko

from edgedq.device.connection import Completed
from edgedq.device.ssh.target import SSHTarget
from edgedq.device.ssh.trust import TrustPolicy, changed_key_error, host_key_name
from edgedq.errors import ConnectionFailed, EdgedqError

# paramiko logs failures (with tracebacks) that the errors below already explain; without a handler of its
# own, Python's last-resort handler would print them on the user's terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


IO_TIMEOUT = 120.0  # a connected board that answers nothing for this long (a command, an offer) is an error
ALIVE_INTERVAL, ALIVE_COUNT = 5.0, 3  # as ssh's ServerAliveInterval/CountMax: a dead link is given up after 15 s
_LIVE: weakref.WeakSet[SSHClient] = weakref.WeakSet()


def close_all() -> None:
    """Abort every open board connection now (Ctrl-C): whatever waits on one returns at once."""
    for client in list(_LIVE):
        client.abort()


def _dial(client: paramiko.SSHClient, target: SSHTarget, policy: TrustPolicy, sock: paramiko.Channel | None) -> None:
    device = policy.device
    client.set_missing_host_key_policy(policy)  # it decides on every host key: paramiko is given none
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


def _connect_error(exc: Exception, target: SSHTarget, device: str, keys: list[str]) -> EdgedqError:
    where = f"{device}: {target.hostname}:{target.port}"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))  # one per address tried; the first says why
    if isinstance(exc, paramiko.BadHostKeyException):
        return changed_key_error(device, host_key_name(target.hostname, target.port), exc.key, exc.expected_key)
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

    io_timeout = IO_TIMEOUT

    def __init__(self, target: SSHTarget, device: str, accept_new_host: bool = False) -> None:
        self.target, self.device = target, device
        self._clients: list[paramiko.SSHClient] = []
        self._closed = threading.Event()
        self.gone: str | None = None  # why the connection was given up, when it was
        _LIVE.add(self)  # before dialling: Ctrl-C must be able to abort a connect in progress
        policy = TrustPolicy(accept_new_host, device)
        self.notes = policy.hosts.notes  # known_hosts lines that were skipped, and why
        sock = None
        try:
            for hop in (*target.jumps, target):
                client = paramiko.SSHClient()
                self._clients.append(client)
                _dial(client, hop, policy, sock)
                if hop is not target:
                    sock = self._forward(client, target.jumps, hop)
        except BaseException:
            self.close()
            raise
        self.client = self._clients[-1]
        watch = threading.Thread(target=self._server_alive, args=(self.transport,), daemon=True, name="edgedq-alive")
        watch.start()

    def _server_alive(self, transport: paramiko.Transport) -> None:
        """ssh's ServerAlive: ALIVE_COUNT intervals in a row with nothing from the board (not even the reply to a
        keepalive request sent in each) end the connection.

        Any packet counts, so a slow link busy with an upload stays alive; paramiko's own keepalive asks for no
        reply and cannot tell a dead link, and TCP would take hours.  Closing the transport wakes every wait on
        it, which then reports the connection lost.
        """
        last, silent, probe = _received(transport), 0, None
        while transport.is_active() and not self._closed.wait(ALIVE_INTERVAL):
            now = _received(transport)
            if now != last:
                last, silent = now, 0
                continue
            silent += 1
            if silent >= ALIVE_COUNT:
                self.gone = f"nothing from it for {ALIVE_INTERVAL * ALIVE_COUNT:.0f} s"
                transport.close()
                return
            if probe is None or not probe.is_alive():  # its reply is a packet: the next look sees it
                probe = threading.Thread(target=_keepalive, args=(transport,), daemon=True, name="edgedq-probe")
                probe.start()

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
        self._closed.set()
        for client in reversed(self._clients):
            client.close()
        _LIVE.discard(self)

    def abort(self) -> None:
        """Close with a reset, not a FIN queued behind megabytes of upload: the board notices at once."""
        transport = self._clients[0].get_transport() if self._clients else None
        if transport is not None and isinstance(transport.sock, socket.socket):
            with contextlib.suppress(OSError):
                transport.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise self.lost("talking to the board")
        return transport

    def lost(self, doing: str) -> ConnectionFailed:
        why = f" ({self.gone})" if self.gone else ""
        return ConnectionFailed(
            f"{self.device}: the connection to {self.target.hostname} was lost{why} while {doing}",
            hint="nothing half-copied stays on the board (its lease on the lock ends within seconds); "
            "run the command again when the board is reachable",
        )

    def silent(self, doing: str) -> ConnectionFailed:
        return ConnectionFailed(
            f"{self.device}: the board gave no answer for {self.io_timeout:.0f} s while {doing}",
            hint="is the board overloaded, or its disk hung? 'edgedq devices check' shows what it is doing",
        )

    def exit_status(self, channel: paramiko.Channel, doing: str) -> int:
        """A finished command's status, waited for no longer than ``io_timeout``; -1 means the connection went."""
        if not channel.status_event.wait(self.io_timeout):
            channel.close()
            raise self.silent(doing)
        if channel.exit_status == -1:
            raise self.lost(doing)
        return channel.exit_status

    def open_command(self, argv: Sequence[str]) -> paramiko.Channel:
        """Start ``argv`` on the board (quoted) and return its channel, for streaming stdin/stdout."""
        try:
            channel = self.transport.open_session(timeout=self.io_timeout)
            channel.exec_command(shlex.join(argv))
        except (paramiko.SSHException, OSError, EOFError):
            raise self.lost("starting a command") from None
        return channel

    def run(self, argv: Sequence[str], stdin: bytes = b"", timeout: float = 60.0) -> Completed:
        """Run to completion within ``timeout``; raises only when the connection fails, not when the command does."""
        channel = self.open_command(argv)
        try:
            channel.settimeout(timeout)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            stdout, stderr = _read_both(channel, timeout)
            if not channel.status_event.wait(5):  # EOF came; the status follows at once, or never
                raise self.lost("running a command")
            status = channel.exit_status
        except TimeoutError:
            raise ConnectionFailed(f"{self.device}: a command gave no answer within {timeout:.0f} s") from None
        except (paramiko.SSHException, OSError, EOFError):
            raise self.lost("running a command") from None
        finally:
            channel.close()
        if status == -1:
            raise self.lost("running a command")
        return Completed(status, stdout, stderr)


def _received(transport: paramiko.Transport) -> int | None:
    """Packets received so far (paramiko keeps the count privately; it may reset at a re-key: compare, not order)."""
    return getattr(transport.packetizer, "_Packetizer__received_packets", None)


def _keepalive(transport: paramiko.Transport) -> None:
    with contextlib.suppress(Exception):  # the transport may close under it
        transport.global_request("keepalive@openssh.com", wait=True)


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
