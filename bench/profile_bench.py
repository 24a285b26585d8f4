"""What edgedq profile costs: the same model with and without the runtime's profiler, run for run in one process."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rich.table import Table

from edgedq.device.inventory import get_device
from edgedq.device.local import LocalConnection
from edgedq.measure.profile import ProfileOptions, profile

PROCESSES = 3  # fresh agent processes per model; the verdict is the median of their ratios
RUNS = 300  # profiled runs per process, each beside an unprofiled one (which goes first alternates)
TARGET = 0.05


def overhead(models: dict[str, Path]) -> Table:
    """Profiled against unprofiled wall time of a run (1 thread, XNNPACK), and how much of it the operators cover."""
    python = get_device("local").python or sys.executable
    table = Table(
        title=f"profiler overhead: {PROCESSES} processes x {RUNS} runs with the profiler recording, each beside a run "
        "of an unprofiled copy of the model (1 thread); medians of the per-process figures",
        title_justify="left",
    )
    for column in ("model", "profiled ms", "unprofiled ms", "cost per run", "overhead", "target ≤5%", "ops / wall"):
        table.add_column(column, justify="left" if column == "model" else "right")
    options = ProfileOptions(threads=1, runs=RUNS, warmup=5, baseline=True)
    for name, model in models.items():
        figures = []
        for _ in range(PROCESSES):
            (result,) = profile([model], "local", options, connection=LocalConnection(python)).profiles
            if not result.ok:
                raise RuntimeError(result.error)
            figures.append((result.wall_ms, result.unprofiled_wall_ms, result.profiled_ms / result.wall_ms))
        profiled, unprofiled, coverage = (float(np.median([f[i] for f in figures])) for i in range(3))
        ratio = float(np.median([f[0] / f[1] for f in figures])) - 1
        cost = float(np.median([f[0] - f[1] for f in figures]))
        verdict = "met" if ratio <= TARGET else "NOT met"
        table.add_row(name, f"{profiled:.3f}", f"{unprofiled:.3f}", f"{cost:+.3f} ms", f"{ratio:+.1%}", verdict,
                      f"{coverage:.1%}")  # fmt: skip
    table.caption = (
        "the profiler reads /proc/self/status at each of LiteRT's stages of a run and records every XNNPACK operator: "
        "a cost per run, so the overhead falls as the model's run grows (and a slower board's runs are longer)"
    )
    return table
