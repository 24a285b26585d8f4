"""What every device connection offers: push files, run agents, hold the device for a run.

``local`` (a child process on this machine) and SSH boards both implement it,
so bench, deploy and eval never ask which kind of device they talk to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgedq.agent_client import AgentLink

UploadProgress = Callable[[int, int], None]  # (bytes sent, bytes to send)
WaitNotice = Callable[[str], None]
Events = Callable[[str, dict[str, Any]], None]  # ("wait" | "upload" | "pushed" | ..., data)


def no_events(_kind: str, _data: dict[str, Any]) -> None:
    """The ``Events`` sink for callers that show no progress."""


@dataclass
class PushReport:
    """Where each file is on the device, and what it cost to put it there."""

    remote: dict[Path, str] = field(default_factory=dict)
    sent_files: int = 0
    sent_bytes: int = 0
    skipped_files: int = 0
    seconds: float = 0.0


class Connection(Protocol):
    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport: ...
    def start_agent(self, agent: Path) -> AgentLink: ...
    def exclusive(self, wait_s: float, on_wait: WaitNotice | None = None) -> AbstractContextManager[None]: ...
    def close(self) -> None: ...


@contextmanager
def held_with(connection: Connection, files: list[Path], lock_wait: float, notify: Events) -> Iterator[PushReport]:
    """Hold the device and make ``files`` present on it, telling ``notify`` about waiting and uploading."""
    with connection.exclusive(lock_wait, lambda message: notify("wait", {"message": message})):
        pushed = connection.push(files, lambda sent, total: notify("upload", {"sent": sent, "total": total}))
        notify("pushed", {"report": pushed})
        yield pushed
