"""bench's tables, made for an 80-100 column terminal: short model labels (full paths once, above), latency
first, then load, memory and delegation; a unit that keeps small numbers readable; speedups only against the
float32 variant of the same source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.text import Text

from edgedq.cli.render import DataTable, ratio_text, size_text
from edgedq.measure.variants import family, speedups, variant_mode


def labels(results: list[Any]) -> dict[str, str]:
    """Short names: the mode when every model is a variant of one source, else the file name without .tflite."""
    paths = list(dict.fromkeys(r.model for r in results))
    families = {family(p) for p in paths}
    if None not in families and len(families) == 1:
        return {p: str(variant_mode(p)) for p in paths}
    short = {p: Path(p).name.removesuffix(".tflite") for p in paths}
    if len(set(short.values())) < len(paths):  # same names in different folders
        short = {p: f"{Path(p).parent.name}/{name}" for p, name in short.items()}
    return short


def _unit(results: list[Any]) -> tuple[str, float]:
    """µs when the fastest median is under 0.1 ms (so nothing shows as 0.00), else ms."""
    fastest = min((r.latency_ms.p50 for r in results if r.ok), default=1.0)
    return ("µs", 1000.0) if fastest < 0.1 else ("ms", 1.0)


def _decimals(value: float) -> int:
    return 2 if value < 10 else 1 if value < 1000 else 0


def _num(value: float, decimals: int | None = None) -> str:
    """About three significant digits: 9.12, 73.1, 1234 (or ``decimals`` given)."""
    return f"{value:.{_decimals(value) if decimals is None else decimals}f}"


def bench_tables(results: list[Any]) -> list[Any]:
    """A header naming the device and the models, the latency table, the load/memory/delegation table."""
    device = results[0].device if results else "?"
    facts = next((r.device_facts for r in results if r.ok), {})
    header = Text(f"edgedq bench on {device}", style="bold")
    if facts.get("emulated"):
        header.append(f" (emulated: {facts['emulated']}; latency is meaningless)", style="yellow")
    short = labels(results)
    for path, label in short.items():
        shapes = next((r.input_shapes for r in results if r.model == path and r.input_shapes), {})
        measured = ", ".join(f"{name} {'x'.join(map(str, dims))}" for name, dims in shapes.items())
        header.append(f"\n  {label} = {path}" + (f" (inputs: {measured})" if measured else ""))
    both = len({r.xnnpack for r in results}) > 1
    unit, scale = _unit(results)
    speedup = speedups([(r.model, r.threads, r.xnnpack, r.latency_ms.p50 if r.ok else None) for r in results])
    latency = DataTable(title=Text("latency"))
    columns = ["model", "thr", *(["xnn"] if both else []), f"p50 {unit}", f"p90 {unit}", f"mean±std {unit}",
               "vs float32", "runs"]  # fmt: skip
    for column in columns:
        latency.add_column(column, justify="left" if column == "model" else "right")
    load = DataTable(title=Text("load, memory, delegation"))
    for column in ("model", "thr", *(["xnn"] if both else []), "size", "init ms", "first ms", "peak RSS",
                   "model Δ", "XNNPACK", "temp °C"):  # fmt: skip
        load.add_column(column, justify="left" if column == "model" else "right")
    for index, r in enumerate(results):
        lead = [short[r.model], str(r.threads), *(["yes" if r.xnnpack else "no"] if both else [])]
        if not r.ok:
            latency.add_row(*lead, Text("failed", "red"))
            load.add_row(*lead, size_text(r.size_bytes), Text("failed", "red"))
            continue
        s = r.latency_ms
        latency.add_row(
            *lead,
            _num(s.p50 * scale),
            _num(s.p90 * scale),
            f"{_num(s.mean * scale)}±{_num(s.std * scale, _decimals(s.mean * scale))}",
            ratio_text(speedup[index]) if index in speedup else "-",
            str(len(r.samples_ms)),
        )
        d = r.delegation
        temp = r.thermal["after"].get("temperature_c")
        heat = Text("-" if temp is None else f"{temp:.0f}")
        if r.thermal["throttled"]:
            heat.append(" throttled", style="red")
        delegated = f"{d['delegated_nodes']}/{d['total_nodes']}, {d['partitions']}p"
        load.add_row(
            *lead,
            size_text(r.size_bytes),
            f"{r.init_ms:.1f}",
            _num(r.first_inference_ms),
            f"{r.memory_mb['peak_rss']:.1f} MB",
            f"{r.memory_mb['model_delta']:.1f} MB" if r.memory_mb["model_delta"] is not None else "-",
            Text(delegated, style="yellow") if d["partitions"] != 1 else delegated,
            heat,
        )
    return [Group(header, latency), load]


def fleet_table(runs: list[Any]) -> DataTable:
    """A deploy to many boards at a glance: a row per board and variant (details in --json and the report)."""
    table = DataTable(title=Text(f"edgedq deploy: {len(runs)} boards"))
    for column in ("board", "model", "thr", "p50 ms", "p90 ms", "vs float32", "peak RSS", "XNNPACK", "status"):
        table.add_column(column, justify="left" if column in ("board", "model", "status") else "right")
    for run in runs:
        if run.error:
            table.add_row(run.device, "-", "-", "-", "-", "-", "-", "-", Text(run.error["message"], "red"))
            continue
        short = labels(run.results)
        speedup = speedups([(r.model, r.threads, r.xnnpack, r.latency_ms.p50 if r.ok else None) for r in run.results])
        for index, r in enumerate(run.results):
            if not r.ok:
                table.add_row(run.device, short[r.model], str(r.threads), *["-"] * 5, Text(r.error["message"], "red"))
                continue
            d = r.delegation
            table.add_row(run.device, short[r.model], str(r.threads), _num(r.latency_ms.p50), _num(r.latency_ms.p90),
                          ratio_text(speedup[index]) if index in speedup else "-",
                          f"{r.memory_mb['peak_rss']:.1f} MB", f"{d['delegated_nodes']}/{d['total_nodes']}",
                          Text("warnings", "yellow") if r.warnings else "ok")  # fmt: skip
    return table
