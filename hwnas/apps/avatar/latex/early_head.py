"""LATEX's early prediction head (Auto-CARD, Sec. 4.3.2): a cheap guess of the latent code from an early layer.

The head reads the outputs of the encoder's first layer on each view (``net.early_taps``), average-pools each to
a ``GRID`` x ``GRID`` map and maps their concatenation linearly to the latent code. It is fitted after the
encoder, with the encoder frozen, to the encoder's own code (ridge regression, closed form): the head can then
be added to any trained encoder — EEM, a baseline, a searched one — without touching the encoder, so
always-encode quality stays exactly the encoder's, and no labels are needed. Its job is not to be accurate but
to move when the encoder's answer would move.

A network the head can read declares ``early_taps(inputs) -> [(module, its input)]`` over its deployed inputs
and ``inputs_of(views)`` (a batch of views -> deployed inputs), beside the deployment protocol of
``deploy/export.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

GRID = 4  # each tapped map is pooled to GRID x GRID
EARLY_OUTPUT = "z_early"  # the head's output name in exported models
RIDGE = 1e-3  # ridge strength, relative to the mean feature variance


def _pooled(maps: list[torch.Tensor], grid: int = GRID) -> torch.Tensor:
    """Each (N, C, H, W) map pooled to at most grid x grid with a fixed kernel (static in any export)."""
    return torch.cat([F.avg_pool2d(m, max(int(m.shape[-1]) // grid, 1)).flatten(1) for m in maps], 1)


class EarlyHead(nn.Module):
    def __init__(self, features: int, outputs: int, grid: int = GRID):
        super().__init__()
        self.grid = grid
        self.linear = nn.Linear(features, outputs)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        return self.linear(_pooled(maps, self.grid))

    @torch.no_grad()
    def flops(self, maps: list[torch.Tensor]) -> int:
        """Pooling adds (one per input value) plus the linear map's multiply-adds counted as two."""
        return sum(m[:1].numel() for m in maps) + 2 * self.linear.in_features * self.linear.out_features


def tapped_maps(net: nn.Module, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    return [module(x) for module, x in net.early_taps(inputs)]


@torch.no_grad()
def fit_early_head(
    net: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]], output: str = "z"
) -> EarlyHead:
    """Fit the head (ridge, closed form) on batches of (views, target codes); a target of None stands for the
    frozen encoder's own ``output`` on those views — what LATEX fits to."""
    net.eval()
    xs, ys = [], []
    for views, target in batches:
        inputs = net.inputs_of(views)
        xs.append(_pooled(tapped_maps(net, inputs)).double())
        ys.append((net.encode(inputs)[output] if target is None else target).double())
    return ridge_head(torch.cat(xs), torch.cat(ys))


def ridge(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (x dims, y dims), bias) of the ridge regression of ``y`` on ``x``."""
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc = x - x_mean
    gram = xc.T @ xc
    strength = RIDGE * gram.diagonal().mean().clamp(min=1e-12)
    weight = torch.linalg.solve(gram + strength * torch.eye(len(gram), dtype=gram.dtype), xc.T @ (y - y_mean))
    return weight, y_mean - x_mean @ weight


@torch.no_grad()
def ridge_head(x: torch.Tensor, y: torch.Tensor, grid: int = GRID) -> EarlyHead:
    """The head whose linear map is the ridge regression of ``y`` on the pooled features ``x``."""
    weight, bias = ridge(x, y)
    head = EarlyHead(x.shape[1], y.shape[1], grid)
    head.linear.weight.copy_(weight.T.float())
    head.linear.bias.copy_(bias.float())
    return head.eval()


class KeyFrameNetwork(nn.Module):
    """What a key frame runs: the encoder, plus the head on the encoder's own first-layer outputs (computed once,
    captured by hooks), as one deployable network with the extra output ``z_early``."""

    def __init__(self, net: nn.Module, head: EarlyHead):
        super().__init__()
        self.net, self.head = net, head
        self.output_names = [*net.output_names, EARLY_OUTPUT]

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        return self.net.deploy_inputs()

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        modules = [module for module, _ in self.net.early_taps(inputs)]
        captured: dict[int, torch.Tensor] = {}
        hooks = [m.register_forward_hook(lambda m, _i, out: captured.setdefault(id(m), out)) for m in modules]
        try:
            out = dict(self.net.encode(inputs))
        finally:
            for hook in hooks:
                hook.remove()
        out[EARLY_OUTPUT] = self.head([captured[id(m)] for m in modules])
        return out


class EarlyHeadNetwork(nn.Module):
    """What a skipped frame runs: the encoder's first layer on each view and the head, nothing else."""

    output_names = (EARLY_OUTPUT,)

    def __init__(self, net: nn.Module, head: EarlyHead):
        super().__init__()
        self.net, self.head = net, head

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        return self.net.deploy_inputs()

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {EARLY_OUTPUT: self.head(tapped_maps(self.net, inputs))}


@torch.no_grad()
def deployed_flops(net: nn.Module) -> int:
    """FLOPs of one frame through a deployable network (convolutions and linear maps, a multiply-add as two)."""
    inputs = {name: torch.zeros(shape) for name, shape in net.deploy_inputs().items()}
    counter = FlopCounterMode(display=False)
    with counter:
        net.eval().encode(inputs)
    return counter.get_total_flops()


@torch.no_grad()
def frame_flops(net: nn.Module, head: EarlyHead) -> dict[str, int]:
    """FLOPs of one frame: the encoder alone, what the head adds (pooling + its linear map), a key frame
    (both) and a skipped frame (the encoder's first layer on each view + the head)."""
    inputs = {name: torch.zeros(shape) for name, shape in net.deploy_inputs().items()}
    counter = FlopCounterMode(display=False)
    with counter:
        maps = tapped_maps(net.eval(), inputs)
    extra, encoder = head.flops(maps), deployed_flops(net)
    skipped = counter.get_total_flops() + extra
    return {"encoder": encoder, "head": extra, "key_frame": encoder + extra, "skipped_frame": skipped}
