"""Each variant's size, latency (alternated in one process), delegation and fidelity; TF's own output beside it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from edgedq_agent.delegation import delegation_summary
from rich.table import Table

import edgedq
from edgedq.conversion.sources import make_converter, open_source
from edgedq.conversion.tf_driver import run_converter
from edgedq.measure.stats import LatencyStats
from edgedq.quiet import capture_native_output

ROUNDS = 60  # alternating rounds per thread count: every variant runs once per round


def tf_default(source: Path, target: Path) -> Path:
    """TF's plain Optimize.DEFAULT dynamic-range output of the model as saved (open batch), for comparison."""
    if not target.exists():
        with capture_native_output():
            target.write_bytes(run_converter(make_converter(open_source(source), batch=None), "tf-default"))
    return target


def alternate(models: dict[str, Path], threads: int) -> dict[str, LatencyStats]:
    """Interleave the variants run by run, so drift in the machine hits them all alike."""
    x = None
    runners = {}
    for name, path in models.items():
        with capture_native_output():
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        if x is None:
            x = np.random.default_rng(0).uniform(-1, 1, detail["shape"]).astype(np.float32)
        interpreter.set_tensor(detail["index"], x)
        for _ in range(3):
            interpreter.invoke()
        runners[name] = (interpreter, detail["index"])
    samples: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(ROUNDS):
        for name, (interpreter, index) in runners.items():
            start = time.perf_counter()
            interpreter.set_tensor(index, x)
            interpreter.invoke()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: LatencyStats.from_samples(values) for name, values in samples.items()}


def bench_model(label: str, source: Path, work: Path, data: Path | None = None) -> tuple[Table, dict[str, float]]:
    """``data``: inputs in the model's real range for fidelity (generated Uniform(-1, 1) otherwise)."""
    result = edgedq.convert(source, work / f"{label}.tflite", ["float32", "dynamic", "float16"], data=data)
    models = {v.mode: v.path for v in result.variants}
    models["tf-default"] = tf_default(source, work / f"{label}.tf-default.tflite")
    float_size = models["float32"].stat().st_size
    fidelity = {v.mode: v.manifest.get("fidelity") for v in result.variants}
    fidelity["tf-default"] = edgedq.compare(models["float32"], models["tf-default"], data=data).as_dict()
    stats = {threads: alternate(models, threads) for threads in (1, 2)}
    on = f"fidelity on {data.name}" if data else "fidelity on generated inputs"
    table = Table(
        title=f"{label}: variants side by side (ai-edge-litert XNNPACK, {ROUNDS} alternated runs; {on})",
        title_justify="left",
    )
    for column in (
        "variant",
        "size",
        "vs f32",
        "partitions",
        "cosine",
        "p50 1T",
        "p90 1T",
        "speedup 1T",
        "p50 2T",
        "p90 2T",
        "speedup 2T",
    ):
        table.add_column(column, justify="left" if column == "variant" else "right")
    figures = {}
    for name, path in models.items():
        with capture_native_output():
            interpreter = Interpreter(model_path=str(path), num_threads=1)
            interpreter.allocate_tensors()  # XNNPACK is applied here
        partitions = delegation_summary(interpreter)["partitions"]
        cosine = fidelity[name]["outputs"][0]["cosine_similarity"] if fidelity.get(name) else 1.0
        row = [
            name,
            f"{path.stat().st_size / 1e6:.2f} MB",
            f"{path.stat().st_size / float_size:.2f}x",
            str(partitions),
            f"{cosine:.4f}",
        ]
        for threads in (1, 2):
            s, base = stats[threads][name], stats[threads]["float32"]
            row += [f"{s.p50:.2f}", f"{s.p90:.2f}", f"{base.p50 / s.p50:.2f}x"]
        table.add_row(*row)
        figures[f"{name}.size_ratio"] = path.stat().st_size / float_size
        figures[f"{name}.partitions"] = partitions
        figures[f"{name}.cosine"] = cosine
        figures[f"{name}.speedup_1t"] = stats[1]["float32"].p50 / stats[1][name].p50
    return table, figures
