"""``edgedq deploy``: from a TensorFlow model to numbers measured on one or more boards.

Converts once on the host (cached), then each board in its own thread:
connect, hold its lock, push what it lacks, benchmark every variant with the
bench method, save the results as JSON under the host's edgedq folder.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgedq import fileio
from edgedq.bench import BenchOptions, ConfigResult, bench
from edgedq.connect import connect
from edgedq.connection import PushReport
from edgedq.convert import MODES
from edgedq.devices import Device
from edgedq.errors import BadInput, EdgedqError

DeviceEvents = Callable[[str, str, dict[str, Any]], None]  # (device, kind, data)


@dataclass
class DeviceRun:
    """One board's part of a deploy: its results, what was sent, or why it failed."""

    device: str
    results: list[ConfigResult] = field(default_factory=list)
    push: PushReport | None = None
    error: dict[str, Any] | None = None
    saved: str | None = None
    seconds: float = 0.0
    failure: EdgedqError | None = field(default=None, repr=False)  # the error itself, for the CLI's exit code

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        push = None
        if self.push:
            push = {k: v for k, v in self.push.__dict__.items() if k != "remote"}
            push["remote"] = {str(k): v for k, v in self.push.remote.items()}
        return {
            "device": self.device,
            "results": [r.as_dict() for r in self.results],
            "push": push,
            "error": self.error,
            "saved": self.saved,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class DeployReport:
    source: str
    models: list[Path]
    runs: list[DeviceRun]

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "models": [str(m) for m in self.models],
            "devices": [r.as_dict() for r in self.runs],
        }


def variant_modes(mode: str, compare: list[str]) -> list[str]:
    """float32 first when present (it is the baseline of every speedup), then the mode, then the rest."""
    modes = list(dict.fromkeys([mode, *compare]))
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise BadInput(f"unknown mode {unknown[0]!r}", hint=f"choose from {', '.join(MODES)}")
    return sorted(modes, key=lambda m: m != "float32")


def results_path(device: str, source: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{stamp}-{device}-{source.stem or source.name}")
    return fileio.edgedq_home() / "results" / f"{safe}.json"


def run_on_device(
    device: Device,
    models: list[Path],
    source: Path,
    options: BenchOptions,
    accept_new_host: bool,
    notify: DeviceEvents,
) -> DeviceRun:
    run = DeviceRun(device.name)
    threads = options.threads or device.threads
    started = time.perf_counter()
    try:
        notify(device.name, "connect", {})
        connection = connect(device, accept_new_host)
        try:

            def relay(kind: str, data: dict[str, Any]) -> None:
                if kind == "pushed":
                    run.push = data["report"]
                notify(device.name, kind, data)

            run.results = bench(models, device, connection, replace(options, threads=threads), relay)
        finally:
            connection.close()
    except EdgedqError as error:
        run.error, run.failure = error.as_dict(), error
    run.seconds = time.perf_counter() - started
    path = results_path(device.name, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    run.saved = str(path)
    fileio.atomic_write_json(path, {"source": str(source), **run.as_dict()})
    notify(device.name, "finished", {"run": run})
    return run


def deploy(
    source: Path,
    devices: list[Device],
    models: list[Path],
    options: BenchOptions,
    accept_new_host: bool = False,
    on_event: DeviceEvents | None = None,
) -> DeployReport:
    """Benchmark ``models`` on every device at once (one thread each); one failing board does not stop the others."""
    notify = on_event or (lambda _device, _kind, _data: None)
    with ThreadPoolExecutor(max_workers=max(1, len(devices))) as pool:
        futures = [
            pool.submit(run_on_device, device, models, source, options, accept_new_host, notify) for device in devices
        ]
        runs = [future.result() for future in futures]
    return DeployReport(str(source), models, runs)
