"""The agent as a process on the board, spoken to over one SSH channel (the ``AgentProcess`` of SSH boards)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import paramiko

from edgedq.device.agent import PipedProcess
from edgedq.device.ssh import scripts
from edgedq.device.ssh.workfolder import WorkFolder

_PID_PREFIX = "edgedq-agent-pid "


class SSHProcess(PipedProcess):
    def __init__(self, folder: WorkFolder, agent_sha256: str, argv: list[str]) -> None:
        self.folder, self.client = folder, folder.client
        self.pid: str | None = None
        self._killed = False
        command = folder.script(scripts.LAUNCH, agent_sha256, *argv, session_env=True)
        self.channel: paramiko.Channel = self.client.open_command(command)
        self._start_pumps(self._after_begin(self.channel.makefile("rb")), self.channel.makefile_stderr("rb"))

    def _after_begin(self, stream: paramiko.ChannelFile) -> Iterator[bytes]:
        """stdout from edgedq's own first line on: what a chatty login shell printed before is noted, not parsed."""
        noise = []
        for raw in stream:
            if raw.rstrip(b"\n") == scripts.BEGIN.encode():
                break
            noise.append(raw.decode(errors="replace").rstrip("\n"))
        if noise and not self.folder.noise:
            self.folder.noise = noise
        yield from stream

    def _on_stderr(self, line: str) -> None:
        if line.startswith(_PID_PREFIX) and self.pid is None:
            self.pid = line[len(_PID_PREFIX) :].strip()
        else:
            super()._on_stderr(line)

    def send(self, line: str) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.channel.sendall(line.encode())  # on failure the reader sees EOF and reports how it ended

    def close_input(self) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.channel.shutdown_write()

    def exit_status(self, timeout: float) -> int | None:
        """The agent's status, negative for a signal like ``Popen``; raises if the connection itself was lost."""
        if not self.channel.status_event.wait(timeout):
            return None
        status = self.channel.exit_status
        if self._killed:
            return -signal.SIGKILL
        if status == -1:  # closed without a status: the connection went away, not the agent
            raise self.client.lost("the agent was running")
        return -(status - 128) if status > 128 else status

    def kill(self) -> None:
        """Kill the agent's whole process group (it runs under setsid): nothing it started outlives it.

        Raises ConnectionFailed when the board cannot be reached to do it: then the link went silent, not
        the agent (and the board's lease on the lock ends the agent anyway).
        """
        self._killed = True
        try:
            if self.pid and self.pid.isdigit():
                self.client.run(["kill", "-KILL", "--", f"-{self.pid}"], timeout=10)
        finally:
            self.channel.close()
