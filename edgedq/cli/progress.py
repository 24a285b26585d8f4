"""One live line per device: connecting, waiting for its lock, uploading (a byte bar), then each run's progress."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn


def _mb(count: int) -> str:
    return f"{count / 1e6:.1f}"


class DeviceProgress:
    def __init__(self, console: Console, devices: list[str]) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.fields[device]:<12}"),
            BarColumn(bar_width=24),
            TextColumn("{task.description}"),
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

    def stage(self, device: str, text: str) -> None:
        self.progress.update(self.tasks[device], description=text, total=None, completed=0)

    def event(self, device: str, kind: str, data: dict[str, Any]) -> None:
        """The library's events, as text and bars; errors of one run are printed above the live lines."""
        task = self.tasks[device]
        if kind == "connect":
            self.stage(device, "connecting")
        elif kind == "wait":
            self.stage(device, data["message"])
        elif kind == "upload":
            self.progress.update(
                task,
                total=data["total"],
                completed=data["sent"],
                description=f"uploading {_mb(data['sent'])}/{_mb(data['total'])} MB",
            )
        elif kind == "pushed":
            report = data["report"]
            self.stage(
                device,
                f"sent {report.sent_files} files ({_mb(report.sent_bytes)} MB), {report.skipped_files} there",
            )
        elif kind == "start":
            self.stage(device, data["label"])
        elif kind == "progress":
            self.progress.update(
                task,
                total=data["target"] or None,
                completed=data["done"],
                description=f"{data['label']}: {data['phase']} {data['done']}/{data['target']}",
            )
        elif kind == "done" and not data["result"].ok:
            self.console.print(f"[red]{device}: {data['label']}: {data['result'].error['message']}[/]")
        elif kind == "finished":
            run = data["run"]
            self.stage(device, "done" if run.ok else "[red]failed[/]")
            if run.error:
                self.console.print(f"[red]{device}: {run.error['message']}[/]")
