"""One live line per device: connecting, waiting for its lock, uploading (a byte bar), then each run's progress."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text

from edgedq.measure.events import (
    Connecting,
    DeviceDone,
    Event,
    LockWait,
    RunFailed,
    RunProgress,
    RunStarted,
    Stage,
    Uploaded,
    Uploading,
)


def _mb(count: int) -> str:
    return f"{count / 1e6:.1f}"


class DeviceProgress:
    """A rich Progress with one task per device; ``event`` is the library's ``Events`` sink."""

    def __init__(self, console: Console, devices: list[str]) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.fields[device]:<12}", markup=False),
            BarColumn(bar_width=24),
            TextColumn("{task.description}", markup=False),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {
            name: self.progress.add_task("waiting", device=name, total=None) for name in devices
        }

    def __enter__(self) -> DeviceProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _stage(self, device: str, text: str) -> None:
        self.progress.update(self.tasks[device], description=text, total=None, completed=0)

    def event(self, event: Event) -> None:
        """Events become text and bars; a failed run's error is printed above the live lines."""
        device = event.device
        if device not in self.tasks:
            self.tasks[device] = self.progress.add_task("", device=device, total=None)
        match event:
            case Connecting():
                self._stage(device, "connecting")
            case Stage(text=text) | LockWait(message=text) | RunStarted(label=text):
                self._stage(device, text)
            case Uploading(sent=sent, total=total):
                description = f"uploading {_mb(sent)}/{_mb(total)} MB"
                self.progress.update(self.tasks[device], total=total, completed=sent, description=description)
            case Uploaded(sent_files=files, sent_bytes=sent, skipped_files=skipped):
                self._stage(device, f"sent {files} files ({_mb(sent)} MB), {skipped} there")
            case RunProgress(label=label, phase=phase, done=done, target=target):
                description = f"{label}: {phase} {done}/{target}"
                self.progress.update(self.tasks[device], total=target or None, completed=done, description=description)
            case RunFailed(label=label, message=message):  # the message names the device
                self.console.print(Text(f"{label}: {message}", style="red"))
            case DeviceDone(error=error):
                self._stage(device, "done" if error is None else "failed")
                if error is not None:
                    self.console.print(Text(f"{device}: {error}", style="red"))
