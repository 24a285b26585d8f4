"""The report's figures, drawn with matplotlib (Agg) from the store's rows: latency distributions from the raw
samples, p50/p90 with speedups against float32, memory, accuracy against latency, operators, history."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files, never a window
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
COLOURS = {"float32": "#4c72b0", "dynamic": "#dd8452", "float16": "#55a868", "int8": "#c44e52", None: "#8172b3"}


def label(row: dict[str, Any]) -> str:
    """A configuration as a short axis label: model file, threads, no-xnnpack when off (and its run, when the
    report holds several)."""
    name = str(row.get("model_name") or "?").removesuffix(".tflite")
    run = f" [{row['run_label']}]" if row.get("run_label") else ""
    return f"{name} ×{row.get('threads')}" + ("" if row.get("xnnpack", True) else " builtin") + run


def render(figure: plt.Figure, fmt: str) -> bytes:
    """The figure as SVG (inline in HTML: text stays text) or PNG (beside Markdown)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _height(count: int) -> float:
    return 1.2 + 0.38 * count


def latency_distribution(rows: Sequence[dict[str, Any]]) -> plt.Figure:
    """One box per configuration from its raw samples (whiskers at 5th/95th percentile, median marked)."""
    figure, axes = plt.subplots(figsize=(7, _height(len(rows))))
    boxes = axes.boxplot([r["samples_ms"] for r in rows], orientation="horizontal", whis=(5, 95),
                         showfliers=False, patch_artist=True)  # fmt: skip
    for box, row in zip(boxes["boxes"], rows, strict=True):
        box.set_facecolor(COLOURS.get(row.get("mode"), COLOURS[None]))
        box.set_alpha(0.75)
    axes.set_yticks(range(1, len(rows) + 1), [label(r) for r in rows])
    axes.set_xlabel("latency per inference (ms); box: quartiles, whiskers: 5th-95th percentile")
    axes.invert_yaxis()
    return figure


def percentiles(rows: Sequence[dict[str, Any]], speedups: dict[int, float]) -> plt.Figure:
    """p50 bars with p90 ticks, each labelled with its speedup against float32 where there is one."""
    figure, axes = plt.subplots(figsize=(7, _height(len(rows))))
    positions = range(len(rows))
    axes.barh(positions, [r["p50_ms"] for r in rows], color=[COLOURS.get(r.get("mode"), COLOURS[None])
                                                              for r in rows], alpha=0.8, label="p50")  # fmt: skip
    axes.scatter([r["p90_ms"] for r in rows], positions, marker="|", s=200, color="black", label="p90", zorder=3)
    for index, row in enumerate(rows):
        text = f"{row['p50_ms']:.3g} ms" + (f"  {speedups[index]:.2f}x" if index in speedups else "")
        axes.annotate(text, (row["p90_ms"], index), xytext=(6, -3), textcoords="offset points")
    axes.set_yticks(list(positions), [label(r) for r in rows])
    axes.set_xlabel("ms (bars: p50, ticks: p90; Nx: speedup against float32 of the same source)")
    axes.invert_yaxis()
    axes.legend(loc="lower right", frameon=False)
    axes.set_xlim(0, max(r["p90_ms"] for r in rows) * 1.35)
    return figure


def memory(rows: Sequence[dict[str, Any]]) -> plt.Figure:
    figure, axes = plt.subplots(figsize=(7, _height(len(rows))))
    values = [r.get("peak_rss_mb") or 0.0 for r in rows]
    axes.barh(range(len(rows)), values, color=[COLOURS.get(r.get("mode"), COLOURS[None]) for r in rows], alpha=0.8)
    for index, value in enumerate(values):
        axes.annotate(f"{value:.1f} MB", (value, index), xytext=(4, -3), textcoords="offset points")
    axes.set_yticks(range(len(rows)), [label(r) for r in rows])
    axes.set_xlabel("peak RSS of the agent process (MB)")
    axes.invert_yaxis()
    return figure


