"""Measurement: the raw per-run times of one artifact on one backend, with robust statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_NOISE_THRESHOLD = 0.1


@dataclass(frozen=True)
class Measurement:
    """Raw samples (milliseconds per inference) are kept; statistics are derived from them."""

    samples_ms: tuple[float, ...]
    noise_threshold: float = DEFAULT_NOISE_THRESHOLD

    def __post_init__(self) -> None:
        if not self.samples_ms:
            raise ValueError("a Measurement needs at least one sample")
        if any(not np.isfinite(s) or s < 0 for s in self.samples_ms):
            raise ValueError("samples must be finite and non-negative")

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], noise_threshold: float = DEFAULT_NOISE_THRESHOLD):
        return cls(tuple(float(s) for s in samples_ms), noise_threshold)

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.samples_ms))

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.samples_ms))

    @property
    def iqr_ms(self) -> float:
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
        return f"median {self.median_ms:.4f} ms  IQR {self.iqr_ms:.4f} ms  n={self.n}{flag}"
