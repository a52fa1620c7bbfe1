"""What a search optimises besides latency: a task supplies batches and a loss over network outputs.

Both the supernet and a derived ArchitectureNetwork return outputs keyed ``<view>.<branch>`` (plus
``regressed``), so one task serves the search, random search and training of derived networks. A task is
an nn.Module so that loss state (e.g. a moving average) is checkpointed with the search.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class SearchTask(nn.Module, ABC):
    @abstractmethod
    def train_pool(self) -> torch.Tensor:
        """Indices of the examples the search may use (it splits them into weight and architecture sets)."""

    @abstractmethod
    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The examples at ``idx``; ``views`` is (batch, n views, H, W) in the space's view order."""

    @abstractmethod
    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        """Scalar task loss of one batch; ``step`` lets a task rotate what it looks at."""

    def score(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> float:
        """Held-out score, lower is better (random search keeps the lowest); the loss by default."""
        return float(self.loss(outputs, batch, 0))
