"""The budget rule and the Pareto front: plain functions of measured figures, so a choice can be re-checked.

A candidate is within budget when its top-1 accuracy is at most ``max_drop`` points below float32's, on the same
data on the same board.  The chosen one is the fastest of those (by p50 or p90); a tie goes to the more accurate,
then the smaller.  The Pareto front is every candidate no other one beats on both accuracy and latency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EPSILON = 1e-9  # accuracies are fractions of a sample count: compare points with a little slack


@dataclass(frozen=True)
class Point:
    """What the rule looks at for one candidate (None: not measured)."""

    name: str
    accuracy: float | None
    latency_ms: float | None
    size_bytes: int

    @property
    def measured(self) -> bool:
        return self.accuracy is not None and self.latency_ms is not None


def drop_points(reference: float, accuracy: float) -> float:
    """How many points of top-1 accuracy a candidate loses against float32 (negative: it gains)."""
    return (reference - accuracy) * 100.0


def within_budget(reference: float, accuracy: float | None, max_drop: float) -> bool | None:
    return None if accuracy is None else drop_points(reference, accuracy) <= max_drop + EPSILON


def pareto_front(points: Sequence[Point]) -> list[str]:
    """Names of the measured points that no other measured point dominates, fastest first."""
    measured = [p for p in points if p.measured]
    front = [
        p
        for p in measured
        if not any(
            q.accuracy >= p.accuracy  # type: ignore[operator]
            and q.latency_ms <= p.latency_ms  # type: ignore[operator]
            and (q.accuracy > p.accuracy or q.latency_ms < p.latency_ms)  # type: ignore[operator]
            for q in measured
        )
    ]
    return [p.name for p in sorted(front, key=lambda p: (p.latency_ms, -p.accuracy))]  # type: ignore[operator]


def choose(points: Sequence[Point], reference: float, max_drop: float) -> Point | None:
    """The fastest measured point within budget (ties: more accurate, then smaller); None if none is."""
    fits = [p for p in points if p.measured and within_budget(reference, p.accuracy, max_drop)]
    if not fits:
        return None
    return min(fits, key=lambda p: (p.latency_ms, -p.accuracy, p.size_bytes))  # type: ignore[operator]


def reason(points: Sequence[Point], chosen: Point, reference: float, max_drop: float, metric: str) -> str:
    """Why ``chosen`` won, in one sentence a user can check against the table."""
    baseline = next((p for p in points if p.name == "float32" and p.measured), None)
    gain = -drop_points(reference, chosen.accuracy) + 0.0  # type: ignore[arg-type]  # + 0.0: never "-0.00"
    text = (
        f"{chosen.name}: the fastest of the candidates within {max_drop:g} points of float32's top-1 "
        f"({metric} {chosen.latency_ms:.4g} ms, top-1 {100 * chosen.accuracy:.2f} %, {gain:+.2f} points)"  # type: ignore[operator]
    )
    if baseline is not None and baseline is not chosen and chosen.latency_ms:
        text += f", {baseline.latency_ms / chosen.latency_ms:.2f}x float32's speed"  # type: ignore[operator]
    faster = [p for p in points if p.measured and p.latency_ms < chosen.latency_ms]  # type: ignore[operator]
    if faster:
        out = ", ".join(f"{p.name} ({-drop_points(reference, p.accuracy) + 0.0:+.2f} points)" for p in faster)  # type: ignore[arg-type]
        text += f"; faster but over the budget: {out}"
    return text
