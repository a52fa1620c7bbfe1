"""The expected latency of the supernet's distribution, from a LatencyTable, differentiable in every op and
width parameter."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.lut.table import LatencyTable
from hwnas.search.supernet import BranchSupernet, Supernet
from hwnas.space.declared import SpacePreset


class LatencyModel(nn.Module):
    """Expected latency of the supernet's distribution from a LatencyTable.

    Per layer and view resolution a tensor T[op, in width, out width] of op costs (``costs_ms``); the expected
    latency is sum p_op(o) p_in(i) p_out(j) T[o, i, j], with p_in the previous layer's width distribution —
    so the gradient reaches every op and width parameter. Pool and head depend on the last width; the stem
    and the latent regressor are constants of the resolution. With every choice certain it equals
    ``LatencyTable.predict_ms``: its fixed cost once plus each op's cost."""

    def __init__(self, preset: SpacePreset, table: LatencyTable):
        super().__init__()
        self.preset = preset
        self.tables: dict[tuple[str, str, int], list[torch.Tensor]] = {}
        self.heads: dict[tuple[str, str, int], torch.Tensor] = {}
        self.stems: dict[int, float] = {}
        table.require(s.key for s in preset.enumerate_ops())
        merge = preset.merge_ops()
        self.constant = table.fixed_ms + (float(table.costs_ms(merge).sum()) if merge else 0.0)
        for view, branch in preset.branches:
            for size in preset.resolutions[view]:
                self.stems[size] = float(table.costs_ms([preset.stem_op(size)])[0])
                per_layer = []
                for layer in preset.layer_candidates(size):
                    t = torch.zeros(len(layer.ops), len(layer.in_widths), len(layer.out_widths))
                    for o, template in enumerate(layer.ops):
                        for i, cin in enumerate(layer.in_widths):
                            keys = [layer.instantiate(template, cin, c) for c in layer.out_widths]
                            t[o, i] = torch.tensor(table.costs_ms(keys))
                    per_layer.append(t)
                self.tables[(view, branch, size)] = per_layer
                final = preset.final_hw(size)
                self.heads[(view, branch, size)] = torch.tensor(
                    [float(table.costs_ms(preset.head(branch, c, final)).sum()) for c in preset.layers[-1].widths]
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
        """The expected latency at given resolutions."""
        return sum(self.branch_ms(b, resolutions[b.view]) for b in branches) + self.constant

    def expected(self, net: Supernet) -> torch.Tensor:
        """The expected latency over every choice, resolutions included: each view's resolution distribution
        weighs its branches' latency at each resolution, so the gradient reaches the resolution logits too."""
        total = torch.tensor(self.constant)
        for view, policy in net.policies.items():
            p_res = F.softmax(policy.theta, 0)
            branches = [b for b in net.branches if b.view == view]
            for r, size in enumerate(self.preset.resolutions[view]):
                total = total + p_res[r] * sum(self.branch_ms(b, size) for b in branches)
        return total
