"""``edgedq report``: runs from the store as one self-contained HTML page (inline SVG, no network to open it),
or Markdown with PNGs beside it for a pull request.  Per device: latency distributions, p50/p90 with speedups,
memory, accuracy against latency, what XNNPACK took, warnings, operators when profiled, and the history of each
model on that device.  Every text that came from a board, a model or an inventory is escaped: data, not markup.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from edgedq import files
from edgedq.measure.variants import speedups
from edgedq.store import plots
from edgedq.store.records import configurations_of, history, run_of

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}.figure{margin:.8em 0}
.warn{color:#8a5a00}.meta{color:#666;font-size:12px}figure svg{max-width:100%;height:auto}"""


NUMBER = re.compile(r"^[-+]?[\d.]+(e[-+]?\d+)?(±[\d.e-]+)?[x%]?$")  # figures align right, words left


@dataclass
class Section:
    """A device's part of the report: headings, paragraphs, tables and figures, in order."""

    parts: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, kind: str, value: Any) -> None:
        self.parts.append((kind, value))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _bench_table(rows: list[dict[str, Any]], speedup: dict[int, float]) -> list[list[str]]:
    table = [["configuration", "mode", "p50 ms", "p90 ms", "mean±std", "vs float32", "peak RSS MB", "XNNPACK",
              "init ms", "shapes"]]  # fmt: skip
    for index, r in enumerate(rows):
        d = r.get("delegation") or {}
        table.append([
            plots.label(r), str(r.get("mode") or "-"), _ms(r.get("p50_ms")), _ms(r.get("p90_ms")),
            f"{_ms(r.get('mean_ms'))}±{_ms(r.get('std_ms'))}",
            f"{speedup[index]:.2f}x" if index in speedup else "-",
            _ms(r.get("peak_rss_mb")),
            f"{d.get('delegated_nodes')}/{d.get('total_nodes')} in {d.get('partitions')}" if d else "-",
            _ms((r.get("details") or {}).get("init_ms")),
            ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in (r.get("input_shapes") or {}).items()) or "-",
        ])  # fmt: skip
    return table


def _device_section(engine: Engine, device: str, rows: list[dict[str, Any]]) -> Section:
    section = Section()
    section.add("h2", f"{device}")
    facts = next((r.get("device_facts") for r in rows if r.get("device_facts")), None) or {}
    if facts:
        runtime = facts.get("runtime") or {}
        section.add("p", f"{facts.get('cpu_model')} x{facts.get('cores')}, {facts.get('arch')}; int8 features: "
                         f"{', '.join(facts.get('cpu_features') or []) or 'none'}; {facts.get('os')}; "
                         f"{runtime.get('name')} {runtime.get('version')}")  # fmt: skip
        if facts.get("emulated"):
            section.add("warn", f"emulated ({facts['emulated']}): latency is meaningless here")
    bench = [r for r in rows if r["kind"] == "bench" and r.get("samples_ms") and not r.get("error")]
    if bench:
        speedup: dict[int, float] = {}  # against the float32 of the same source in the same run
        for run_id in dict.fromkeys(r["run_id"] for r in bench):
            indices = [i for i, r in enumerate(bench) if r["run_id"] == run_id]
            found = speedups([(bench[i]["model"], bench[i]["threads"], bench[i]["xnnpack"], bench[i]["p50_ms"])
                              for i in indices])  # fmt: skip
            speedup.update({indices[k]: value for k, value in found.items()})
        section.add("h3", "latency")
        section.add("figure", plots.latency_distribution(bench))
        section.add("figure", plots.percentiles(bench, speedup))
        section.add("table", _bench_table(bench, speedup))
        section.add("h3", "memory")
        section.add("figure", plots.memory(bench))
    evals = [r for r in rows if r["kind"] == "eval" and r.get("accuracy") is not None]
    if evals:
        section.add("h3", "accuracy")
        section.add("table", [["model", "top-1", "samples", "data"]] + [
            [r["model_name"], f"{100 * r['accuracy']:.2f}%", str((r.get("details") or {}).get("count", "-")),
             str((r.get("details") or {}).get("data", "-"))] for r in evals])  # fmt: skip
        fastest = {r["model_name"]: r["p50_ms"] for r in sorted(bench, key=lambda r: -r["p50_ms"])}
        points = [(r["model_name"].removesuffix(".tflite"), fastest[r["model_name"]], r["accuracy"], r.get("mode"))
                  for r in evals if r["model_name"] in fastest]  # fmt: skip
        if points:
            section.add("figure", plots.accuracy_latency(points))
    for tuned in (r for r in rows if r["kind"] == "tune" and not r.get("error") and r.get("details")):
        details = tuned["details"]
        section.add("h3", f"tune: {(details.get('chosen') or {}).get('name')} chosen")
        section.add("p", str(details.get("reason") or ""))
        if details.get("stopped_early"):
            section.add("warn", f"stopped early: {details['stopped_early']}")
        section.add("figure", plots.pareto(details))
    profiled = [r for r in rows if r["kind"] == "profile" and not r.get("error")] + bench
    for r in profiled:
        profile = (r.get("details") or {}).get("profile") or {}
        if profile.get("by_type"):
            section.add("h3", f"operators: {plots.label(r)}")
            section.add("figure", plots.operators(profile["by_type"], plots.label(r)))
    warnings = sorted({f"{plots.label(r)}: {w}" for r in rows for w in (r.get("warnings") or [])})
    errors = sorted({f"{r.get('model_name') or device}: {(r.get('error') or {}).get('message')}"
                     for r in rows if r.get("error")})  # fmt: skip
    if warnings or errors:
        section.add("h3", "warnings and errors")
        for text in [*errors, *warnings]:
            section.add("warn", text)
    series = _history(engine, device, {r["model_name"] for r in bench})
    if any(len(points) > 1 for points in series.values()):
        section.add("h3", "history on this device")
        section.add("figure", plots.history(series))
    return section


