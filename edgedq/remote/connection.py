"""An SSH board as a ``Connection``: files go to its work folder's store, agents run there over a channel."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from edgedq.connection import PushReport, UploadProgress, WaitNotice
from edgedq.devices import Device
from edgedq.remote.link import SSHLink
from edgedq.remote.session import SSHSession
from edgedq.remote.target import resolve_target
from edgedq.remote.workfolder import WorkFolder


class SSHConnection:
    def __init__(self, device: Device, accept_new_host: bool = False) -> None:
        self.device = device
        self.session = SSHSession(resolve_target(device), device.name, accept_new_host)
        self.folder = WorkFolder(self.session, device.workdir)
        self.python = device.python or "python3"  # a leading ~ is expanded by the launch script on the board
        self._remote: dict[Path, str] = {}

    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport:
        report = self.folder.push([Path(f) for f in files], progress)
        self._remote.update(report.remote)
        return report

    def exclusive(self, wait_s: float, on_wait: WaitNotice | None = None) -> AbstractContextManager[None]:
        return self.folder.locked(wait_s, on_wait)

    def start_agent(self, agent: Path) -> SSHLink:
        remote = self._remote.get(Path(agent)) or self.push([Path(agent)]).remote[Path(agent)]
        runtime = ["--runtime", self.device.runtime] if self.device.runtime else []
        return SSHLink(self.session, self.device.workdir, [self.python, remote, *runtime])

    def close(self) -> None:
        self.session.close()
