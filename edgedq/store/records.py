"""Writing runs into the store and reading them back.

A run is written whole, in one transaction, when it ends: the store holds
complete runs (ok, or failed with what failed) and never half of one; a run
interrupted by Ctrl-C is not written at all.
"""

from __future__ import annotations

import getpass
import re
import secrets
import socket
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, desc, insert, select, true

from edgedq import __version__
from edgedq.errors import BadInput
from edgedq.measure.variants import variant_mode
from edgedq.store.schema import configurations, imported_files, runs


def new_run_id(moment: datetime) -> str:
    """Sortable by time, unique across hosts and processes started in the same second."""
    return f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class Run:
    """One command's run: what it was, and a row per configuration measured."""

    kind: str
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    tag: str | None = None
    source: str | None = None
    command: list[str] = field(default_factory=lambda: ["edgedq", *sys.argv[1:]])
    error: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    id: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or new_run_id(self.started_at)


def storable(value: Any) -> Any:
    """``value`` with every string made valid UTF-8: a file name that is not UTF-8 keeps its odd bytes as ``\\xff``."""
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that no file name decoded to
            raw = value.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(item) for item in value]
    return value


def _label(path: str) -> str:
    return Path(path).name


def _configuration(kind: str, item: dict[str, Any], device: str | None) -> dict[str, Any]:
    """What every measured configuration says of itself: which model, where, how it ran, and its error."""
    runtime = item.get("runtime") or {}
    return {
        "kind": kind,
        "device": item.get("device") or device,
        "device_facts": item.get("device_facts"),
        "model": item.get("model"),
        "model_name": _label(item.get("model") or "?"),
        "model_sha256": item.get("model_sha256"),
        "mode": variant_mode(item.get("model") or ""),
        "threads": item.get("threads"),
        "xnnpack": item.get("xnnpack"),
        "input_shapes": item.get("input_shapes"),
        "runtime": runtime.get("name"),
        "runtime_version": runtime.get("version"),
        "error": item.get("error"),
    }