def _history(engine: Engine, device: str, models: set[str]) -> dict[str, list[tuple[Any, float]]]:
    series: dict[str, list[tuple[Any, float]]] = defaultdict(list)
    for row in reversed(history(engine, device=device, limit=2000)):
        if row["kind"] == "bench" and row["model_name"] in models and row.get("p50_ms") and not row.get("error"):
            series[plots.label(row)].append((row["started_at"], row["p50_ms"]))
    return dict(series)


def _html_table(table: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    cell = lambda c: f"<td{' class=n' if NUMBER.match(c) else ''}>{html.escape(c)}</td>"  # noqa: E731
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in table[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(table: list[list[str]]) -> str:
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cell(c) for c in row) + " |" for row in table]
    return "\n".join([lines[0], "|" + "---|" * len(table[0]), *lines[1:]])


def build_report(engine: Engine, run_ids: list[str], output: Path, fmt: str = "html") -> Path:
    """Write the report of ``run_ids`` to ``output`` (and, for Markdown, its PNGs beside it)."""
    run_rows = [(run_of(engine, run_id), configurations_of(engine, run_id)) for run_id in run_ids]
    bench_runs = [run for run, rows in run_rows if any(r["kind"] == "bench" for r in rows)]
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run, rows in run_rows:
        for row in rows:
            if len(bench_runs) > 1:  # configurations of several runs side by side: say which run each is
                row["run_label"] = run.get("tag") or run["id"].rsplit("-", 1)[-1]
            by_device[row.get("device") or "?"].append(row)
    sections = [_device_section(engine, device, rows) for device, rows in by_device.items()]
    runs_table = [["run", "kind", "status", "tag", "started", "command", "host"]] + [
        [run["id"], run["kind"], run["status"], run.get("tag") or "-", f"{run['started_at']:%Y-%m-%d %H:%M}",
         " ".join(run.get("command") or []), run.get("host") or "-"] for run, _rows in run_rows]  # fmt: skip
    writer = _HtmlWriter() if fmt == "html" else _MarkdownWriter(output)
    text = writer.document(runs_table, sections)
    files.atomic_write_bytes(output, text.encode())
    return output


class _HtmlWriter:
    def document(self, runs_table: list[list[str]], sections: list[Section]) -> str:
        parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>edgedq report</title>"
                 f"<style>{STYLE}</style></head><body><h1>edgedq report</h1>", _html_table(runs_table)]  # fmt: skip
        for section in sections:
            parts += [self.part(kind, value) for kind, value in section.parts]
        return "".join(parts) + "</body></html>\n"

    def part(self, kind: str, value: Any) -> str:
        if kind == "figure":
            svg = plots.render(value, "svg").decode()
            return f"<figure class=figure>{svg[svg.index('<svg') :]}</figure>"
        if kind == "table":
            return _html_table(value)
        if kind == "warn":
            return f"<p class=warn>{html.escape(value)}</p>"
        return f"<{kind}>{html.escape(value)}</{kind}>"


class _MarkdownWriter:
    """Markdown for a pull request, figures as PNG files in ``<name>_files/`` beside it."""

    def __init__(self, output: Path) -> None:
        self.folder = output.with_name(output.stem + "_files")
        self.count = 0

    def document(self, runs_table: list[list[str]], sections: list[Section]) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        parts = ["# edgedq report", _md_table(runs_table)]
        for section in sections:
            parts += [self.part(kind, value) for kind, value in section.parts]
        return "\n\n".join(parts) + "\n"

    def part(self, kind: str, value: Any) -> str:
        if kind == "figure":
            self.count += 1
            path = self.folder / f"figure-{self.count}.png"
            files.atomic_write_bytes(path, plots.render(value, "png"))
            return f"![figure {self.count}]({self.folder.name}/{path.name})"
        if kind == "table":
            return _md_table(value)
        prefix: dict[str, Callable[[str], str]] = {"h2": "## {}".format, "h3": "### {}".format,
                                                   "warn": "> **warning:** {}".format}  # fmt: skip
        return prefix.get(kind, str)(value.replace("<", "&lt;"))
