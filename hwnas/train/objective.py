"""The Task interface: what training and search optimise besides latency.

A task supplies batches, a loss over network outputs and a held-out score; it builds the network of an
Architecture of its space and evaluates a trained one. The supernet, a derived ArchitectureNetwork and a
task's own baselines all return outputs the task's loss understands, so one task serves the search, random
search and training from scratch. A task is an nn.Module so that loss state (a moving average, say) is
checkpointed with the weights. Tasks are registered under the entry-point group ``hwnas.tasks``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.space.network import ArchitectureNetwork
from hwnas.train.options import parse_options


@dataclass(frozen=True)
class TaskRequest:
    """What a user asked for: the preset (tiny, small, paper), seed, own data, the task's options (``--task-option
    KEY=VALUE``, checked against the task's ``Options``), and whether the task serves a search (which may use a
    cheaper loss) or training from scratch."""

    preset: str
    seed: int = 0
    data: Path | None = None
    for_search: bool = False
    space: SpacePreset | None = None  # the space whose architectures the task trains (set by build_task)
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class NoOptions:
    """The options of a task that has none."""


class Task(nn.Module, ABC):
    name: ClassVar[str]
    baselines: ClassVar[tuple[str, ...]] = ()  # hand-designed encoders ``hwnas train --arch <name>`` knows
    batch_size: int = 32
    learning_rate: float = 2e-3  # peak AdamW rate of the weights: training from scratch and a search's weight steps
    search_steps: int = 300  # default steps of a search
    train_steps: int = 1000  # default steps of training from scratch
    # The task's own settings: a frozen dataclass, one field per option with its type and default, constraints
    # as ``Annotated[float, Field(ge=0, lt=1)]``; users set them with ``--task-option KEY=VALUE``, and they are
    # recorded in (and bind) every run folder.
    Options: ClassVar[type] = NoOptions

    @classmethod
    def read_options(cls, request: TaskRequest) -> Any:
        """The request's options as an ``Options`` instance, checked (one-line HwnasError for a bad one)."""
        return parse_options(cls.name, cls.Options, request.options)

    @classmethod
    @abstractmethod
    def create(cls, request: TaskRequest) -> Task:
        """Build the task (data, loss) for a request; raise HwnasError for what it cannot serve."""

    @abstractmethod
    def train_pool(self) -> torch.Tensor:
        """Indices of the examples training and search may use."""

    def test_pool(self) -> torch.Tensor:
        """Indices of held-out examples that neither training nor search touches."""
        raise NotImplementedError(f"task {self.name!r} has no held-out pool")

    @abstractmethod
    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The examples at ``idx``; ``views`` is (batch, n views, H, W) in the space's view order."""

    @abstractmethod
    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        """Scalar loss of one batch; ``step`` lets a task rotate what it looks at."""

    @abstractmethod
    def evaluate(self, net: nn.Module) -> dict[str, Any]:
        """Held-out metrics of a trained network (JSON-serialisable), written to ``metrics.json``."""

    @abstractmethod
    def summary(self, metrics: dict[str, Any]) -> list[str]:
        """Lines that ``hwnas evaluate`` prints for the metrics."""

    def score(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> float:
        """Held-out training loss, lower is better; the loss by default."""
        return float(self.loss(outputs, batch, 0))

    def selection_loss(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], step: int
    ) -> torch.Tensor:
        """The loss an architecture is chosen by (a search's architecture step descends it): by default the
        training loss; a task whose training loss adds auxiliary terms returns what it is evaluated on."""
        return self.loss(outputs, batch, step)

    def selection_score(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> float:
        """The selection loss on held-out examples, lower is better (random search keeps the lowest)."""
        return self.score(outputs, batch)

    def settings(self) -> dict[str, Any]:
        """What a run folder records of the task (a run with other values is refused): its options, plus what a
        task derives from them and wants bound too."""
        options = getattr(self, "options", None)
        return dataclasses.asdict(options) if options is not None else {}

    def settings_before(self) -> dict[str, Any]:
        """What a run folder written before one of ``settings()`` existed ran: an option at its declared default,
        a setting the task derives at its value now."""
        return {**self.settings(), **{f.name: f.default for f in dataclasses.fields(self.Options)}}

    def network(self, arch: Architecture, preset: SpacePreset) -> nn.Module:
        """The trainable network of an architecture of this task's space."""
        return self.deployed_network(arch, preset)

    @classmethod
    def deployed_network(cls, arch: Architecture, preset: SpacePreset) -> nn.Module:
        """The network as a device runs it, outputs named as the task reads them; no data needed."""
        return ArchitectureNetwork(arch, preset)

    def baseline(self, name: str) -> nn.Module:
        """A hand-designed encoder by name (one of ``baselines``), shaped for this task's data."""
        raise NotImplementedError(f"task {self.name!r} has no baselines")

    @classmethod
    def reference_network(cls, name: str, preset: str) -> nn.Module:
        """A baseline as the preset's built-in data shapes it, without loading data (to measure its latency)."""
        raise NotImplementedError(f"task {cls.name!r} has no baselines")
