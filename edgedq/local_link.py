"""The agent as a local child process: how the ``local`` device runs it."""

from __future__ import annotations

import contextlib
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

from edgedq.agent_client import PumpedLink
from edgedq.connection import PushReport, UploadProgress, WaitNotice
from edgedq.errors import RuntimeMissing


class LocalLink(PumpedLink):
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
        self._start_pumps(self.process.stdout, self.process.stderr)  # type: ignore[arg-type]

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

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class LocalConnection:
    """The ``local`` device: files are used in place, agents are child processes."""

    def __init__(self, python: str, runtime: str | None = None) -> None:
        self.python, self.runtime = python, runtime

    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport:
        return PushReport(remote={Path(f): str(Path(f).resolve()) for f in files}, skipped_files=len(files))

    def exclusive(self, wait_s: float, on_wait: WaitNotice | None = None) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def start_agent(self, agent: Path) -> LocalLink:
        return LocalLink(self.python, agent, self.runtime)

    def close(self) -> None:
        pass
