"""The ``local`` device: this machine, agents as child processes, files used where they are."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from edgedq.device.agent import PipedProcess
from edgedq.device.connection import Completed, Connection, PushReport, UploadProgress, WaitNotice
from edgedq.errors import DeviceError, RuntimeMissing


class LocalProcess(PipedProcess):
    """The agent as a child process of this one."""

    def __init__(self, python: str, agent: Path, runtime: str | None = None) -> None:
        command = [python, str(agent)] + (["--runtime", runtime] if runtime else [])
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                start_new_session=True,  # its own process group: a kill reaches whatever it started
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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class LocalConnection(Connection):
    """Files are used in place, nothing needs holding, agents are child processes."""

    name = "local"

    def __init__(self, python: str, runtime: str | None = None) -> None:
        self.python, self.runtime = python, runtime

    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport:
        return PushReport(remote={Path(f): str(Path(f).resolve()) for f in files}, skipped_files=len(files))

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> Completed:
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError as exc:
            return Completed(127, "", str(exc))
        except subprocess.TimeoutExpired:
            raise DeviceError(f"local: {argv[0]} gave no answer within {timeout:g} s") from None
        return Completed(done.returncode, done.stdout, done.stderr)

    def hold(self, wait_s: float, on_wait: WaitNotice | None = None) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def start_agent(self, agent: Path) -> LocalProcess:
        return LocalProcess(self.python, agent, self.runtime)

    def close(self) -> None:
        pass
