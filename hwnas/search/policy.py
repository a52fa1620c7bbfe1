"""REINFORCE over a view's input resolution: a non-differentiable choice whose cost the table still knows."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResolutionPolicy(nn.Module):
    """REINFORCE over a list of choices with a Gumbel-softmax sampling policy. A sample is held for K
    iterations; the K rewards are averaged and compared with a moving-average baseline."""

    def __init__(self, n_choices: int, hold: int = 10, baseline_momentum: float = 0.9):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(n_choices))
        self.hold, self.momentum = hold, baseline_momentum
        self.register_buffer("baseline", torch.tensor(float("nan")))
        self.current = 0
        self.rewards: list[float] = []

    def sample(self, tau: float = 1.0) -> int:
        with torch.no_grad():
            self.current = int(F.gumbel_softmax(self.theta, tau=tau, hard=True).argmax())
        self.rewards = []
        return self.current

    def observe(self, reward: float) -> torch.Tensor | None:
        """Record one reward; after ``hold`` of them, return the surrogate loss whose gradient is the
        REINFORCE estimate -(R - b) * d log p(sample) / d theta (None until then)."""
        self.rewards.append(float(reward))
        if len(self.rewards) < self.hold:
            return None
        mean = sum(self.rewards) / len(self.rewards)
        if torch.isnan(self.baseline):
            self.baseline.fill_(mean)
        advantage = mean - float(self.baseline)
        self.baseline.mul_(self.momentum).add_((1 - self.momentum) * mean)
        return -advantage * F.log_softmax(self.theta, dim=0)[self.current]

    def best(self) -> int:
        return int(self.theta.argmax())
