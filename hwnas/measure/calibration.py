"""Calibration runs of a device configuration: per-inference overhead and the drift reference op."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from hwnas.measure.store import MeasurementStore


@dataclass(frozen=True)
class DriftSummary:
    reference_op: str
    n: int
    baseline_ms: float
    max_rel_change: float
    threshold: float
    last_rel_change: float = 0.0  # of the latest reference run

    @property
    def drifted(self) -> bool:
        return abs(self.max_rel_change) > self.threshold

    def describe(self) -> str:
        verdict = "DRIFT (thermal throttling or background load?)" if self.drifted else "stable"
        return (
            f"reference {self.reference_op}: {self.n} runs, baseline {self.baseline_ms:.4f} ms, "
            f"max change {self.max_rel_change:+.1%} -> {verdict}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "reference_op": self.reference_op,
            "n": self.n,
            "baseline_ms": self.baseline_ms,
            "max_rel_change": self.max_rel_change,
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


def drift_summary(store: MeasurementStore, device: str, config_id: str, threshold: float) -> DriftSummary | None:
    runs = store.calibration(device, config_id, "reference")
    if not runs:
        return None
    key = runs[0][0]
    medians = [m for k, m, _ in runs if k == key]
    base = medians[0]
    changes = [m / base - 1.0 if base > 0 else 0.0 for m in medians]
    worst = max(changes, key=abs)
    return DriftSummary(key, len(medians), base, worst, threshold, changes[-1])


def overhead_ms(store: MeasurementStore, device: str, config_id: str) -> float | None:
    runs = store.calibration(device, config_id, "overhead")
    return statistics.median(m for _, m, _ in runs) if runs else None
