"""REINFORCE over a view's input resolution: the task's verdict on a choice that is not differentiable.

The latency side of the choice needs no estimator: ``LatencyModel.expected`` weighs each resolution's latency
by its probability, so the latency gradient reaches the logits exactly. What REINFORCE adds is the task: after
an architecture step at a sampled resolution, the surrogate -(R - b) log p(sample), with R the negative task
loss and b its moving average, moves probability towards resolutions whose task loss beats the average.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResolutionPolicy(nn.Module):
    def __init__(self, n_choices: int, baseline_momentum: float = 0.9):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(n_choices))
        self.momentum = baseline_momentum
        self.register_buffer("baseline", torch.tensor(float("nan")))
        self.current = 0

    def sample(self, tau: float = 1.0) -> int:
        with torch.no_grad():
            self.current = int(F.gumbel_softmax(self.theta, tau=tau, hard=True).argmax())
        return self.current

    def sample_uniform(self) -> int:
        """Any choice with equal probability: the warm-up trains the weights at every resolution."""
        self.current = int(torch.randint(len(self.theta), ()))
        return self.current

    def surrogate(self, reward: float) -> torch.Tensor:
        """The loss whose gradient is the REINFORCE estimate -(R - b) d log p(current) / d theta."""
        if torch.isnan(self.baseline):
            self.baseline.fill_(reward)
        advantage = reward - float(self.baseline)
        self.baseline.mul_(self.momentum).add_((1 - self.momentum) * reward)
        return -advantage * F.log_softmax(self.theta, dim=0)[self.current]

    def best(self) -> int:
        return int(self.theta.argmax())
