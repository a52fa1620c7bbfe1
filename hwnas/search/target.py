"""What a search aims at, as one value from the command line to the latency loss.

A target is given in milliseconds on the device, or as a speed-up over the space's reference network, which
only the device can turn into milliseconds: ``resolve`` does that once, keeping what it measured, and from
then on the same object carries the milliseconds, how they came about, and the loss's pull towards them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hwnas.core.errors import HwnasError

if TYPE_CHECKING:  # the CLI builds targets without importing torch
    import torch

LATENCY_LOSSES = ("squared-log", "log", "hinge")
TOLERANCE = 0.03  # both methods deliver an architecture the table predicts this close to the target


@dataclass(frozen=True)
class LatencyTarget:
    ms: float | None = None  # on the device; None until a speed-up is resolved
    speedup: float | None = None  # or: the space's reference network, measured on the device, divided by this
    reference: dict[str, Any] | None = None  # what a speed-up was resolved against: name, measured_ms, iqr_ms

    def __post_init__(self) -> None:
        resolved_speedup = None not in (self.ms, self.speedup, self.reference)
        if (self.ms is None) == (self.speedup is None) and not resolved_speedup:
            raise HwnasError(
                "give exactly one of --target-ms (milliseconds) or --speedup (times faster than the reference)"
            )
        for name in ("ms", "speedup"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise HwnasError(f"the target's {name} must be a positive number, not {value!r}")

    @property
    def resolved(self) -> bool:
        return self.ms is not None

    @property
    def milliseconds(self) -> float:
        if self.ms is None:
            raise HwnasError(f"the target {self.tag} is not resolved yet: measure the reference network first")
        return self.ms

    def resolve(self, reference: dict[str, Any]) -> LatencyTarget:
        """The speed-up turned into milliseconds by the reference network measured on the device."""
        if self.speedup is None:
            return self
        return replace(self, ms=reference["measured_ms"] / self.speedup, reference=reference)

    @property
    def tag(self) -> str:
        """How run folders are named: ``2x``, ``2.5ms``."""
        return f"{self.speedup:g}x" if self.speedup else f"{self.ms:g}ms"

    def record(self) -> dict[str, Any]:
        """The flat keys search folders have always bound and reported: ``target_ms``, ``speedup`` (where the
        target is one) and ``reference``."""
        speedup = {"speedup": self.speedup} if self.speedup else {}
        return {"target_ms": self.ms, **speedup, "reference": self.reference}

    def loss(self, latency: torch.Tensor, form: str) -> torch.Tensor:
        return latency_loss(latency, self.milliseconds, form)


def latency_loss(latency: torch.Tensor, target_ms: float, form: str) -> torch.Tensor:
    """``squared-log``: log(lat / target)^2, a multiplicative error whose pull fades at the target, so that
    there the task decides; ``log``: |log(lat / target)|, whose pull keeps its full size at the target and only
    flips sign; ``hinge``: max(0, lat / target - 1), only penalises going over."""
    import torch

    ratio = latency / target_ms
    if form == "squared-log":
        return torch.log(ratio).pow(2)
    if form == "log":
        return torch.log(ratio).abs()
    if form == "hinge":
        return torch.relu(ratio - 1)
    raise HwnasError(f"unknown latency loss {form!r}; choose from {', '.join(LATENCY_LOSSES)}")
