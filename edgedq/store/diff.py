"""Two runs side by side: which configurations changed, by how much, and whether the change is real.

Configurations are matched by (device, model file name, threads, XNNPACK): a CI
gate benches "model.tflite" every night and compares it with last week's.
Latency changes come with a 95 % bootstrap confidence interval of the change in
the median (or p90) from both runs' raw samples (2000 resamples, a fixed seed);
only a change whose interval excludes zero is significant, and only a
significant change can trip a gate.  Memory and accuracy are one number per
run: their change is shown as it is (accuracy in points).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgedq.errors import EdgedqError, ExitCode

METRICS = ("p50", "p90", "rss", "accuracy")
RESAMPLES = 2000
RSS_NOISE = 0.02  # peak RSS moves by a percent or two between identical runs


class RegressionFound(EdgedqError):
    exit_code = ExitCode.REGRESSION


@dataclass
class Change:
    device: str
    model: str
    threads: int | None
    xnnpack: bool | None
    metric: str
    before: float | None
    after: float | None
    change: float | None  # relative (0.05 = 5 % more) for p50/p90/rss, points for accuracy
    low: float | None = None  # the 95 % interval of ``change`` (latency only)
    high: float | None = None
    significant: bool = False
    tripped: bool = False


@dataclass
class Diff:
    run_a: str
    run_b: str
    metric: str
    changes: list[Change] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    gates: dict[str, float] = field(default_factory=dict)

    @property
    def tripped(self) -> list[Change]:
        return [c for c in self.changes if c.tripped]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tripped": [asdict(c) for c in self.tripped]}


def bootstrap_change(before: list[float], after: list[float], quantile: float) -> tuple[float, float, float]:
    """(change, low, high): the relative change of the ``quantile`` and its 95 % bootstrap interval."""
    a, b = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    rng = np.random.default_rng(0)
    a_star = np.quantile(rng.choice(a, (RESAMPLES, len(a))), quantile, axis=1)
    b_star = np.quantile(rng.choice(b, (RESAMPLES, len(b))), quantile, axis=1)
    ratios = b_star / a_star - 1.0
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(np.quantile(b, quantile) / np.quantile(a, quantile) - 1.0), float(low), float(high)


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["kind"], row["device"], row["model_name"], row.get("threads"), row.get("xnnpack"))


def _name(key: tuple[Any, ...]) -> str:
    kind, device, model, threads, xnnpack = key
    settings = "" if kind == "eval" else f" threads={threads}{'' if xnnpack else ' no-xnnpack'}"
    return f"{device}: {model}{settings} ({kind})"


def diff_runs(
    run_a: str,
    rows_a: list[dict[str, Any]],
    run_b: str,
    rows_b: list[dict[str, Any]],
    metric: str = "p50",
    fail_if_slower: float | None = None,
    fail_if_less_accurate: float | None = None,
) -> Diff:
    """What changed from run A to run B; a gate trips on a significant slowdown above ``fail_if_slower`` percent
    (on the latency metric: ``metric`` when it is p50 or p90, else p50) or an accuracy drop above
    ``fail_if_less_accurate`` points."""
    if metric not in METRICS:
        raise EdgedqError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    usable = [r for r in (*rows_a, *rows_b) if not r.get("error")]
    a = {_key(r): r for r in rows_a if r in usable}
    b = {_key(r): r for r in rows_b if r in usable}
    gates = {k: v for k, v in (("slower_percent", fail_if_slower), ("accuracy_points", fail_if_less_accurate))
             if v is not None}  # fmt: skip
    result = Diff(run_a, run_b, metric, gates=gates)
    result.only_in_a = [_name(k) for k in a if k not in b]
    result.only_in_b = [_name(k) for k in b if k not in a]
    latency = metric if metric in ("p50", "p90") else "p50"
    for key in (k for k in a if k in b):
        before, after = a[key], b[key]
        kind, device, model, threads, xnnpack = key
        if kind == "eval":
            change = Change(device, model, None, None, "accuracy", before["accuracy"], after["accuracy"],
                            _points(before["accuracy"], after["accuracy"]))  # fmt: skip
            change.significant = change.change is not None and change.change != 0
            drop = fail_if_less_accurate
            change.tripped = drop is not None and change.change is not None and -change.change > drop
            result.changes.append(change)
            continue
        for name in dict.fromkeys([latency, *([metric] if metric == "rss" else [])]):
            result.changes.append(_bench_change(before, after, name, device, model, threads, xnnpack, fail_if_slower))
    return result


def _points(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round((after - before) * 100.0, 4)


def _bench_change(
    before: dict[str, Any],
    after: dict[str, Any],
    metric: str,
    device: str,
    model: str,
    threads: int,
    xnnpack: bool,
    fail_if_slower: float | None,
) -> Change:
    if metric == "rss":
        old, new = before.get("peak_rss_mb"), after.get("peak_rss_mb")
        change = None if not old or new is None else new / old - 1.0
        found = Change(device, model, threads, xnnpack, "rss", old, new, change)
        found.significant = change is not None and abs(change) > RSS_NOISE
        return found
    quantile = 0.5 if metric == "p50" else 0.9
    old_samples, new_samples = before.get("samples_ms") or [], after.get("samples_ms") or []
    old, new = before.get(f"{metric}_ms"), after.get(f"{metric}_ms")
    found = Change(device, model, threads, xnnpack, metric, old, new, None)
    if len(old_samples) >= 2 and len(new_samples) >= 2:
        found.change, found.low, found.high = bootstrap_change(old_samples, new_samples, quantile)
        found.significant = found.low > 0 or found.high < 0
        found.tripped = fail_if_slower is not None and found.low > 0 and found.change * 100.0 > fail_if_slower
    return found
