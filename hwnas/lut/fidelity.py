"""How well one set of numbers predicts another: share within a tolerance, rank correlations, MAPE (a table's
predictions against end-to-end measurements; a supernet's scores against stand-alone training)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Fidelity:
    n: int
    within: float  # share of networks predicted within +-tolerance of their measurement
    tolerance: float
    spearman: float
    mape: float  # mean absolute percentage error, as a fraction
    bias: float = 0.0  # mean signed error (predicted / measured - 1): below zero the table under-predicts

    def describe(self) -> str:
        return (
            f"n={self.n}  within ±{self.tolerance:.0%}: {self.within:.0%}  Spearman {self.spearman:.3f}  "
            f"MAPE {self.mape:.1%}  bias {self.bias:+.1%}"
        )


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation of the ranks (ties get their average rank)."""
    ra = pd.Series(a, dtype=float).rank().to_numpy()
    rb = pd.Series(b, dtype=float).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-a: (concordant - discordant pairs) / all pairs; a tie in either sequence counts as neither."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.size < 2:
        raise ValueError("kendall needs two equally long sequences of at least two values")
    i, j = np.triu_indices(x.size, k=1)
    return float((np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])).sum() / i.size)


def fidelity(predicted: Sequence[float], measured: Sequence[float], tolerance: float = 0.10) -> Fidelity:
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    if p.shape != m.shape or p.size < 2:
        raise ValueError("fidelity needs two equally long sequences of at least two latencies")
    signed = p / m - 1
    rel = np.abs(signed)
    within = float((rel <= tolerance).mean())
    return Fidelity(int(p.size), within, tolerance, spearman(p, m), float(rel.mean()), float(signed.mean()))


BINS = ("smallest third", "middle third", "largest third")


def fidelity_by_bin(
    predicted: Sequence[float], measured: Sequence[float], tolerance: float = 0.10
) -> dict[str, Fidelity]:
    """``fidelity`` over all networks and over each third of them by measured latency: a table can be right on
    average and wrong at one end (the small networks, where the glue it does not hold weighs most)."""
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    order = np.argsort(m, kind="stable")
    out = {"all": fidelity(p, m, tolerance)}
    for name, part in zip(BINS, np.array_split(order, len(BINS)), strict=True):
        if part.size >= 2:
            out[name] = fidelity(p[part], m[part], tolerance)
    return out
