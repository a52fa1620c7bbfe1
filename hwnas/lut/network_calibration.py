"""Whole networks measured beside a space's ops, and the calibration a table fits on them.

A sum of isolated op times misses what only a whole network has (its glue, the boundary between ops, caches
that an isolated op keeps warm) and what changed between the ops' and the network's measurement. The profile
therefore measures a few whole networks spread over the space's cost range, in the same run and with the same
protocol as the ops; the table fits ``measured = scale * (sum of op costs) + offset`` on half of them and keeps
its error on the other half — never on the networks it was fitted on — in its metadata.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np

from hwnas.core.errors import HwnasError
from hwnas.lut.fidelity import Fidelity, fidelity
from hwnas.measure.artifacts import NetworkSpec
from hwnas.measure.store import StoredNetwork
from hwnas.space import Preset
from hwnas.space.architecture import Architecture, BranchChoice
from hwnas.space.declared import SpacePreset
from hwnas.space.extremes import extreme_architecture
from hwnas.space.network import ArchitectureNetwork

FIT, VALIDATE = "fit", "validate"
SEED = 2023  # the same networks on every device and every run, so tables of one space compare
POOL_PER_NETWORK = 16  # uniform draws per network kept, before the spread over cost is taken


def calibration_networks(preset: Preset, n: int) -> list[NetworkSpec]:
    """``n`` architectures of the preset spread over its cost range: the space's least in FLOPs (a search for a
    speed-up lands near it, below any random draw), a third of them between it and the draws — each layer and
    resolution taken from a uniform draw with a growing share, else from the least: where searches land, narrow
    and plain, unlike any draw — and evenly spaced FLOPs ranks of uniform draws up to the dearest draw;
    alternately fitted on and validated on, both ends fitted. (The space's greatest in FLOPs is left out: its
    large ops run in a network as fast as alone, unlike every other network's, and a single scale fitted on it
    misses the rest.) A preset that is not a declared space (no architectures) gets none."""
    if n < 1 or not isinstance(preset, SpacePreset):
        return []
    rng = random.Random(SEED)
    blends = (n - 1) // 3
    draws_n = n - 1 - blends
    pool = sorted(
        (Architecture.sample(preset, rng) for _ in range(POOL_PER_NETWORK * n)), key=lambda a: a.flops(preset)
    )
    draws = [pool[round(i * (len(pool) - 1) / max(draws_n, 1))] for i in range(1, draws_n + 1)]
    least = extreme_architecture(preset)
    between = [_blend(least, Architecture.sample(preset, rng), (i + 1) / (blends + 1), rng) for i in range(blends)]
    picks: dict[str, Architecture] = {}
    for arch in sorted([least, *between, *draws], key=lambda a: a.flops(preset)):
        picks.setdefault(arch.to_json(), arch)  # a small space can draw one architecture twice
    specs = []
    for i, (text, arch) in enumerate(picks.items()):
        role = FIT if min(i, len(picks) - 1 - i) % 2 == 0 else VALIDATE
        key = hashlib.sha256(text.encode()).hexdigest()[:12]
        specs.append(NetworkSpec(key, role, text, partial(ArchitectureNetwork, arch, preset)))
    return specs


def _blend(least: Architecture, draw: Architecture, share: float, rng: random.Random) -> Architecture:
    """Each layer choice and view resolution from ``draw`` with probability ``share``, else from ``least`` (the
    space's choices are independent per layer, so any mix is one of its architectures)."""
    branches = []
    for low, drawn in zip(least.branches, draw.branches, strict=True):
        layers = [d if rng.random() < share else x for x, d in zip(low.layers, drawn.layers, strict=True)]
        branches.append(BranchChoice(low.view, low.branch, tuple(layers)))
    resolutions = {v: (draw.resolutions[v] if rng.random() < share else r) for v, r in least.resolutions.items()}
    return dataclasses.replace(least, resolutions=resolutions, branches=tuple(branches))


@dataclass(frozen=True)
class NetworkCalibration:
    """``predicted = scale * sum(op costs) + offset_ms``, fitted on ``fitted_on`` networks; ``validation`` is its
    fidelity on the held-out networks, ``validation_before`` that of the table without it (overhead paid once).
    A calibration no better than that on the held-out networks (MAPE) is kept, not ``applied``: a fit on a few
    noisy networks can be worse than none (onnxruntime on a busy host)."""

    scale: float
    offset_ms: float
    fitted_on: int
    validation: Fidelity | None
    validation_before: Fidelity | None
    networks: tuple[dict[str, Any], ...] = ()  # key, role, measured_ms, op_costs_ms of each network
    applied: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "offset_ms": self.offset_ms,
            "fitted_on": self.fitted_on,
            "validation": _fidelity_dict(self.validation),
            "validation_before": _fidelity_dict(self.validation_before),
            "networks": list(self.networks),
            "applied": self.applied,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkCalibration:
        def fid(d: dict[str, Any] | None) -> Fidelity | None:
            return None if d is None else Fidelity(**{k: (math.nan if v is None else v) for k, v in d.items()})

        return cls(
            float(data["scale"]),
            float(data["offset_ms"]),
            int(data["fitted_on"]),
            fid(data.get("validation")),
            fid(data.get("validation_before")),
            tuple(data.get("networks", ())),
            bool(data.get("applied", True)),
        )

    def describe(self) -> list[str]:
        lines = [
            f"network calibration: predicted = {self.scale:.3f} x op costs + {self.offset_ms:.4f} ms, fitted on "
            f"{self.fitted_on} whole networks measured with the ops"
        ]
        if self.validation is None:
            lines.append("  not validated (fewer than 2 other networks measured)")
        else:
            lines.append(f"  on {self.validation.n} others: {self.validation.describe()}")
        if self.validation_before is not None:
            lines.append(f"  uncalibrated (overhead once) on them: {self.validation_before.describe()}")
        if not self.applied:
            lines.append("  not applied: no better on them than the overhead paid once; the table predicts without it")
        return lines


def fit_scale_offset(op_costs_ms: Sequence[float], measured_ms: Sequence[float]) -> tuple[float, float]:
    """Least squares in relative error: minimise sum((scale * c + offset) / m - 1)^2. The offset may be negative —
    each isolated op pays a little that a network does not (its own call, its input written), and a space's
    networks hold about the same number of ops — but never so far that the cheapest fitted network would be
    predicted below half its op costs (the cheap end of a space stays positive). Raises HwnasError when the
    networks cannot fix a positive scale."""
    c, m = np.asarray(op_costs_ms, dtype=float), np.asarray(measured_ms, dtype=float)
    if c.size < 2 or np.ptp(c) <= 0:
        raise HwnasError("a calibration needs at least 2 networks of different cost")
    a = np.stack([c / m, 1 / m], axis=1)
    (scale, offset), *_ = np.linalg.lstsq(a, np.ones_like(m), rcond=None)
    if scale <= 0:
        raise HwnasError(f"the networks' times do not grow with their op costs (fitted scale {scale:.3f})")
    low = c.min() / 2
    if scale * c.min() + offset < low:  # on the bound: predictions low + scale * (c - c_min), the scale refitted
        d = (c - c.min()) / m
        scale = float((d * (1 - low / m)).sum() / (d**2).sum())
        offset = low - scale * c.min()
        if scale <= 0:
            raise HwnasError("the networks' times do not grow with their op costs once the cheap end is held up")
    return float(scale), float(offset)


def calibrate(
    networks: Sequence[StoredNetwork], preset: Preset, op_costs: Callable[[list], float], overhead_ms: float
) -> NetworkCalibration | None:
    """The calibration of a table from the networks stored with its ops (those of this preset); None when fewer
    than 2 fit networks were measured. ``op_costs`` sums the table's uncalibrated op costs of a list of specs."""
    rows = []
    for net in networks:
        try:
            arch = Architecture.from_json(net.description, f"network {net.key}")
            if (arch.space, arch.preset) != (preset.space, preset.preset):
                continue  # another preset profiled into the same store
            specs = arch.op_specs(preset)  # type: ignore[arg-type]
        except HwnasError:
            continue  # a network of a space that changed since: not this table's
        rows.append({"key": net.key, "role": net.role, "measured_ms": net.measurement.median_ms,
                     "op_costs_ms": op_costs(specs)})  # fmt: skip
    fit = [r for r in rows if r["role"] == FIT]
    held = [r for r in rows if r["role"] == VALIDATE]
    try:
        scale, offset = fit_scale_offset([r["op_costs_ms"] for r in fit], [r["measured_ms"] for r in fit])
    except HwnasError:
        return None
    validation = before = None
    if len(held) >= 2:
        measured = [r["measured_ms"] for r in held]
        validation = fidelity([scale * r["op_costs_ms"] + offset for r in held], measured)
        before = fidelity([r["op_costs_ms"] + overhead_ms for r in held], measured)
    applied = validation is None or before is None or validation.mape < before.mape
    return NetworkCalibration(scale, offset, len(fit), validation, before, tuple(rows), applied)


def _fidelity_dict(f: Fidelity | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(f).items()}
