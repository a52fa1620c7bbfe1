"""The settings of one search and its temperature schedule (its target and the latency loss: ``target.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.search.target import LATENCY_LOSSES, LatencyTarget
from hwnas.train.rundir import BEFORE

LATENCY_STEPS = ("adam", "shared")
OP_SAMPLING = ("hard", "soft")
WIDTH_SAMPLING = ("hard", "soft")
WEIGHT_SAMPLING = ("policy", "uniform", "sandwich")
SANDWICH_PATHS = 4  # the largest child, the smallest, and two uniform draws
ARCH_LOSSES = ("selection", "training")
RESOLUTION_CHOICES = ("policy", "held-out", "trained")
METHODS = ("differentiable", "random")


# Keys SearchConfig itself carried before tasks recorded their own settings, at the value every folder of
# those versions held for a task without them: such a folder binds as if it held nothing there.
RETIRED = {"ee_loss": True, "render_size": 32}


@dataclass(frozen=True)
class SearchConfig:
    """The settings of the search alone; the task's own (``Task.settings``) are bound beside them."""

    target: LatencyTarget  # resolved: in milliseconds
    steps: int = 300
    warmup: int = 60  # weight-only steps before architecture steps begin
    batch: int = 32
    latency_loss: str = "squared-log"
    latency_weight: float = 1.0
    # the latency loss's optimiser: "adam", every logit normalised by its own gradient scale (all step alike);
    # "shared", one scale for all (search/optim.py), so the logits step in proportion to what they cost
    latency_step: str = "adam"
    tau_start: float = 5.0
    tau_end: float = 0.5
    lr_weights: float = 2e-3
    lr_arch: float = 5e-2
    seed: int = 0
    op_sampling: str = "hard"  # "soft": Gumbel-weighted sum of all candidate ops; "hard": one sampled op (GDAS)
    # "hard": one sampled width per layer, so that every step trains (and scores) an exact child;
    # "soft": FBNetV2's Gumbel-weighted mixture of width masks, which no child computes
    width_sampling: str = "hard"
    # the paths of the weight steps after the warm-up: "policy", drawn from the architecture distribution
    # (FBNet, GDAS); "uniform", every choice alike (SPOS), so the shared weights rank every child alike;
    # "sandwich", the largest and the smallest child and two uniform paths on each batch, their gradients added
    # (BigNAS's sandwich rule): the best-ranking variant in weight training alone, no better than the others
    # inside the search (docs/search-quality.md); 4x the weight passes
    weight_sampling: str = "policy"
    # what chooses the architecture (the architecture step descends it, random search keeps the candidate
    # lowest on it): "selection", the task's selection loss — the error it is evaluated on; "training", the
    # loss the weights train on (which may weigh terms the evaluation does not), which searches
    # used before the setting existed
    arch_loss: str = field(default="selection", metadata={BEFORE: "training"})
    # how the end of the search picks each view's resolution: "policy", its most likely one (then fitted onto the
    # target); "held-out", one architecture per resolution (derive.proposals_per_resolution), each scored as a
    # sub-network of the supernet on the held-out split by ``arch_loss``, the lowest kept; "trained", the same
    # proposals each trained from scratch for an equal share of the second half of the steps (the supernet gets
    # the first half) and compared as random search compares its candidates
    resolution_choice: str = "policy"
    checkpoint_every: int = 25

    def __post_init__(self) -> None:
        self.target.milliseconds  # noqa: B018 (a speed-up is resolved on the device before a search starts)
        if self.latency_loss not in LATENCY_LOSSES:
            raise HwnasError(f"unknown latency loss {self.latency_loss!r}; choose from {', '.join(LATENCY_LOSSES)}")
        if self.op_sampling not in OP_SAMPLING:
            raise HwnasError(f"unknown op sampling {self.op_sampling!r}; choose from {', '.join(OP_SAMPLING)}")
        for name, choices in (
            ("width_sampling", WIDTH_SAMPLING),
            ("weight_sampling", WEIGHT_SAMPLING),
            ("latency_step", LATENCY_STEPS),
            ("arch_loss", ARCH_LOSSES),
            ("resolution_choice", RESOLUTION_CHOICES),
        ):
            if getattr(self, name) not in choices:
                raise HwnasError(f"unknown {name} {getattr(self, name)!r}; choose from {', '.join(choices)}")

    def record(self) -> dict[str, Any]:
        """The settings as search folders bind and report them: flat, the target as ``target_ms`` (with
        ``speedup`` and ``reference`` where it was a speed-up)."""
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "target"}
        return {**self.target.record(), **settings}

    @property
    def supernet_steps(self) -> int:
        """The steps the supernet trains: all of them, or the first half where trained proposals take the rest."""
        return supernet_steps(self.steps, self.resolution_choice)

    @property
    def weight_passes(self) -> int:
        """Forward/backward passes of the weights over the search: the budget random search gets."""
        paths = SANDWICH_PATHS if self.weight_sampling == "sandwich" else 1
        return self.supernet_steps * paths + (self.steps - self.supernet_steps)


def supernet_steps(steps: int, resolution_choice: str) -> int:
    return steps // 2 if resolution_choice == "trained" else steps


def temperature(step: int, config: SearchConfig) -> float:
    """Exponential annealing from tau_start to tau_end over the supernet's steps."""
    frac = min(step / max(config.supernet_steps - 1, 1), 1.0)
    return config.tau_start * (config.tau_end / config.tau_start) ** frac
