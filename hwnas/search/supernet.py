"""The searchable supernet: Gumbel-softmax op choice per layer, FBNetV2 channel masking, and a REINFORCE
resolution policy per view; ``derive()`` reads the most likely architecture off it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.search.policy import ResolutionPolicy
from hwnas.space.architecture import Architecture, BranchChoice, LayerChoice
from hwnas.space.declared import LayerCandidates, SpacePreset
from hwnas.space.network import REGRESSED, resize_views


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

    def forward(self, x: torch.Tensor, tau: float, mode: str = "soft") -> torch.Tensor:
        """``soft``: the Gumbel-weighted sum of every candidate (the paper's form). ``hard``: only the sampled op
        runs, scaled by its straight-through one-hot weight (GDAS; the weight steps' default on a CPU); its
        gradient says how good the sampled op is, nothing about the others. ``gates``: ProxylessNAS's two-path
        binary gates for architecture steps — two ops are drawn, one runs with gradients and the other without,
        and each gate's gradient is <its output, dL/dy>: the two logits move by how the two ops compare."""
        w_width = F.gumbel_softmax(self.alpha_width, tau=tau)
        if mode == "gates" and len(self.candidates) > 1:
            y = self._gated_pair(x)
        elif mode in ("hard", "gates"):
            w_op = F.gumbel_softmax(self.alpha_op, tau=tau, hard=True)
            k = int(w_op.argmax())
            y = w_op[k] * self.candidates[k](x)
        else:
            w_op = F.gumbel_softmax(self.alpha_op, tau=tau)
            y = sum(w * op(x) for w, op in zip(w_op, self.candidates, strict=True))
        return y * (w_width @ self.masks)[None, :, None, None]

    def _gated_pair(self, x: torch.Tensor) -> torch.Tensor:
        pair = torch.multinomial(F.softmax(self.alpha_op.detach(), 0), 2, replacement=False)
        p = F.softmax(self.alpha_op[pair], 0)
        active = int(torch.multinomial(p.detach(), 1))
        gates = F.one_hot(torch.tensor(active), 2).to(p) + p - p.detach()  # forward 1 / 0, gradient through p
        outputs = []
        for slot, k in enumerate(pair.tolist()):
            if slot == active:
                outputs.append(self.candidates[k](x))
            else:
                with torch.no_grad():
                    outputs.append(self.candidates[k](x))
        return gates[0] * outputs[0] + gates[1] * outputs[1]


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

    def forward(self, x: torch.Tensor, tau: float, mode: str = "soft") -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, tau, mode)
        return self.head(x.mean(dim=(2, 3)))


class Supernet(nn.Module):
    """One BranchSupernet per (view, branch), at each view's largest resolution's channel plan, plus the
    regressor when the space declares one; inputs are resized to the resolution the policy of their view
    currently samples. Outputs are keyed like an ArchitectureNetwork's, so a task's loss serves both."""

    def __init__(self, preset: SpacePreset):
        super().__init__()
        self.preset = preset
        self.views = list(preset.views)
        self.branches = nn.ModuleList(
            [BranchSupernet(preset, v, b, max(preset.resolutions[v])) for v, b in preset.branches]
        )
        self.policies = nn.ModuleDict({v: ResolutionPolicy(len(preset.resolutions[v])) for v in self.views})
        reg = preset.regressor_op()
        self.regressor = nn.Linear(reg.cin, reg.cout) if reg is not None else None
        self.tau = 5.0
        self.mode = "soft"  # how each layer combines its candidate ops (MixedLayer.forward)

    def resolutions(self) -> dict[str, int]:
        return {v: self.preset.resolutions[v][self.policies[v].current] for v in self.views}

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.endswith(("alpha_op", "alpha_width", "theta"))]

    def arch_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.endswith(("alpha_op", "alpha_width"))]

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        inputs = resize_views(views, self.views, self.resolutions())
        out = {f"{b.view}.{b.branch}": b(inputs[b.view], self.tau, self.mode) for b in self.branches}
        if self.regressor is not None:
            reg = self.preset.regressor
            out[REGRESSED] = self.regressor(
                torch.cat([out[f"{v}.{reg}"] for v in self.views if f"{v}.{reg}" in out], 1)
            )
        return out

    @torch.no_grad()
    def select(self, arch: Architecture, certainty: float = 1e4) -> None:
        """Make ``arch`` the only choice left: one-hot logits for every op, width and resolution, so that the
        supernet (in ``soft`` mode) computes that sub-network — how a supernet ranks architectures."""
        for branch, choice in zip(self.branches, arch.branches, strict=True):
            for layer, c in zip(branch.layers, choice.layers, strict=True):
                layer.alpha_op.fill_(-certainty)[layer.ops_names.index(c.op)] = certainty
                layer.alpha_width.fill_(-certainty)[layer.widths.index(c.width)] = certainty
        for view, policy in self.policies.items():
            policy.current = self.preset.resolutions[view].index(arch.resolutions[view])
            policy.theta.fill_(-certainty)[policy.current] = certainty

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
