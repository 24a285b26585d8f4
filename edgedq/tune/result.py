"""What ``tune`` found: per board every candidate's figures, the choice and why; ``as_dict()`` is ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgedq.errors import EdgedqError, Outcome, RunsFailed
from edgedq.measure.bench import ConfigResult
from edgedq.measure.evaluate import Accuracy
from edgedq.tune.sensitivity import LayerError


@dataclass
class CandidateResult:
    """One candidate on one board: what it is, and its measured accuracy and latency (None: not measured)."""

    name: str
    mode: str
    keep_float: list[str]
    path: str
    size_bytes: int
    accuracy: float | None = None  # top-1, a fraction, measured on the board
    latency_ms: dict[str, float] | None = None  # {"p50", "p90"}, measured on the board
    within_budget: bool | None = None
    bench: ConfigResult | None = field(default=None, repr=False)  # everything bench measured (for the store)
    eval: Accuracy | None = field(default=None, repr=False)
    error: dict[str, Any] | None = None  # why it has no figures (a failed run, the time budget)

    def latency(self, metric: str) -> float | None:
        return None if self.latency_ms is None else self.latency_ms[metric]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "keep_float": self.keep_float,
            "path": self.path,
            "size_bytes": self.size_bytes,
            "accuracy": self.accuracy,
            "latency_ms": self.latency_ms,
            "within_budget": self.within_budget,
        }


@dataclass
class DeviceTune:
    """One board's candidates, its choice and why, and what stopped it (the time budget, a failure)."""

    device: str
    candidates: list[CandidateResult] = field(default_factory=list)
    float32_accuracy: float | None = None
    chosen: CandidateResult | None = None
    saved: str | None = None
    pareto_front: list[str] = field(default_factory=list)  # candidate names, fastest first
    reason: str | None = None
    stopped_early: str | None = None
    emulated: str | None = None  # latency on an emulated board says nothing about a real one
    error: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "float32_accuracy": self.float32_accuracy,
            "candidates": [c.as_dict() for c in self.candidates],
            "chosen": self.chosen.as_dict() if self.chosen else None,
            "saved": self.saved,
            "pareto_front": self.pareto_front,
            "reason": self.reason,
            "stopped_early": self.stopped_early,
            "error": self.error,
            "notes": self.notes,
        }


@dataclass
class TuneReport(Outcome):
    """The whole run: the host's sensitivity ranking and each board's result."""

    source: str
    data: str
    max_drop_points: float
    metric: str
    sensitivity: list[LayerError] = field(default_factory=list)
    devices: list[DeviceTune] = field(default_factory=list)
    seconds: float = 0.0
    host_seconds: float = 0.0  # of which on the host: conversions and the sensitivity ranking
    notes: list[str] = field(default_factory=list)

    def failure(self) -> EdgedqError | None:
        """One board: its own error; several: RunsFailed naming how many failed."""
        failed = [d for d in self.devices if d.error is not None]
        if not failed:
            return None
        if len(self.devices) == 1:
            return EdgedqError.from_dict(failed[0].error)  # type: ignore[arg-type]
        first = EdgedqError.from_dict(failed[0].error)  # type: ignore[arg-type]
        return RunsFailed(f"{len(failed)} of {len(self.devices)} boards failed; {failed[0].device}: {first.message}",
                          hint=first.hint)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "data": self.data,
            "max_drop_points": self.max_drop_points,
            "sensitivity": [layer.as_dict() for layer in self.sensitivity],
            "devices": [d.as_dict() for d in self.devices],
            "metric": self.metric,
            "seconds": round(self.seconds, 3),
            "host_seconds": round(self.host_seconds, 3),
            "notes": self.notes,
        }
