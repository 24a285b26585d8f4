"""``edgedq deploy``: from a TensorFlow model to numbers measured on one or more boards.

Converts once on the host (cached), then each board runs in its own thread:
connect, hold its lock, push what it lacks, benchmark every variant with the
bench method, save the results as JSON under the host's edgedq folder.  One
board failing does not stop the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgedq.conversion import MODES
from edgedq.conversion.pipeline import prepare_models
from edgedq.device import close_all
from edgedq.device.inventory import Device, get_device
from edgedq.errors import BadInput, DeviceError, EdgedqError, Outcome, RunsFailed
from edgedq.measure.bench import BenchOptions, BenchReport, bench
from edgedq.measure.events import DeviceDone, Events, no_events


@dataclass
class DeployReport(Outcome):
    source: str
    models: list[Path]
    runs: list[BenchReport]

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)

    def failure(self) -> EdgedqError | None:
        """One board: its own failure (and exit code); several: which of them failed."""
        if len(self.runs) == 1:
            return self.runs[0].failure()
        failed = [run.device for run in self.runs if not run.ok]
        if failed:
            return RunsFailed(
                f"{len(failed)} of {len(self.runs)} devices failed: {', '.join(failed)}",
                hint="see the errors above; results of the others were saved",
            )
        return None

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


def deploy_to(
    device: Device, models: list[Path], options: BenchOptions, accept_new_host: bool, notify: Events
) -> BenchReport:
    """One board's whole run; its failure is recorded in the report, not raised."""
    started = time.perf_counter()
    try:
        run = bench(models, device, options, accept_new_host=accept_new_host, on_event=notify)
    except EdgedqError as error:
        run = BenchReport(device.name, error=error.as_dict())
    run.seconds = time.perf_counter() - started
    notify(DeviceDone(device.name, run.error["message"] if run.error else None))
    return run


def deploy(
    source: str | Path,
    devices: Sequence[Device | str] | str,
    *,
    mode: str = "dynamic",
    compare: Sequence[str] = ("float32",),
    calibration: str | Path | None = None,
    models: list[Path] | None = None,
    conversion: dict[str, Any] | None = None,
    parallel: int = 8,
    options: BenchOptions | None = None,
    inventory: str | Path | None = None,
    accept_new_host: bool = False,
    on_stage: Callable[[str], None] | None = None,
    on_event: Events | None = None,
) -> DeployReport:
    """Convert ``source`` (cached; a ``.tflite`` is used as it is), then benchmark every variant on every device
    at once, one thread each.  ``devices``: inventory names or ``Device`` objects (one name as a string);
    ``models``: variants already converted (the CLI converts first, to show it); ``conversion``: convert's options
    (batch, custom_objects, input_shapes); ``parallel``: how many boards at once."""
    names = [devices] if isinstance(devices, str) else list(devices)
    chosen = [d if isinstance(d, Device) else get_device(d, inventory) for d in names]
    if not chosen:
        raise DeviceError("say where to deploy", hint="name a device (see 'edgedq devices') or a tag")
    source, options, notify = Path(source), options or BenchOptions(), on_event or no_events
    if models is None:
        models = prepare_models(source, variant_modes(mode, list(compare)), calibration, on_stage, **(conversion or {}))
    if parallel < 1:
        raise BadInput(f"--parallel must be at least 1, not {parallel}")
    with ThreadPoolExecutor(max_workers=min(parallel, len(chosen))) as pool:
        futures = [pool.submit(deploy_to, device, models, replace(options), accept_new_host, notify)
                   for device in chosen]  # fmt: skip
        try:
            runs = [future.result() for future in futures]
        except KeyboardInterrupt:  # stop every board now: closing the connections wakes each thread
            for future in futures:
                future.cancel()
            close_all()
            raise
    return DeployReport(str(source), models, runs)
