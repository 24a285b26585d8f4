"""profile's tables, readable at 100 columns: benchmark_model's views (the slowest operators, time per operator type,
what the profiler saw of the wall time) and, for several models, their operator types side by side."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich import box
from rich.console import Group
from rich.text import Text

from edgedq.cli.bench_tables import labels
from edgedq.cli.render import DataTable
from edgedq.tflite.op_mapping import OWN_NOTE

_TABLE = {
    "box": box.SIMPLE_HEAD,
    "show_edge": False,
    "pad_edge": False,
    "collapse_padding": True,
    "caption_justify": "left",
}
_OWN_GROUP, _UNMAPPED_GROUP = "XNNPACK's own operators", "XNNPACK operators not tied to a node"
CSV_COLUMNS = ("model", "name", "type", "delegate", "node", "node_type", "avg_ms", "percent", "count", "note")


def _ms(value: float) -> str:
    return f"{value:.3f}"


def _on(op: dict[str, Any]) -> str:
    return "XNNPACK" if op["delegate"] == "xnnpack" else "builtin"


def _node(op: dict[str, Any]) -> str | Text:
    if op["node"] is not None:
        return f"{op['node']} {op['node_type'] or ''}".strip()
    return Text("own" if op.get("note") == OWN_NOTE else "?", style="dim")


def _group(op: dict[str, Any]) -> str:
    """What an operator counts under when models are compared: the TFLite node type it runs, where known."""
    if op["node_type"]:
        return op["node_type"]
    return _OWN_GROUP if op.get("note") == OWN_NOTE else _UNMAPPED_GROUP


def header(profiles: list[Any]) -> Text:
    first = profiles[0]
    facts = next((p.device_facts for p in profiles if p.ok), {})
    text = Text(f"edgedq profile on {first.device}", style="bold")
    text.append(f": {first.threads} thread{'s' if first.threads > 1 else ''}, ")
    text.append("XNNPACK" if first.xnnpack else "builtin kernels (no XNNPACK)")
    if facts.get("emulated"):
        text.append(f" (emulated: {facts['emulated']}; times are meaningless)", style="yellow")
    for path, label in labels(profiles).items():
        shapes = next((p.input_shapes for p in profiles if p.model == path and p.input_shapes), {})
        measured = ", ".join(f"{name} {'x'.join(map(str, dims))}" for name, dims in shapes.items())
        text.append(f"\n  {label} = {path}" + (f" (inputs: {measured})" if measured else ""))
    return text


def top_table(profile: Any, label: str, top: int) -> DataTable:
    table = DataTable(Text(f"{label}: top {min(top, len(profile.ops))} of {len(profile.ops)} operators by time, "
                           f"{profile.runs} runs"), **_TABLE)  # fmt: skip
    for column in ("operator", "on", "node", "avg ms", "%", "cum%", "calls"):
        table.add_column(column, justify="left" if column in ("operator", "on", "node") else "right")
    cumulative = 0.0
    for op in profile.ops[:top]:
        cumulative += op["percent"]
        table.add_row(op["type"], _on(op), _node(op), _ms(op["avg_ms"]), f"{op['percent']:.1f}", f"{cumulative:.1f}",
                      f"{op['count']:g}")  # fmt: skip
    table.caption = profile.mapping.get("note")
    return table


def type_table(profile: Any, label: str) -> DataTable:
    table = DataTable(Text(f"{label}: by operator type"), **_TABLE)
    for column in ("operator type", "on", "count", "avg ms", "%", "cum%"):
        table.add_column(column, justify="left" if column in ("operator type", "on") else "right")
    cumulative = 0.0
    for entry in profile.by_type:
        cumulative += entry["percent"]
        table.add_row(entry["type"], _on(entry), f"{entry['count']:g}", _ms(entry["avg_ms"]),
                      f"{entry['percent']:.1f}", f"{cumulative:.1f}")  # fmt: skip
    return table


def side_by_side(profiles: list[Any], short: dict[str, str]) -> DataTable:
    """Time per TFLite node type in each model, and the operators that ran it: where one gains and one loses."""
    groups: dict[str, dict[str, list[float | None]]] = {}
    for index, profile in enumerate(profiles):
        for op in profile.ops:
            implementation = op["type"] if op["delegate"] == "xnnpack" else f"{op['type']} (builtin)"
            times = groups.setdefault(_group(op), {}).setdefault(implementation, [None] * len(profiles))
            times[index] = (times[index] or 0.0) + op["avg_ms"]
    table = DataTable(Text("side by side: ms per run by operator type (Δ against the first model)"), **_TABLE)
    table.add_column("operator type, and the operators that ran it")
    for profile in profiles:
        table.add_column(f"{short[profile.model]} ms", justify="right")

    def cells(times: list[float | None]) -> list[str]:
        """ms per model; beside the others', the difference from the first (a model without the type counts 0)."""
        row = ["-" if value is None else _ms(value) for value in times]
        base = times[0] or 0.0
        return row[:1] + [
            f"{text} ({round((value or 0.0) - base, 3) + 0.0:+.3f})"
            for text, value in zip(row[1:], times[1:], strict=True)
        ]

    def total(rows: dict[str, list[float | None]]) -> list[float | None]:
        columns = [[t[i] for t in rows.values() if t[i] is not None] for i in range(len(profiles))]
        return [sum(column) if column else None for column in columns]

    for name, rows in sorted(groups.items(), key=lambda item: -max(v or 0.0 for v in total(item[1]))):
        table.add_row(Text(name, style="bold"), *cells(total(rows)))
        for implementation, times in sorted(rows.items(), key=lambda item: -max(v or 0.0 for v in item[1])):
            if implementation not in (name, f"{name} (builtin)"):
                table.add_row(f"  {implementation}", *cells(times))
    table.add_row(Text("all operators", style="bold"), *cells([p.profiled_ms for p in profiles]))
    return table