def _device_failed(kind: str, report: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows``, or, when the device itself failed before any configuration ran, one row that says which."""
    if report.get("error") and not rows:
        return [{"kind": kind, "device": report.get("device"), "error": report["error"]}]
    return rows


def bench_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """A bench report (``BenchReport.as_dict()``, or a JSON results file of old) as rows, raw samples included."""
    rows = []
    for result in report.get("results") or []:
        stats = result.get("latency_ms") or {}
        rows.append(
            {
                **_configuration("bench", result, report.get("device")),
                "samples_ms": result.get("samples_ms"),
                "p50_ms": stats.get("p50"),
                "p90_ms": stats.get("p90"),
                "mean_ms": stats.get("mean"),
                "std_ms": stats.get("std"),
                "peak_rss_mb": (result.get("memory_mb") or {}).get("peak_rss"),
                "memory": result.get("memory_mb"),
                "delegation": result.get("delegation"),
                "thermal": result.get("thermal"),
                "details": {
                    key: result.get(key)
                    for key in ("init_ms", "first_inference_ms", "runtime_load_ms", "warmup_ms", "outputs", "profile")
                },  # fmt: skip
                "warnings": result.get("warnings"),
            }
        )
    return _device_failed("bench", report, rows)


def profile_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """A profile report (``ProfileReport.as_dict()``) as rows: operators and types kept, raw events left out."""
    rows = []
    for item in report.get("profiles") or []:
        summary = {key: item.get(key) for key in ("runs", "wall_ms", "profiled_ms", "ops", "by_type", "mapping")}
        rows.append({**_configuration("profile", item, report.get("device")),
                     "details": {"profile": summary, "init_ms": item.get("init_ms")}})  # fmt: skip
    return _device_failed("profile", report, rows)


def eval_rows(report: Any) -> list[dict[str, Any]]:
    """An EvalReport's models (candidate, and reference when there is one) as rows."""
    return [
        _eval_row(
            report.device,
            accuracy.model,
            variant_mode(accuracy.model),
            report.threads,
            accuracy.top1,
            {**accuracy.as_dict(), "data": report.data, "agreement": report.agreement},
        )
        for accuracy in (report.candidate, report.reference)
        if accuracy is not None
    ]


def _eval_row(device: str, model: str, mode: str, threads: int | None, top1: float | None,
              details: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """One model's accuracy on one device, as eval and tune both record it."""
    return {"kind": "eval", "device": device, "model": model, "model_name": _label(model), "mode": mode,
            "threads": threads, "accuracy": top1, "details": details}  # fmt: skip


def tune_rows(report: Any) -> list[dict[str, Any]]:
    """A TuneReport as rows: per board each candidate's bench (raw samples) and eval, then one ``tune`` row holding
    the choice (its latency and accuracy, and in ``details`` every candidate's figures and why it won)."""
    rows: list[dict[str, Any]] = []
    for board in report.devices:
        measured = [c.bench.as_dict() for c in board.candidates if c.bench is not None]
        rows += bench_rows({"device": board.device, "results": measured})
        for candidate in board.candidates:
            if candidate.eval is not None:
                rows.append(_eval_row(board.device, candidate.path, candidate.mode, None, candidate.accuracy,
                                      {**candidate.eval.as_dict(), "data": report.data}))  # fmt: skip
        chosen = board.chosen
        facts = next((c.bench.device_facts for c in board.candidates if c.bench is not None), None)
        rows.append(
            {
                "kind": "tune",
                "device": board.device,
                "device_facts": facts,
                "model": chosen.path if chosen else None,
                "model_name": _label(chosen.path) if chosen else None,
                "mode": chosen.mode if chosen else None,
                "threads": chosen.bench.threads if chosen and chosen.bench else None,
                "xnnpack": True,
                "p50_ms": (chosen.latency_ms or {}).get("p50") if chosen else None,
                "p90_ms": (chosen.latency_ms or {}).get("p90") if chosen else None,
                "accuracy": chosen.accuracy if chosen else None,
                "details": {
                    **board.as_dict(),
                    "max_drop_points": report.max_drop_points,
                    "metric": report.metric,
                    "sensitivity": [layer.as_dict() for layer in report.sensitivity],
                },
                "warnings": board.notes,
                "error": board.error,
            }
        )
    return rows


def live_rows(report: Any) -> list[dict[str, Any]]:
    """A live demo's report (speech or vision) as one row: every window's or frame's latency, its summary."""
    summary = report.as_dict()
    speech = "real_time_factor" in summary
    phase = summary.get("sustained") or summary.get("burst") or {}
    stats = (summary.get("window_latency_ms") if speech else phase.get("latency_ms")) or {}
    score = summary.get("score") or {}
    if "hits" in score:
        found, shown = score["hits"], score["hits"] + score["misses"]
    else:
        found = score.get("faces_found", score.get("read_right"))
        shown = score.get("face_frames", score.get("digit_frames"))
    runtime = summary.get("runtime") or {}
    samples = report.latencies_ms
    return [
        {
            "kind": "live_speech" if speech else "live_vision",
            "device": report.device,
            "device_facts": report.facts,
            "model": report.model,
            "model_name": _label(report.model),
            "model_sha256": summary.get("model_sha256"),
            "mode": report.mode,
            "threads": 1,
            "xnnpack": True,
            "samples_ms": samples,
            "p50_ms": stats.get("p50"),
            "p90_ms": stats.get("p90"),
            "mean_ms": float(sum(samples) / len(samples)) if samples else None,
            "peak_rss_mb": summary.get("memory_mb"),
            "thermal": summary.get("thermal"),
            "runtime": runtime.get("name"),
            "runtime_version": runtime.get("version"),
            "accuracy": found / shown if found is not None and shown else None,
            "details": {key: value for key, value in summary.items() if key not in ("events", "thermal")},
            "warnings": summary.get("warnings"),
        }
    ]


def record(engine: Engine, run: Run, status: str = "ok", imported_from: Path | None = None) -> str:
    """Write ``run`` and its rows in one transaction (with the file it was imported from); its id."""
    with engine.begin() as connection:
        if imported_from is not None:
            connection.execute(insert(imported_files).values(path=storable(str(imported_from)), run_id=run.id))
        connection.execute(
            insert(runs).values(
                id=run.id,
                kind=run.kind,
                status="failed" if run.error or any(r.get("error") for r in run.rows) else status,
                started_at=run.started_at,
                finished_at=datetime.now(timezone.utc),
                command=storable(run.command),
                host=f"{getpass.getuser()}@{socket.gethostname()}",
                tag=run.tag,
                edgedq_version=__version__,
                source=storable(run.source),
                error=storable(run.error),
            )
        )
        if run.rows:
            columns = set().union(*run.rows)  # one insert of many rows binds the same columns in each row
            rows = [{"run_id": run.id, **storable({c: row.get(c) for c in columns})} for row in run.rows]
            connection.execute(insert(configurations), rows)
    return run.id


def resolve(engine: Engine, ref: str) -> str:
    """A run id from ``ref``: an id (or its unique beginning), ``latest``, ``latest~N``, or a tag (its latest run)."""
    with engine.connect() as connection:
        latest = re.fullmatch(r"latest(?:~(\d+))?", ref)
        if latest:
            back = int(latest.group(1) or 0)
            query = select(runs.c.id).order_by(desc(runs.c.started_at), desc(runs.c.id)).offset(back).limit(1)
            found = connection.execute(query).scalar()
        else:
            found = connection.execute(select(runs.c.id).where(runs.c.id == ref)).scalar()
            if found is None:
                tagged = select(runs.c.id).where(runs.c.tag == ref).order_by(desc(runs.c.started_at)).limit(1)
                found = connection.execute(tagged).scalar()
            if found is None:
                prefixed = connection.execute(select(runs.c.id).where(runs.c.id.startswith(ref)).limit(2)).all()
                found = prefixed[0][0] if len(prefixed) == 1 else None
    if found is None:
        raise BadInput(f"no run {ref!r} in the results store", hint="see edgedq history for runs, ids and tags")
    return found


def configurations_of(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(configurations).where(configurations.c.run_id == run_id)).mappings()
        return [dict(row) for row in rows]


def run_of(engine: Engine, run_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(connection.execute(select(runs).where(runs.c.id == run_id)).mappings().one())


def history(
    engine: Engine,
    device: str | None = None,
    model: str | None = None,
    mode: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Configurations, newest first, with their run's time, tag and status."""
    conditions = []
    if device:
        conditions.append(configurations.c.device == device)
    if model:
        conditions.append((configurations.c.model_name == model) | configurations.c.model_sha256.startswith(model))
    if mode:
        conditions.append(configurations.c.mode == mode)
    if since:
        conditions.append(runs.c.started_at >= since)
    query = (
        select(configurations, runs.c.started_at, runs.c.tag, runs.c.status, runs.c.kind.label("run_kind"))
        .join(runs, runs.c.id == configurations.c.run_id)
        .where(and_(true(), *conditions))
        .order_by(desc(runs.c.started_at), configurations.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
