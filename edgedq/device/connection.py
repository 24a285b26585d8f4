"""What every device connection offers: push files, run commands and agents, hold the device for a run.

``local`` (child processes on this machine) and SSH boards both implement it,
so measuring code never asks which kind of device it talks to.  A connection
is a context manager: leaving the block closes it, however the block ends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from edgedq.device.agent import AgentProcess
from edgedq.errors import DeviceError

UploadProgress = Callable[[int, int], None]  # (bytes sent, bytes to send)
WaitNotice = Callable[[str], None]  # why we wait (another run holds the device)


@dataclass
class PushReport:
    """Where each file is on the device, and what it cost to put it there."""

    remote: dict[Path, str] = field(default_factory=dict)
    sent_files: int = 0
    sent_bytes: int = 0
    skipped_files: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {k: v for k, v in self.__dict__.items() if k != "remote"}
        data["remote"] = {str(k): v for k, v in self.remote.items()}
        return data


@dataclass
class Completed:
    """A command that ran to its end on the device."""

    status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0


class Connection(ABC):
    """One open connection to one device."""

    name: str

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @abstractmethod
    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport:
        """Make ``files`` present on the device (sending only what it lacks); where each one is."""

    @abstractmethod
    def run(self, argv: Sequence[str], timeout: float = 60.0) -> Completed:
        """Run ``argv`` on the device (in its work folder) to completion; raises only when the connection fails."""

    @abstractmethod
    def start_agent(self, agent: Path) -> AgentProcess:
        """Start the agent bundle ``agent`` (pushed first if needed) as a fresh process on the device."""

    @abstractmethod
    def hold(self, wait_s: float, on_wait: WaitNotice | None = None) -> AbstractContextManager[None]:
        """Hold the device for a whole run, waiting up to ``wait_s`` for another run that holds it."""

    @abstractmethod
    def close(self) -> None:
        """Release everything this connection holds on the device."""

    def clean(self) -> tuple[int, int]:
        """Remove what edgedq stored on the device (hold it first); (files, kB) freed."""
        raise DeviceError(f"{self.name} stores nothing of edgedq's: its files are used where they are")

    def describe_target(self) -> dict[str, Any] | None:
        """How the device was reached and where each setting came from; None where nothing was resolved (local)."""
        return None

    @property
    def notes(self) -> list[str]:
        """Things the device did that the user should know about but that are not errors."""
        return []