def coverage_table(profiles: list[Any], short: dict[str, str]) -> DataTable:
    """Wall time against what the profiler saw: the operators, the interpreter around them, LiteRT's buffers."""
    table = DataTable(Text("where a run's time goes (ms per run, profiler on)"), **_TABLE)
    baseline = any(p.unprofiled_wall_ms is not None for p in profiles)
    for column in ("model", "wall", "operators", "of wall", "interpreter", "LiteRT buffers", "outside",
                   *(["unprofiled"] if baseline else [])):  # fmt: skip
        table.add_column(column, justify="left" if column == "model" else "right")
    for p in profiles:
        invoke = p.stages_ms.get("invoke", p.profiled_ms)
        buffers = p.stages_ms.get("buffer registration", 0.0) + p.stages_ms.get("buffer sync", 0.0)
        share = Text(f"{100 * p.profiled_ms / p.wall_ms:.1f} %")
        if p.profiled_ms < 0.85 * p.wall_ms:
            share.stylize("yellow")
        row = [short[p.model], _ms(p.wall_ms), _ms(p.profiled_ms), share, _ms(max(0.0, invoke - p.profiled_ms)),
               _ms(buffers), _ms(max(0.0, p.wall_ms - invoke - buffers))]  # fmt: skip
        if baseline:
            row.append("-" if p.unprofiled_wall_ms is None else _ms(p.unprofiled_wall_ms))
        table.add_row(*row)
    table.caption = ("interpreter: inside Invoke, outside the operators; LiteRT buffers: binding and syncing the "
                     "tensors each run; outside: the call and the profiler's own bookkeeping")  # fmt: skip
    return table


def profile_tables(profiles: list[Any], top: int = 10) -> list[Any]:
    """benchmark_model's views for each model; with several models, their operator types side by side."""
    short = labels(profiles)
    done = [p for p in profiles if p.ok]
    parts: list[Any] = [header(profiles)]
    for p in profiles:
        if not p.ok:
            parts.append(Text(f"{short[p.model]}: failed: {p.error['message']}", style="red"))
    for p in done:
        parts.append(top_table(p, short[p.model], top))
        if len(done) == 1:
            parts.append(type_table(p, short[p.model]))
    if len(done) > 1:
        parts.append(side_by_side(done, short))
    if done:
        parts.append(coverage_table(done, short))
    return [Group(*parts[:2]), *parts[2:]]


def bench_profile_table(results: list[Any]) -> DataTable:
    """bench --profile: each configuration's slowest operators, and how much of its wall time they cover."""
    short = labels(results)
    table = DataTable(Text("slowest operators per configuration (bench --profile)"), **_TABLE)
    for column in ("configuration", "operator", "on", "node", "avg ms", "%"):
        table.add_column(column, justify="right" if column in ("avg ms", "%") else "left")
    for r in results:
        lead = f"{short[r.model]} thr={r.threads}" + ("" if r.xnnpack else " no-xnnpack")
        for index, op in enumerate(r.profile["top"]):
            table.add_row(lead if index == 0 else "", op["type"], _on(op), _node(op), _ms(op["avg_ms"]),
                          f"{op['percent']:.1f}")  # fmt: skip
        coverage = f"operators {_ms(r.profile['profiled_ms'])} of {_ms(r.profile['wall_ms'])} ms per run"
        table.add_row("", Text(coverage, style="dim"))
    return table


def operators_csv(profiles: list[Any]) -> str:
    """Every operator of every model, one row each, slowest first within a model."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for p in profiles:
        for op in p.ops:
            writer.writerow([p.model, *(op.get(column) for column in CSV_COLUMNS[1:])])
    return out.getvalue()
