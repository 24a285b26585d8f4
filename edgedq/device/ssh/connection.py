"""An SSH board as a ``Connection``: files go to its work folder's store, agents and commands run there."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from edgedq.device.connection import Completed, Connection, PushReport, UploadProgress, WaitNotice
from edgedq.device.inventory import Device
from edgedq.device.ssh.client import SSHClient
from edgedq.device.ssh.process import SSHProcess
from edgedq.device.ssh.target import resolve_target
from edgedq.device.ssh.workfolder import WorkFolder
from edgedq.files import sha256_file


class SSHConnection(Connection):
    def __init__(self, device: Device, accept_new_host: bool = False) -> None:
        self.device = device
        self.name = device.name
        self.client = SSHClient(resolve_target(device), device.name, accept_new_host)
        self.folder = WorkFolder(self.client, device.workdir)
        self.python = device.python or "python3"  # a leading ~ is expanded by the launch script on the board
        self._remote: dict[Path, str] = {}

    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport:
        report = self.folder.push([Path(f) for f in files], progress)
        self._remote.update(report.remote)
        return report

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> Completed:
        return self.folder.run(list(argv), timeout=timeout)

    def hold(self, wait_s: float, on_wait: WaitNotice | None = None) -> AbstractContextManager[None]:
        return self.folder.locked(wait_s, on_wait)

    def start_agent(self, agent: Path) -> SSHProcess:
        remote = self._remote.get(Path(agent)) or self.push([Path(agent)]).remote[Path(agent)]
        runtime = ["--runtime", self.device.runtime] if self.device.runtime else []
        return SSHProcess(self.folder, sha256_file(Path(agent)), [remote, self.python, *runtime])

    def describe_target(self) -> dict[str, Any]:
        """How the board was reached: the resolved SSH target, where each value came from, the keys tried."""
        return self.client.describe()

    @property
    def notes(self) -> list[str]:
        """known_hosts lines and keys that were skipped; what the board printed that is not edgedq's (login noise)."""
        notes = list(self.client.notes)
        if self.folder.noise:
            first = self.folder.noise[0][:80]
            notes.append(
                f"the board's login shell printed {len(self.folder.noise)} line(s) before edgedq's output "
                f"(first: {first!r}); skipped. A shell start-up file (~/.bashrc) writes to stdout"
            )
        return notes

    def clean(self) -> tuple[int, int]:
        return self.folder.clean()

    def close(self) -> None:
        self.client.close()
