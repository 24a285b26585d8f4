"""What ``edgedq tune`` costs: the vision demo tuned on ``local``, the first time (conversions) and again (cached)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from rich.table import Table

RUNS = 50  # counted runs per candidate, tune's default


def tune_vision(work: Path) -> Table:
    """Wall time of tune on the vision demo (quick setting, with calibration: int8 candidates too), how many
    candidates it measured and what it chose; the demo is trained once into ``work`` (not counted)."""
    os.environ["EDGEDQ_HOME"] = str(work / "tune-home")  # the demo's model and tune's candidates live here
    from edgedq.demos import vision
    from edgedq.tune.run import TuneOptions, tune

    trained = vision.train(quick=True)
    data = work / "tune-home" / "digits-test.npz"
    data.parent.mkdir(parents=True, exist_ok=True)
    np.savez(data, x=np.load(trained.test.x), y=np.load(trained.test.y))
    table = Table(title=f"edgedq tune: the vision demo on local ({RUNS} runs a candidate, with calibration)",
                  title_justify="left")  # fmt: skip
    for column in ("run", "wall s", "host s", "candidates measured", "chosen", "top-1", "p50 ms", "vs float32"):
        table.add_column(column, justify="left" if column in ("run", "chosen") else "right")
    options = TuneOptions(runs=RUNS, calibration=trained.calibration)
    for label in ("first (converts what is not cached)", "again (all cached)"):
        started = time.perf_counter()
        report = tune(trained.source, data, "local", options)
        wall, host = time.perf_counter() - started, report.host_seconds
        (device,) = report.devices
        if device.error or device.chosen is None:
            raise RuntimeError(device.error)
        measured = [c for c in device.candidates if c.latency_ms is not None]
        base = next(c for c in device.candidates if c.name == "float32")
        speedup = base.latency_ms["p50"] / device.chosen.latency_ms["p50"]  # type: ignore[index]
        table.add_row(label, f"{wall:.1f}", f"{host:.1f}", f"{len(measured)} of {len(device.candidates)}",
                      device.chosen.name, f"{100 * device.chosen.accuracy:.2f}%",  # type: ignore[operator]
                      f"{device.chosen.latency_ms['p50']:.4f}", f"{speedup:.2f}x")  # type: ignore[index]  # fmt: skip
    table.caption = (
        "host s: conversion (TensorFlow only for what is not cached) and the per-layer sensitivity; the rest is the "
        "board's: each candidate evaluated on the held-out digits and benchmarked in a fresh agent process"
    )
    return table