def accuracy_latency(points: Sequence[tuple[str, float, float, str | None]]) -> plt.Figure:
    """(name, p50 ms, top-1, mode) per variant: the trade-off at a glance, up and left is better."""
    figure, axes = plt.subplots(figsize=(6, 4))
    for name, latency, accuracy, mode in points:
        axes.scatter(latency, accuracy * 100, s=60, color=COLOURS.get(mode, COLOURS[None]), zorder=3)
        axes.annotate(name, (latency, accuracy * 100), xytext=(6, 4), textcoords="offset points")
    axes.set_xlabel("p50 latency (ms)")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.grid(alpha=0.3)
    return figure


def pareto(tuned: dict[str, Any]) -> plt.Figure:
    """A tune run on one board: every candidate's accuracy against latency, the budget line, the Pareto front
    (joined) and the chosen candidate (ringed)."""
    metric, front = tuned.get("metric") or "p50", tuned.get("pareto_front") or []
    measured = [c for c in tuned.get("candidates") or [] if c.get("accuracy") is not None and c.get("latency_ms")]
    chosen = (tuned.get("chosen") or {}).get("name")
    figure, axes = plt.subplots(figsize=(6.5, 4))
    for index, c in enumerate(sorted(measured, key=lambda c: c["latency_ms"][metric])):
        x, y = c["latency_ms"][metric], 100 * c["accuracy"]
        axes.scatter(x, y, s=60, color=COLOURS.get(c.get("mode"), COLOURS[None]), zorder=3,
                     alpha=1.0 if c.get("within_budget") else 0.45)  # fmt: skip
        if c["name"] == chosen:
            axes.scatter(x, y, s=260, facecolors="none", edgecolors="black", linewidths=1.5, zorder=4)
        axes.annotate(c["name"], (x, y), xytext=(6, 4 - 11 * (index % 3)), textcoords="offset points", fontsize=8)
    on_front = sorted((c for c in measured if c["name"] in front), key=lambda c: c["latency_ms"][metric])
    if on_front:  # joined, each point marked (a front of one point is still shown)
        axes.plot([c["latency_ms"][metric] for c in on_front], [100 * c["accuracy"] for c in on_front], marker="s",
                  markersize=3, color="black", alpha=0.5, zorder=2, label="Pareto front")  # fmt: skip
    if tuned.get("float32_accuracy") is not None and tuned.get("max_drop_points") is not None:
        floor = 100 * tuned["float32_accuracy"] - tuned["max_drop_points"]
        budget = f"budget: float32 - {tuned['max_drop_points']:g} pts"
        axes.axhline(floor, color="#c44e52", linestyle="--", linewidth=1, label=budget)
    axes.set_xlabel(f"{metric} latency (ms); ringed: chosen, faded: over the budget")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.grid(alpha=0.3)
    axes.legend(frameon=False, fontsize=8, loc="lower right")
    return figure


def operators(by_type: Sequence[dict[str, Any]], title: str) -> plt.Figure:
    """Time per operator type from a profile, largest first."""
    top = sorted(by_type, key=lambda o: -o["avg_ms"])[:12]
    figure, axes = plt.subplots(figsize=(7, _height(len(top))))
    axes.barh(range(len(top)), [o["avg_ms"] for o in top], color=COLOURS[None], alpha=0.8)
    axes.set_yticks(range(len(top)), [f"{o['type']} ({o['delegate']})" for o in top])
    axes.set_xlabel(f"ms per run: {title}")
    axes.invert_yaxis()
    return figure


def history(series: dict[str, list[tuple[Any, float]]]) -> plt.Figure:
    """p50 of each configuration over time, one line each."""
    figure, axes = plt.subplots(figsize=(7, 3.2))
    for name, points in series.items():
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    axes.set_ylabel("p50 (ms)")
    axes.grid(alpha=0.3)
    axes.legend(frameon=False, fontsize=8)
    figure.autofmt_xdate()
    return figure
