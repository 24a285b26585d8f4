"""One file offered to the board's store: it answers "have" (nothing to do) or "send" (stream it; it verifies)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from edgedq.errors import DeviceError

if TYPE_CHECKING:
    from edgedq.device.ssh.workfolder import WorkFolder

CHUNK = 64 * 1024  # measured: larger writes make paramiko's channel slower, not faster
Progress = Callable[[int], None]  # bytes just sent


class Offer:
    def __init__(self, folder: WorkFolder, local: Path, channel: paramiko.Channel) -> None:
        self.folder, self.local, self.channel = folder, local, channel
        self.wanted = False
        self.free_bytes: int | None = None
        channel.settimeout(folder.client.io_timeout)  # the board may hash a big file before it answers

    def read_answer(self) -> None:
        answer = (self.folder.first_line(self.channel.makefile("rb"), f"offering {self.local.name}") or "").split()
        if not answer or answer[0] not in ("edgedq-have", "edgedq-send"):
            self._finish("preparing the store")  # the receiver failed before answering: raises its error
            raise DeviceError(f"{self.folder.device}: the board's receiver answered {' '.join(answer)!r}")
        self.wanted = answer[0] == "edgedq-send"
        if self.wanted and answer[1:] and answer[1].isdigit():
            self.free_bytes = int(answer[1])
        if not self.wanted:
            self.channel.close()

    def abandon(self) -> None:
        """Close without sending: the receiver sees an empty file, its hash check fails, it deletes it."""
        with contextlib.suppress(Exception):
            self.channel.close()

    def send(self, progress: Progress) -> None:
        try:
            with open(self.local, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    self.channel.sendall(chunk)  # bounded by the channel's timeout: a stalled board is an error
                    progress(len(chunk))
            self.channel.shutdown_write()
        except TimeoutError:
            self.channel.close()
            raise self.folder.client.silent(f"uploading {self.local.name}") from None
        except (OSError, paramiko.SSHException, EOFError):
            if not self.channel.status_event.wait(2) or self.channel.exit_status == -1:  # the connection is gone
                raise self.folder.client.lost(f"uploading {self.local.name}") from None
        self._finish(f"writing {self.local.name}")

    def _finish(self, doing: str) -> None:
        status = self.folder.client.exit_status(self.channel, doing)
        stderr = self.channel.makefile_stderr("rb").read().decode(errors="replace")
        self.channel.close()
        if status == 0:
            return
        if status == 4:
            device, name = self.folder.device, self.local.name
            raise DeviceError(f"{device}: {name} arrived corrupted ({stderr.strip()}); discarded")
        raise self.folder.failure(status, stderr, doing)
