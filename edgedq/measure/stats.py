"""Latency statistics, computed on the host from the agent's raw samples."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class LatencyStats:
    """Percentiles use linear interpolation between closest ranks (numpy's default)."""

    count: int
    mean: float
    std: float  # population standard deviation, as benchmark_model prints
    min: float
    max: float
    p50: float
    p90: float
    p95: float
    p99: float

    @classmethod
    def from_samples(cls, samples: list[float]) -> LatencyStats:
        if not samples:
            raise ValueError("no samples")
        values = np.asarray(samples, dtype=np.float64)
        p50, p90, p95, p99 = (float(p) for p in np.percentile(values, PERCENTILES))
        return cls(
            len(values),
            float(values.mean()),
            float(values.std()),
            float(values.min()),
            float(values.max()),
            p50,
            p90,
            p95,
            p99,
        )

    @property
    def spread(self) -> float:
        """(p90 - p50) / p50: how far the slow tail sits above the median."""
        return (self.p90 - self.p50) / self.p50 if self.p50 > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        data = asdict(self)
        data.pop("count")
        return data
