"""The searchable supernet: Gumbel-softmax op choice per layer, FBNetV2 channel masking, and a REINFORCE
resolution policy per view; ``derive()`` reads the most likely architecture off it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.ops.sharing import SharesWidths, width_masks
from hwnas.search.policy import ResolutionPolicy
from hwnas.space.architecture import Architecture, BranchChoice, LayerChoice
from hwnas.space.declared import LayerCandidates, SpacePreset
from hwnas.space.network import REGRESSED, ArchitectureNetwork, resize_views


@dataclass(frozen=True)
class Sampling:
    """How a supernet's forward pass draws its choices.

    ``ops``: ``soft``, the Gumbel-weighted sum of every candidate op (the paper's form); ``hard``, only the sampled
    op runs, scaled by its straight-through one-hot weight (GDAS) — its gradient says how good the sampled op is,
    nothing about the others; ``gates``, ProxylessNAS's two-path binary gates for architecture steps — two ops are
    drawn, one runs with gradients and the other without, and each gate's gradient is <its output, dL/dy>: the two
    logits move by how the two ops compare.
    ``hard_width``: one sampled width per layer (straight-through), so that the pass computes exactly one child;
    otherwise FBNetV2's Gumbel-weighted mixture of the width masks, which no child computes.
    ``uniform``: every op and width equally likely, whatever the architecture parameters say (SPOS's weight
    training: the shared weights do not follow the search's current favourites).
    ``end``: ``"largest"`` or ``"smallest"`` fixes every layer to its op with the most (fewest) weights at its
    widest (narrowest) width, whatever the other fields say: the two ends of the sandwich rule's path set."""

    tau: float = 5.0
    ops: str = "soft"
    hard_width: bool = False
    uniform: bool = False
    end: str | None = None


PICK = {"largest": max, "smallest": min}  # Sampling.end -> how each choice is picked


class MixedLayer(nn.Module):
    """One searchable layer. Every candidate op is built at the maximum input and output width; the output is
    the sampled op's (or the Gumbel-weighted sum of all), multiplied by a sampled width mask (or the
    Gumbel-weighted mixture of all): ``Sampling`` says which.

    So that a sub-network equals the child the search derives (same function, sliced weights), the layer
    also takes the distribution ``w_in`` over its input widths (the previous layer's sampled width weights) and
    hands it, with the output width's, to an op that ``SharesWidths`` (a hidden width that follows the input
    width, a residual that exists only where the widths match: Fused-MBConv's)."""

    def __init__(self, layer: LayerCandidates):
        super().__init__()
        self.ops_names = [t.name for t in layer.ops]
        self.cin, self.cout = max(layer.in_widths), max(layer.out_widths)
        self.candidates = nn.ModuleList(
            [layer.instantiate(t, self.cin, self.cout).build_module().train() for t in layer.ops]
        )
        for op in self.candidates:
            if isinstance(op, SharesWidths):
                op.share_widths(layer.in_widths, layer.out_widths)
        self.n_in = len(layer.in_widths)
        self.widths = layer.out_widths
        weights = [sum(p.numel() for p in op.parameters()) for op in self.candidates]
        # (op, width) index of the largest and the smallest child
        self.ends = {
            end: (weights.index(pick(weights)), self.widths.index(pick(self.widths))) for end, pick in PICK.items()
        }
        self.alpha_op = nn.Parameter(torch.zeros(len(layer.ops)))
        self.alpha_width = nn.Parameter(torch.zeros(len(layer.out_widths)))
        self.register_buffer("masks", width_masks(layer.out_widths))

    def forward(
        self, x: torch.Tensor, how: Sampling, w_in: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the output and the sampled width weights (the next layer's ``w_in``)."""
        if w_in is None:
            w_in = torch.ones(self.n_in, device=x.device) / self.n_in
        if how.end is not None:
            op, width = self.ends[how.end]
            alpha_op, alpha_width = _certain(self.alpha_op, op), _certain(self.alpha_width, width)
        elif how.uniform:
            alpha_op, alpha_width = torch.zeros_like(self.alpha_op), torch.zeros_like(self.alpha_width)
        else:
            alpha_op, alpha_width = self.alpha_op, self.alpha_width
        w_width = F.gumbel_softmax(alpha_width, tau=how.tau, hard=how.hard_width)
        run = partial(self._run, x=x, w_in=w_in, w_out=w_width)
        if how.ops == "gates" and len(self.candidates) > 1:
            y = self._gated_pair(run)
        elif how.ops in ("hard", "gates"):
            w_op = F.gumbel_softmax(alpha_op, tau=how.tau, hard=True)
            k = int(w_op.argmax())
            y = w_op[k] * run(k)
        else:
            w_op = F.gumbel_softmax(alpha_op, tau=how.tau)
            y = sum(w * run(k) for k, w in enumerate(w_op))
        return y * (w_width @ self.masks)[None, :, None, None], w_width

    def _run(self, k: int, x: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor) -> torch.Tensor:
        op = self.candidates[k]
        return op(x, w_in, w_out) if isinstance(op, SharesWidths) else op(x)

    def _gated_pair(self, run) -> torch.Tensor:
        pair = torch.multinomial(F.softmax(self.alpha_op.detach(), 0), 2, replacement=False)
        p = F.softmax(self.alpha_op[pair], 0)
        active = int(torch.multinomial(p.detach(), 1))
        gates = F.one_hot(torch.tensor(active), 2).to(p) + p - p.detach()  # forward 1 / 0, gradient through p
        outputs = []
        for slot, k in enumerate(pair.tolist()):
            if slot == active:
                outputs.append(run(k))
            else:
                with torch.no_grad():
                    outputs.append(run(k))
        return gates[0] * outputs[0] + gates[1] * outputs[1]


def _certain(logits: torch.Tensor, index: int, certainty: float = 1e4) -> torch.Tensor:
    """Logits (no gradient) under which ``index`` is drawn whatever the Gumbel noise."""
    out = torch.full_like(logits, -certainty).detach()
    out[index] = certainty
    return out


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

    def forward(self, x: torch.Tensor, how: Sampling) -> torch.Tensor:
        x, w = self.stem(x), None
        for layer in self.layers:
            x, w = layer(x, how, w)
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
        self.sampling = Sampling()

    def set_end(self, end: str | None) -> None:
        """Put every view at its largest or smallest resolution (``end``), or leave the policies' draws."""
        if end is not None:
            for view, policy in self.policies.items():
                choices = self.preset.resolutions[view]
                policy.current = choices.index(PICK[end](choices))

    def end_architecture(self, end: str) -> Architecture:
        """The child a pass with ``Sampling(end=end)`` after ``set_end(end)`` computes."""
        branches = []
        for b in self.branches:
            layers = tuple(
                LayerChoice(layer.ops_names[layer.ends[end][0]], layer.widths[layer.ends[end][1]]) for layer in b.layers
            )
            branches.append(BranchChoice(b.view, b.branch, layers))
        resolutions = {v: PICK[end](self.preset.resolutions[v]) for v in self.views}
        return Architecture(self.preset.space, self.preset.preset, resolutions, tuple(branches))

    def resolutions(self) -> dict[str, int]:
        return {v: self.preset.resolutions[v][self.policies[v].current] for v in self.views}

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.endswith(("alpha_op", "alpha_width", "theta"))]

    def arch_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.endswith(("alpha_op", "alpha_width"))]

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        inputs = resize_views(views, self.views, self.resolutions(), self.preset.input_height)
        out = {f"{b.view}.{b.branch}": b(inputs[b.view], self.sampling) for b in self.branches}
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

    @torch.no_grad()
    def child(self, arch: Architecture) -> ArchitectureNetwork:
        """The stand-alone network of ``arch`` with the supernet's weights: each tensor is the leading slice
        of its widest counterpart (FBNetV2's channel masking keeps the first channels). After ``select(arch)``
        the supernet computes the same function (tests/test_search.py)."""
        net = ArchitectureNetwork(arch, self.preset)
        pairs = [] if self.regressor is None else [(net.regressor, self.regressor)]
        for b, choice in zip(self.branches, arch.branches, strict=True):
            modules = list(net.branches[f"{b.view}__{b.branch}"])
            ops = [
                layer.candidates[layer.ops_names.index(c.op)] for layer, c in zip(b.layers, choice.layers, strict=True)
            ]
            pairs += [(modules[0], b.stem), *zip(modules[1 : 1 + len(ops)], ops, strict=True), (modules[-1], b.head)]
        for small, wide in pairs:
            wide_state = wide.state_dict()
            small.load_state_dict(
                {k: wide_state[k][tuple(slice(0, n) for n in v.shape)] for k, v in small.state_dict().items()}
            )
        return net

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
