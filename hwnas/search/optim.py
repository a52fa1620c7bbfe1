"""The optimiser of the latency loss: Adam with one second moment per parameter group.

Adam divides every coordinate by its own gradient scale, so each op, width and resolution logit steps alike
whatever it costs: on one measured space (docs/search-quality.md) the latency gradient of a last layer's
width is 1/40 of a first layer's and 1/300 of a resolution's, yet per-coordinate Adam pushes all of them to
their cheapest choice at one rate.
Dividing by the scale of the whole group keeps the gradient's proportions: the latency is taken where it is
spent, and the cheap choices are left to the task."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class SharedScaleAdam(torch.optim.Optimizer):
    """Adam whose second moment is the running mean of the squared gradient over every coordinate of the group
    (``betas`` and ``eps`` as Adam's): the step of a coordinate is ``lr`` times its gradient's momentum over the
    group's root-mean-square gradient."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-12):  # fmt: skip
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            beta1, beta2 = group["betas"]
            square = torch.cat([p.grad.flatten() for p in params]).pow(2).mean()
            # the group's scalars are kept in every parameter's state, so that state_dict carries them
            first = self.state[params[0]]
            t = first.get("step", 0) + 1
            v = beta2 * first.get("v", torch.zeros(())) + (1 - beta2) * square
            scale = (v / (1 - beta2**t)).sqrt() + group["eps"]
            for p in params:
                state = self.state[p]
                m = state.setdefault("m", torch.zeros_like(p))
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                p.sub_(group["lr"] * m / (1 - beta1**t) / scale)
                state["step"], state["v"] = t, v
        return None
