"""The agent as a process on the board, spoken to over one SSH channel (the ``AgentProcess`` of SSH boards)."""

from __future__ import annotations

import contextlib
import signal

import paramiko

from edgedq.device.agent import PipedProcess
from edgedq.device.ssh.client import SSHClient
from edgedq.device.ssh.workfolder import ENTER

# $1 work folder, then the agent's argv.  The agent runs as a child so that its pid is known before it says
# hello (to kill a hung one), and death by a signal comes back as status 128+N (sshd reports signals in an
# exit-signal message that paramiko drops).  stdin goes through fd 3: a background job's own stdin is /dev/null.
_LAUNCH = (
    ENTER
    + r"""case $1 in "~/"*) py=$HOME/${1#"~/"}; shift; set -- "$py" "$@" ;; esac
exec 3<&0
"$@" <&3 3<&- &
echo "edgedq-agent-pid $!" >&2
wait $!
"""
)
_PID_PREFIX = "edgedq-agent-pid "


class SSHProcess(PipedProcess):
    def __init__(self, client: SSHClient, workdir: str, argv: list[str]) -> None:
        self.client = client
        self.pid: str | None = None
        self._killed = False
        self.channel: paramiko.Channel = client.open_command(["sh", "-c", _LAUNCH, "sh", workdir, *argv])
        self._start_pumps(self.channel.makefile("rb"), self.channel.makefile_stderr("rb"))

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
        self._killed = True
        if self.pid and self.pid.isdigit():
            with contextlib.suppress(Exception):
                self.client.run(["kill", "-KILL", self.pid], timeout=10)
        self.channel.close()
