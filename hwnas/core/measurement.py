"""Measurement: the raw per-run times of one artifact on one backend, with robust statistics.

Some tools never print their raw samples (TFLite's ``benchmark_model`` prints count, mean, std, min, max and,
in newer versions, p5/median/p95). Such a result is a Measurement built from its RunSummary: the median is the
printed one where there is one, else the mean; the IQR is estimated as 1.349 std (exact for a normal
distribution). Nothing is invented: ``samples_ms`` stays empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

DEFAULT_NOISE_THRESHOLD = 0.1
NORMAL_IQR_PER_STD = 1.349


@dataclass(frozen=True)
class RunSummary:
    """What a tool reports in place of raw samples (milliseconds)."""

    n: int
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    median_ms: float | None = None
    p5_ms: float | None = None
    p95_ms: float | None = None

    def __post_init__(self) -> None:
        values = [v for v in asdict(self).values() if v is not None]
        if self.n < 1 or any(not np.isfinite(v) or v < 0 for v in values):
            raise ValueError(f"a run summary needs n >= 1 and finite, non-negative times: {self}")


@dataclass(frozen=True)
class Measurement:
    """Raw samples (milliseconds per inference) are kept; statistics are derived from them. A tool that prints
    no samples gives a ``summary`` instead."""

    samples_ms: tuple[float, ...]
    noise_threshold: float = DEFAULT_NOISE_THRESHOLD
    summary: RunSummary | None = None
    # what the tool said besides times, kept with them: ``placement`` (where a delegate put the graph),
    # ``peak_memory_mb``; JSON values only
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.samples_ms and self.summary is None:
            raise ValueError("a Measurement needs at least one sample or a run summary")
        if any(not np.isfinite(s) or s < 0 for s in self.samples_ms):
            raise ValueError("samples must be finite and non-negative")

    @classmethod
    def from_samples(
        cls,
        samples_ms: Sequence[float],
        noise_threshold: float = DEFAULT_NOISE_THRESHOLD,
        extra: Mapping[str, Any] | None = None,
    ) -> Measurement:
        return cls(tuple(float(s) for s in samples_ms), noise_threshold, None, dict(extra or {}))

    @classmethod
    def from_summary(
        cls,
        summary: RunSummary,
        noise_threshold: float = DEFAULT_NOISE_THRESHOLD,
        extra: Mapping[str, Any] | None = None,
    ) -> Measurement:
        return cls((), noise_threshold, summary, dict(extra or {}))

    def to_json(self) -> list[float] | dict[str, Any]:
        """The samples as a list (``{"samples": [...], "extra": {...}}`` with extras), or ``{"summary": {...}}``:
        how the store and the worker carry it."""
        extra = {"extra": dict(self.extra)} if self.extra else {}
        if self.summary:
            return {"summary": asdict(self.summary), **extra}
        return {"samples": list(self.samples_ms), **extra} if extra else list(self.samples_ms)

    @classmethod
    def from_json(cls, data: Any, noise_threshold: float = DEFAULT_NOISE_THRESHOLD) -> Measurement:
        if not isinstance(data, dict):
            return cls.from_samples(data, noise_threshold)
        if "summary" in data:
            return cls.from_summary(RunSummary(**data["summary"]), noise_threshold, data.get("extra"))
        return cls.from_samples(data["samples"], noise_threshold, data.get("extra"))

    def pooled(self, other: Measurement) -> Measurement:
        """This measurement and ``other`` (of the same model, taken at another time) as one: samples joined; where
        either has only a summary, the summaries pooled (count, mean and variance exactly, min and max; the
        median as the count-weighted mean of the two medians)."""
        extra = {**self.extra, **other.extra}
        if self.samples_ms and other.samples_ms:
            return Measurement(self.samples_ms + other.samples_ms, self.noise_threshold, None, extra)
        a, b = self.as_summary(), other.as_summary()
        n = a.n + b.n
        mean = (a.n * a.mean_ms + b.n * b.mean_ms) / n
        var = sum(s.n * (s.std_ms**2 + (s.mean_ms - mean) ** 2) for s in (a, b)) / n
        median = (a.n * self.median_ms + b.n * other.median_ms) / n
        pooled = RunSummary(n, mean, float(np.sqrt(var)), min(a.min_ms, b.min_ms), max(a.max_ms, b.max_ms), median)
        return Measurement((), self.noise_threshold, pooled, extra)

    def as_summary(self) -> RunSummary:
        if self.summary:
            return self.summary
        x = np.asarray(self.samples_ms)
        return RunSummary(x.size, float(x.mean()), float(x.std()), float(x.min()), float(x.max()), self.median_ms)

    @property
    def n(self) -> int:
        return self.summary.n if self.summary else len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        if self.summary:
            return self.summary.median_ms if self.summary.median_ms is not None else self.summary.mean_ms
        return float(np.median(self.samples_ms))

    @property
    def mean_ms(self) -> float:
        return self.summary.mean_ms if self.summary else float(np.mean(self.samples_ms))

    @property
    def total_ms(self) -> float:
        """Time spent in the timed runs."""
        return self.n * self.mean_ms

    @property
    def iqr_ms(self) -> float:
        if self.summary:
            return NORMAL_IQR_PER_STD * self.summary.std_ms
        q75, q25 = np.percentile(self.samples_ms, [75, 25])
        return float(q75 - q25)

    @property
    def noise_ratio(self) -> float:
        median = self.median_ms
        return self.iqr_ms / median if median > 0 else 0.0

    @property
    def noisy(self) -> bool:
        return self.noise_ratio > self.noise_threshold

    def __str__(self) -> str:
        flag = "  (noisy)" if self.noisy else ""
        scalars = {k: v for k, v in self.extra.items() if isinstance(v, str | int | float)}  # not an op profile
        told = "".join(f"  {k.replace('_', ' ')} {v}" for k, v in scalars.items())
        return f"median {self.median_ms:.4f} ms  IQR {self.iqr_ms:.4f} ms  n={self.n}{flag}{told}"
