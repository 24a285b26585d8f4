"""A ProxyCommand, run as ssh runs it: ``exec COMMAND`` through the user's shell, its stdin and stdout the link.

The command is the user's own, from their ssh config (``cloudflared access ssh --hostname %h``, ``nc %h %p``),
its tokens expanded as ssh does (``target``, which refuses host and user names that are not plain).  paramiko
talks SSH over one end of a socket pair, the command has the other as stdin and stdout.  It runs in its own
process group, ended with the connection; the connect timeout is its deadline to bring the board's banner.
Its stderr is kept, to say why when it ends early.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile

from edgedq.errors import ConnectionFailed


class ProxyCommand:
    def __init__(self, command: str, device: str) -> None:
        self.command, self.device = command, device
        shell = os.environ.get("SHELL") or "/bin/sh"
        ours, theirs = socket.socketpair()
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close(): it lives as long as the link)
        try:
            self.process = subprocess.Popen(
                [shell, "-c", f"exec {command}"],
                stdin=theirs,
                stdout=theirs,
                stderr=self.stderr,
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            self.stderr.close()
            raise ConnectionFailed(
                f"{device}: cannot run the ProxyCommand {command!r} with {shell}: {exc.strerror}",
                hint="check SHELL and ProxyCommand in your ssh config",
            ) from None
        finally:
            theirs.close()
        self.sock = ours

    def failure(self) -> ConnectionFailed | None:
        """Why the link broke when it is the command that ended (its status, its last line on stderr); else None."""
        try:
            status = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return None
        self.stderr.seek(0)
        lines = [line.strip() for line in self.stderr.read().decode(errors="replace").splitlines() if line.strip()]
        said = f": {lines[-1]}" if lines else ""
        return ConnectionFailed(
            f"{self.device}: the ProxyCommand {self.command!r} ended (status {status}) before the board answered{said}",
            hint="run it yourself to see why; 'ssh -G HOST' shows the ProxyCommand ssh would run",
        )

    def close(self) -> None:
        self.sock.close()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.stderr.close()
