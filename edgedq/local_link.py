"""The agent as a local child process: how the ``local`` device runs it."""

from __future__ import annotations

import collections
import contextlib
import queue
import subprocess
import threading
from pathlib import Path

from edgedq.agent_client import pump_lines
from edgedq.errors import RuntimeMissing


class LocalLink:
    def __init__(self, python: str, agent: Path, runtime: str | None = None) -> None:
        command = [python, str(agent)] + (["--runtime", runtime] if runtime else [])
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
            )
        except OSError as exc:
            raise RuntimeMissing(
                f"local: cannot start {python}: {exc.strerror}",
                hint="set the local device's python (EDGEDQ_LOCAL_PYTHON or the inventory)",
            ) from exc
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=50)
        pump_lines(self.process.stdout, self._lines)  # type: ignore[arg-type]
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        for raw in self.process.stderr:  # type: ignore[union-attr]
            self._stderr.append(raw.decode(errors="replace"))

    @property
    def lines(self) -> queue.Queue[str | None]:
        return self._lines

    def send(self, line: str) -> None:
        try:
            self.process.stdin.write(line.encode())  # type: ignore[union-attr]
            self.process.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass  # the reader sees EOF and reports how the process ended

    def close_input(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]

    def exit_status(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_tail(self) -> str:
        return "".join(self._stderr)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class LocalConnection:
    """The ``local`` device: files are used in place, agents are child processes."""

    def __init__(self, python: str, runtime: str | None = None) -> None:
        self.python, self.runtime = python, runtime

    def stage(self, path: Path) -> str:
        return str(Path(path).resolve())

    def start_agent(self, agent: Path) -> LocalLink:
        return LocalLink(self.python, agent, self.runtime)

    def close(self) -> None:
        pass
