"""The avatar task as seen by the searcher: Eq. 4 loss (Eq. 3-weighted or not) on the synthetic HMC data."""

from __future__ import annotations

import torch

from hwnas.avatar.data import AvatarData
from hwnas.avatar.decoder import VIEW_DIRECTIONS
from hwnas.avatar.losses import AvatarLoss, ExtremeExpressionWeight
from hwnas.avatar.network import avatar_outputs
from hwnas.search.task import SearchTask

DIRECTIONS = tuple(VIEW_DIRECTIONS)


class AvatarSearchTask(SearchTask):
    def __init__(self, data: AvatarData, render_size: int, ee_loss: bool = True):
        super().__init__()
        self.data = data
        self.loss_fn = AvatarLoss(
            data.z.shape[1], render_size, extreme_weight=ExtremeExpressionWeight() if ee_loss else None
        )

    def train_pool(self) -> torch.Tensor:
        return self.data.indices("train")

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.data.batch(idx)

    def loss(self, outputs, batch, step):
        """The render term looks at one viewing direction per step, in rotation."""
        view = (DIRECTIONS[step % len(DIRECTIONS)],)
        return self.loss_fn(avatar_outputs(outputs), batch, views=view)[0]

    def score(self, outputs, batch) -> float:
        return float(self.loss_fn(avatar_outputs(outputs), batch)[0])
