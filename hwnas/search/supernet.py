"""The searchable supernet: Gumbel-softmax op choice, FBNetV2 channel masking, REINFORCE input resolution,
and an expected latency from the LatencyTable that stays differentiable in the op and width parameters."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.architecture import Architecture, BranchChoice, LayerChoice
from hwnas.lut.table import LatencyTable
from hwnas.network import REGRESSED, resize_views
from hwnas.ops import OpSpec, conv_out
from hwnas.searchspaces.declarative import LayerCandidates, SpacePreset


def width_masks(widths: tuple[int, ...]) -> torch.Tensor:
    """(len(widths), max(widths)): row j keeps the first widths[j] channels."""
    masks = torch.zeros(len(widths), max(widths))
    for j, w in enumerate(widths):
        masks[j, :w] = 1
    return masks


class MixedLayer(nn.Module):
    """One searchable layer. Every candidate op is built at the maximum input and output width; the output
    is the Gumbel-weighted sum of the candidates, multiplied by the Gumbel-weighted mixture of width masks."""

    def __init__(self, layer: LayerCandidates):
        super().__init__()
        self.ops_names = [t.name for t in layer.ops]
        cin, cout = max(layer.in_widths), max(layer.out_widths)
        self.candidates = nn.ModuleList(
            [t.instantiate(cin, cout, layer.stride, max(layer.size, 1)).build_module().train() for t in layer.ops]
        )
        self.widths = layer.out_widths
        self.alpha_op = nn.Parameter(torch.zeros(len(layer.ops)))
        self.alpha_width = nn.Parameter(torch.zeros(len(layer.out_widths)))
        self.register_buffer("masks", width_masks(layer.out_widths))

    def chosen_op(self) -> str:
        return self.ops_names[int(self.alpha_op.argmax())]

    def chosen_width(self) -> int:
        return self.widths[int(self.alpha_width.argmax())]

    def forward(self, x: torch.Tensor, tau: float, hard: bool = False) -> torch.Tensor:
        """``hard``: run only the sampled op, scaled by its straight-through one-hot weight (GDAS-style):
        the forward pass is one op, the gradient still reaches every op logit through the softmax."""
        w_op = F.gumbel_softmax(self.alpha_op, tau=tau, hard=hard)
        w_width = F.gumbel_softmax(self.alpha_width, tau=tau)
        if hard:
            k = int(w_op.argmax())
            y = w_op[k] * self.candidates[k](x)
        else:
            y = sum(w * op(x) for w, op in zip(w_op, self.candidates, strict=True))
        return y * (w_width @ self.masks)[None, :, None, None]


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


class BranchSupernet(nn.Module):
    def __init__(self, preset: SpacePreset, view: str, branch: str, size: int):
        super().__init__()
        self.view, self.branch = view, branch
        stem = preset.stem_op(size)
        self.stem = stem.build_module().train()
        layers = preset.layer_candidates(size)
        self.layers = nn.ModuleList([MixedLayer(layer) for layer in layers])
        last = max(layers[-1].out_widths)
        self.head = nn.Linear(last, preset.outputs[branch])

    def forward(self, x: torch.Tensor, tau: float, hard: bool = False) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, tau, hard)
        return self.head(x.mean(dim=(2, 3)))


class LatencyModel(nn.Module):
    """Expected latency of the supernet's distribution from a LatencyTable.

    Per layer and view resolution a tensor T[op, in width, out width] of measured medians; the expected
    latency is sum p_op(o) p_in(i) p_out(j) T[o, i, j], with p_in the previous layer's width distribution —
    so the gradient reaches every op and width parameter. Pool and head depend on the last width; the stem
    and the latent regressor are constants of the resolution."""

    def __init__(self, preset: SpacePreset, table: LatencyTable):
        super().__init__()
        self.preset = preset
        overhead = float(table.metadata.get("per_inference_overhead_ms") or 0.0)
        self.tables: dict[tuple[str, str, int], list[torch.Tensor]] = {}
        self.heads: dict[tuple[str, str, int], torch.Tensor] = {}
        self.stems: dict[int, float] = {}
        n_ops_per_branch = len(preset.layers) + 3  # stem, layers, pool, head
        merge = preset.merge_ops()
        self.constant = float(table.latency_ms(merge).sum()) if merge else 0.0
        self.constant -= overhead * (n_ops_per_branch * len(preset.branches) + len(merge) - 1)
        table.require(s.key for s in preset.enumerate_ops())
        for view, branch in preset.branches:
            for size in preset.resolutions[view]:
                self.stems[size] = float(table.latency_ms([preset.stem_op(size)])[0])
                per_layer = []
                for layer in preset.layer_candidates(size):
                    t = torch.zeros(len(layer.ops), len(layer.in_widths), len(layer.out_widths))
                    for o, template in enumerate(layer.ops):
                        for i, cin in enumerate(layer.in_widths):
                            keys = [template.instantiate(cin, c, layer.stride, layer.size) for c in layer.out_widths]
                            t[o, i] = torch.tensor(table.latency_ms(keys))
                    per_layer.append(t)
                self.tables[(view, branch, size)] = per_layer
                last = preset.layer_candidates(size)[-1]
                final = conv_out(last.size, last.stride)
                self.heads[(view, branch, size)] = torch.tensor(
                    [
                        float(
                            table.latency_ms(
                                [OpSpec("gap", c, h=final, w=final), OpSpec("linear", c, preset.outputs[branch])]
                            ).sum()
                        )
                        for c in last.out_widths
                    ]
                )

    def branch_ms(self, branch: BranchSupernet, size: int) -> torch.Tensor:
        key = (branch.view, branch.branch, size)
        p_in = torch.ones(1)
        total = torch.tensor(self.stems[size])
        for layer, t in zip(branch.layers, self.tables[key], strict=True):
            p_op = F.softmax(layer.alpha_op, 0)
            p_out = F.softmax(layer.alpha_width, 0)
            total = total + torch.einsum("o,i,j,oij->", p_op, p_in, p_out, t.to(p_op.device))
            p_in = p_out
        return total + (p_in * self.heads[key].to(p_in.device)).sum()

    def forward(self, branches: list[BranchSupernet], resolutions: dict[str, int]) -> torch.Tensor:
        return sum(self.branch_ms(b, resolutions[b.view]) for b in branches) + self.constant


class Supernet(nn.Module):
    """One BranchSupernet per (view, branch), at each view's largest resolution's channel plan, plus the
    regressor when the space declares one; inputs are resized to the resolution the policy of their view
    currently samples. Outputs are keyed like an ArchitectureNetwork's, so a task's loss serves both."""

    def __init__(self, preset: SpacePreset, hold: int = 10):
        super().__init__()
        self.preset = preset
        self.views = list(preset.views)
        self.branches = nn.ModuleList(
            [BranchSupernet(preset, v, b, max(preset.resolutions[v])) for v, b in preset.branches]
        )
        self.policies = nn.ModuleDict({v: ResolutionPolicy(len(preset.resolutions[v]), hold) for v in self.views})
        reg = preset.regressor_op()
        self.regressor = nn.Linear(reg.cin, reg.cout) if reg is not None else None
        self.tau = 5.0
        self.hard = False  # one sampled op per layer and step (faster) instead of the weighted sum of all

    def resolutions(self) -> dict[str, int]:
        return {v: self.preset.resolutions[v][self.policies[v].current] for v in self.views}

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.endswith(("alpha_op", "alpha_width", "theta"))]

    def arch_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.endswith(("alpha_op", "alpha_width"))]

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        inputs = resize_views(views, self.views, self.resolutions())
        out = {f"{b.view}.{b.branch}": b(inputs[b.view], self.tau, self.hard) for b in self.branches}
        if self.regressor is not None:
            reg = self.preset.regressor
            out[REGRESSED] = self.regressor(
                torch.cat([out[f"{v}.{reg}"] for v in self.views if f"{v}.{reg}" in out], 1)
            )
        return out

    def derive(self) -> Architecture:
        """The most likely architecture: argmax op and width per layer, argmax resolution per view."""
        branches = []
        for b in self.branches:
            layers = tuple(
                LayerChoice(
                    layer.ops_names[int(layer.alpha_op.argmax())], layer.widths[int(layer.alpha_width.argmax())]
                )
                for layer in b.layers
            )
            branches.append(BranchChoice(b.view, b.branch, layers))
        resolutions = {v: self.preset.resolutions[v][self.policies[v].best()] for v in self.views}
        return Architecture(self.preset.space, self.preset.preset, resolutions, tuple(branches))
