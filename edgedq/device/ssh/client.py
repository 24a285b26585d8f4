"""One authenticated SSH connection to a board (through its ProxyJump hops or ProxyCommand), and quoted commands.

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
from typing import Any

import paramiko

from edgedq.device.connection import Completed
from edgedq.device.ssh.auth import OpenSSHKeys
from edgedq.device.ssh.proxy import ProxyCommand
from edgedq.device.ssh.sshconfig import PARAMIKO
from edgedq.device.ssh.target import ALIVE_COUNT as ALIVE_COUNT  # the keepalive defaults, re-exported
from edgedq.device.ssh.target import ALIVE_INTERVAL as ALIVE_INTERVAL
from edgedq.device.ssh.target import SSHTarget
from edgedq.device.ssh.trust import TrustPolicy, changed_key_error, host_key_name
from edgedq.errors import ConnectionFailed, EdgedqError

# paramiko logs failures (with tracebacks) that the errors below already explain; without a handler of its
# own, Python's last-resort handler would print them on the user's terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


IO_TIMEOUT = 120.0  # a connected board that answers nothing for this long (a command, an offer) is an error
_LIVE: weakref.WeakSet[SSHClient] = weakref.WeakSet()


def close_all() -> None:
    """Abort every open board connection now (Ctrl-C): whatever waits on one returns at once."""
    for client in list(_LIVE):
        client.abort()


def _connect_error(exc: Exception, target: SSHTarget, device: str, keys: OpenSSHKeys) -> EdgedqError:
    where = f"{device}: {target.hostname}:{target.port}"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))  # one per address tried; the first says why
    if isinstance(exc, paramiko.BadHostKeyException):
        return changed_key_error(device, host_key_name(target.hostname, target.port), exc.key, exc.expected_key)
    if isinstance(exc, paramiko.AuthenticationException):
        if keys.locked and not any(tried["result"] == "accepted" for tried in keys.tried):
            return ConnectionFailed(
                f"{where}: authentication failed as {target.user!r}: the key {keys.locked[0]} needs a passphrase",
                hint=f"load it into ssh-agent: ssh-add {keys.locked[0]}",
            )
        offered = ", ".join(tried["key"] for tried in keys.tried) or "no key: no IdentityFile exists and no agent"
        return ConnectionFailed(
            f"{where}: authentication failed as {target.user!r} (offered {offered})",
            hint=f"install your public key on the board: ssh-copy-id -i KEY.pub {target.user}@{target.hostname}; "
            "or set identity_file/user in the inventory ('edgedq devices check NAME --json' shows the keys tried)",
        )
    if isinstance(exc, socket.gaierror):
        hint = "check 'host' in the inventory or HostName in your ssh config, and your DNS"
        if target.resolver == PARAMIKO:
            hint = (
                "there is no ssh binary here, so ~/.ssh/config was read by paramiko, which has no Include and only "
                f"part of Match: install OpenSSH's client, or {hint}"
            )
        return ConnectionFailed(f"{device}: cannot resolve host name {target.hostname!r}", hint=hint)
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return ConnectionFailed(
            f"{where}: connection refused", hint="is sshd running on the board, and is the port right?"
        )
    silent = any(text in str(exc) for text in ("protocol banner", "No existing session"))  # no SSH server spoke
    if isinstance(exc, socket.timeout | TimeoutError) or silent:
        via = f" (through the ProxyCommand {target.proxy_command!r})" if target.proxy_command else ""
        return ConnectionFailed(
            f"{where}: no SSH answer within {target.timeout:g} s{via}",
            hint="is the board powered, on this network, and is it sshd on that port? "
            "(connect_timeout in the inventory, or ConnectTimeout in your ssh config, waits longer)",
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
        self._proxy: ProxyCommand | None = None
        self._closed = threading.Event()
        self.gone: str | None = None  # why the connection was given up, when it was
        self.notes: list[str] = []  # known_hosts lines that were skipped, keys that were not offered, and why
        self.keys_tried: list[list[dict[str, str]]] = []  # per hop, in dial order
        _LIVE.add(self)  # before dialling: Ctrl-C must be able to abort a connect in progress
        chain = (*target.jumps, target)
        sock = None
        try:
            for number, hop in enumerate(chain):
                if number == 0 and hop.proxy_command:
                    self._proxy = ProxyCommand(hop.proxy_command, device)
                    sock = self._proxy.sock
                client = paramiko.SSHClient()
                self._clients.append(client)
                self._dial(client, hop, sock, accept_new_host)
                if hop is not target:
                    sock = self._forward(client, hop, chain[number + 1])
        except BaseException:
            self.close()
            raise
        self.client = self._clients[-1]
        watch = threading.Thread(target=self._server_alive, args=(self.transport,), daemon=True, name="edgedq-alive")
        watch.start()

    def _dial(self, client: paramiko.SSHClient, hop: SSHTarget, sock: Any, accept_new_host: bool) -> None:
        """Connect and authenticate one hop; its host key is judged by its own known_hosts settings."""
        policy = TrustPolicy(accept_new_host, self.device, hop.host_keys, "" if hop is self.target else "jump host ")
        client.set_missing_host_key_policy(policy)  # it decides on every host key: paramiko is given none
        self.notes.extend(note for note in policy.hosts.notes if note not in self.notes)
        keys = OpenSSHKeys(hop)
        try:
            client.connect(
                hop.hostname,
                port=hop.port,
                username=hop.user,
                timeout=hop.timeout,
                banner_timeout=hop.timeout,
                auth_timeout=hop.timeout,
                sock=sock,
                auth_strategy=keys,
            )
        except EdgedqError:
            client.close()
            raise
        except Exception as exc:
            client.close()
            failed = self._proxy.failure() if self._proxy and len(self._clients) == 1 else None
            raise failed or _connect_error(exc, hop, self.device, keys) from None
        finally:
            self.keys_tried.append(keys.tried)
            self.notes.extend(keys.notes)

    def describe(self) -> dict[str, Any]:
        """The resolved target (``devices check --json``), with the keys each hop was offered and which one worked."""
        described = self.target.describe()
        for hop, tried in zip(described["jumps"], self.keys_tried, strict=False):
            hop["keys_tried"] = tried
        described["keys_tried"] = self.keys_tried[-1] if len(self.keys_tried) > len(self.target.jumps) else []
        return described

    def _server_alive(self, transport: paramiko.Transport) -> None:
        """ssh's ServerAlive: ``alive_count`` intervals in a row with nothing from the board (not even the reply to a
        keepalive request sent in each) end the connection.

        Any packet counts, so a slow link busy with an upload stays alive; paramiko's own keepalive asks for no
        reply and cannot tell a dead link, and TCP would take hours.  Closing the transport wakes every wait on
        it, which then reports the connection lost.
        """
        interval, count = self.target.alive_interval, self.target.alive_count
        last, silent, probe = _received(transport), 0, None
        while transport.is_active() and not self._closed.wait(interval):
            now = _received(transport)
            if now != last:
                last, silent = now, 0
                continue
            silent += 1
            if silent >= count:
                self.gone = f"nothing from it for {interval * count:.0f} s"
                transport.close()
                return
            if probe is None or not probe.is_alive():  # its reply is a packet: the next look sees it
                probe = threading.Thread(target=_keepalive, args=(transport,), daemon=True, name="edgedq-probe")
                probe.start()

    def _forward(self, client: paramiko.SSHClient, hop: SSHTarget, following: SSHTarget) -> paramiko.Channel:
        """A channel from ``hop`` to the next hop's sshd (``ssh -W``): the next hop's name is resolved by ``hop``."""
        try:
            return client.get_transport().open_channel(  # type: ignore[union-attr]
                "direct-tcpip", (following.hostname, following.port), ("127.0.0.1", 0), timeout=hop.timeout
            )
        except (paramiko.ChannelException, paramiko.SSHException) as exc:
            why = exc.text if isinstance(exc, paramiko.ChannelException) else str(exc)
            raise ConnectionFailed(
                f"{self.device}: jump host {hop.hostname} cannot reach {following.hostname}:{following.port} ({why})",
                hint="check ProxyJump in your ssh config and that the jump host allows TCP forwarding",
            ) from None

    def close(self) -> None:
        self._closed.set()
        for client in reversed(self._clients):
            client.close()
        if self._proxy is not None:
            self._proxy.close()
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
